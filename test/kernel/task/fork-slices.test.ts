// fork's copy of the address space in slices (kernel/mm/mmap.ts dupMmapSliced, memory.ts
// copyPageRange; issue 19: no request holds the machine): other processes are served
// while a big fork copies, the forking process's other threads wait for its mm as for
// mmap_lock, a SIGKILL between slices leaves no half-built child and no frame behind, the
// result in slices is the result in one go, and reclaim between slices finds every
// structure consistent. Ordering and counters, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, slicedAndWhole } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
  expect(h.k.swap?.inuse ?? 0).toBe(0);
});

function boot(slicePages: number, memBytes = 128 << 20, swapBytes = 0): Thread {
  h = new KernelHarness({ memBytes, slicePages, swapBytes, validate: 16 });
  h.k.thp.policy = 'never'; // a PTE per page: slices count pages
  return h.spawn();
}

/** `pages` pages of t written, each with its index in its first bytes: the address. */
function written(t: Thread, pages: number): number {
  const x = h.call(t, U.SYS_mmap, 0, pages * P, RW, ANON | U.MAP_POPULATE, -1, 0);
  for (let i = 0; i < pages; i++) expect(copyToUser(h.k, t.proc.mm, x + i * P, Uint8Array.of(i & 0xff, i >> 8), -1)).toBe(0);
  return x;
}

/** Serve the kernel loop's turns until t's call is answered: the turns it took. */
function turnsUntilAnswered(t: Thread, between: () => void = () => {}): number {
  let turns = 0;
  while (h.answer(t).kind === 'blocked') {
    between();
    h.serveRound();
    turns++;
  }
  return turns;
}

const childOf = (pid: number): Thread => h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;

describe('fork copies in slices', () => {
  it('another process\'s getpid is answered while a fork of 8,192 written pages copies; the forker\'s siblings wait for its mm, their gettid does not', () => {
    const a = boot(64);
    const b = h.spawn();
    const [s1, s2] = [h.thread(a), h.thread(a)];
    const x = written(a, 8192);
    const d = h.cloneDesc(a);
    const yields = h.k.slice.yields;
    expect(h.startSyscall(a, U.SYS_clone, U.FORK_FLAGS, ...d)).toEqual({ kind: 'blocked' });
    expect(a.sliced).not.toBeNull();
    expect(h.startSyscall(b, U.SYS_getpid)).toEqual({ kind: 'return', value: b.proc.pid });
    expect(h.startSyscall(s1, U.SYS_munmap, x, P)).toEqual({ kind: 'blocked' }); // mmap_lock for write
    expect(h.startSyscall(s2, U.SYS_gettid)).toEqual({ kind: 'return', value: s2.tid });
    expect(h.fault(s2, x + P, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'blocked' }); // a fault takes it for read
    const turns = turnsUntilAnswered(a);
    // A piece is a page table's span (slice_range.ts): 16 full tables of 512 PTEs, each
    // over a 64-page budget, so a slice each.
    expect(turns).toBeGreaterThanOrEqual(15);
    expect(h.k.slice.yields - yields).toBeGreaterThanOrEqual(turns);
    const r = h.answer(a);
    expect(r.kind === 'return' && r.value > 0).toBe(true);
    const child = childOf((r as { value: number }).value);
    // The child has every page the parent had when it forked; the sibling's munmap and
    // fault went on after it.
    for (const i of [0, 1, 4095, 8191]) expect(leafWord(h.k, child.proc.mm, x + i * P)?.pfn).toBeDefined();
    const firstPfn = leafWord(h.k, child.proc.mm, x)!.pfn;
    h.serveRound();
    expect(h.answer(s1)).toEqual({ kind: 'return', value: 0 });
    expect(h.answer(s2)).toEqual({ kind: 'return', value: 0 });
    expect(leafWord(h.k, a.proc.mm, x)).toBeNull();
    expect(leafWord(h.k, child.proc.mm, x)!.pfn).toBe(firstPfn);
    // The sibling's write after the fork copied its page; the child's is the original.
    expect(leafWord(h.k, a.proc.mm, x + P)!.pfn).not.toBe(leafWord(h.k, child.proc.mm, x + P)!.pfn);
    expect((copyFromUser(h.k, child.proc.mm, x + 4095 * P, 2, -1) as Uint8Array)[0]).toBe(4095 & 0xff);
    expect(a.proc.mm.slicedCpu).toBe(-1);
  });

  it('SIGKILL between slices: no child, its CPU given back, and the copy so far freed in slices while another process keeps the mm', () => {
    const a = boot(64);
    const b = h.spawn();
    const x = written(a, 8192);
    // c shares a's address space (clone(CLONE_VM) as a process), so the mm outlives a.
    const cva = h.cloneDesc(a);
    const c = h.call(a, U.SYS_clone, U.CLONE_VM | U.FORK_FLAGS, ...cva);
    expect(c).toBeGreaterThan(0);
    const pids = [...h.kernel.tasks.procs.keys()];
    const cpus = [...h.kernel.activeCpus()].length;
    expect(h.startSyscall(a, U.SYS_clone, U.FORK_FLAGS, ...h.cloneDesc(a))).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 3; i++) h.serveRound();
    expect(a.sliced).not.toBeNull();
    const mapped = h.k.pages.mapcount[leafWord(h.k, a.proc.mm, x)!.pfn];
    expect(mapped).toBe(2); // the first page is copied to the half-built child
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    h.serveRound();
    expect(a.proc.state).toBe('zombie');
    for (const pid of h.kernel.tasks.procs.keys()) expect(pids).toContain(pid); // no child
    expect([...h.kernel.activeCpus()].length).toBe(cpus - 1);
    const survivor = childOf(c);
    expect(survivor.proc.mm).toBe(a.proc.mm);
    expect(survivor.proc.mm.slicedCpu).toBe(-1);
    validateMm(h.k, survivor.proc.mm);
    // The copy goes back in slices of its own (Kernel.tick's background work), other
    // processes' requests served between them.
    const slices = h.roundsWithGetpid(() => h.k.slice.background.length > 0, b);
    expect(slices).toBeGreaterThan(1);
    for (let i = 0; i < 8192; i += 511) expect(h.k.pages.mapcount[leafWord(h.k, survivor.proc.mm, x + i * P)!.pfn]).toBe(1);
    // The survivor can fork again, in slices, to the end.
    const r = h.syscall(survivor, U.SYS_clone, U.FORK_FLAGS, ...h.cloneDesc(survivor));
    expect(r.kind === 'return' && r.value > 0).toBe(true);
  });

  it('another fork takes the last process slot between the slices: EAGAIN, and the finished copy goes back in slices', () => {
    h = new KernelHarness({ memBytes: 64 << 20, slicePages: 64, validate: 8, maxProcs: 3 });
    const a = h.spawn();
    const b = h.spawn();
    written(a, 8192);
    expect(h.startSyscall(a, U.SYS_clone, U.FORK_FLAGS, ...h.cloneDesc(a))).toEqual({ kind: 'blocked' });
    h.serveRound();
    const c = h.call(b, U.SYS_clone, U.FORK_FLAGS, ...h.cloneDesc(b)); // the third process
    expect(c).toBeGreaterThan(0);
    while (h.answer(a).kind === 'blocked') h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'return', value: -U.EAGAIN });
    const slices = h.roundsWithGetpid(() => h.k.slice.background.length > 0, b);
    expect(slices).toBeGreaterThan(1); // and afterEach finds every frame back
  });

  it('exit_group from a sibling thread ends the fork at a slice boundary and frees everything', () => {
    const a = boot(32);
    const sib = h.thread(a);
    written(a, 2048);
    const d = h.cloneDesc(a);
    const pids = [...h.kernel.tasks.procs.keys()];
    expect(h.startSyscall(a, U.SYS_clone, U.FORK_FLAGS, ...d)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(h.startSyscall(sib, U.SYS_exit_group, 3)).toEqual({ kind: 'exit' });
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    h.serveRound();
    expect(a.proc.state).not.toBe('live');
    for (const pid of h.kernel.tasks.procs.keys()) expect(pids).toContain(pid); // no child
  });
});

/**
 * A process with pages of every kind forks (slices of `slicePages`): the parent's and the
 * child's address spaces (smaps, every PTE), then free frames and swap slots in use.
 */
function program(slicePages: number): string[] {
  const a = boot(slicePages, 128 << 20, 64 << 20);
  h.k.thp.policy = 'madvise';
  const x = written(a, 600);
  expect(h.call(a, U.SYS_munmap, x + 100 * P, 50 * P)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x + 300 * P, 40 * P, U.MADV_PAGEOUT)).toBe(0); // swap entries
  expect(h.call(a, U.SYS_madvise, x + 400 * P, 3 * P, U.MADV_GUARD_INSTALL)).toBe(0);
  const y = h.call(a, U.SYS_mmap, 0, 8 << 20, RW, ANON, -1, 0);
  expect(h.call(a, U.SYS_madvise, y, 8 << 20, U.MADV_HUGEPAGE)).toBe(0);
  expect(h.call(a, U.SYS_madvise, y + 3 * P, 5 << 20, U.MADV_POPULATE_WRITE)).toBe(0); // THPs and pages
  const z = h.call(a, U.SYS_mmap, 0, 300 * P, U.PROT_READ, ANON | U.MAP_POPULATE, -1, 0); // the zero page
  const s = h.call(a, U.SYS_mmap, 0, 200 * P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_POPULATE, -1, 0);
  expect(h.call(a, U.SYS_madvise, z + 10 * P, 10 * P, U.MADV_DONTFORK)).toBe(0);
  expect(h.call(a, U.SYS_madvise, s, 20 * P, U.MADV_WIPEONFORK)).toBe(-U.EINVAL); // shared: refused, as in Linux
  const d = h.cloneDesc(a);
  const r = h.syscall(a, U.SYS_clone, U.FORK_FLAGS, ...d);
  if (r.kind !== 'return' || r.value <= 0) throw new Error(`fork: ${JSON.stringify(r)}`);
  const child = childOf(r.value);
  validateMm(h.k, a.proc.mm);
  validateMm(h.k, child.proc.mm);
  return [...h.addressSpace(a), ...h.addressSpace(child), `free ${h.k.pages.nrFree}`, `swap ${h.k.swap!.inuse}`];
}

describe('a fork in slices has the result of the fork in one go', () => {
  it('pages, swap entries, guard markers, THPs, the zero page, shared memory and MADV_DONTFORK: both address spaces, free frames and swap alike with 1-page slices', () => {
    const r = slicedAndWhole(program, () => h);
    expect(r.leaked).toBe(0);
    expect(r.yields).toBeGreaterThan(100);
    expect(r.wholeYields).toBe(0);
    expect(r.sliced).toEqual(r.whole);
  });
});

describe('reclaim between a fork\'s slices', () => {
  it('swap-out of the parent\'s pages while the child is half built: both address spaces validate and the child reads every page the parent wrote', () => {
    const a = boot(16, 24 << 20, 64 << 20);
    const b = h.spawn();
    const x = written(a, 3072);
    const d = h.cloneDesc(a);
    const hog = h.call(b, U.SYS_mmap, 0, 3072 * P, RW, ANON, -1, 0);
    let touched = 0;
    const swapped0 = h.k.swap!.inuse;
    expect(h.startSyscall(a, U.SYS_clone, U.FORK_FLAGS, ...d)).toEqual({ kind: 'blocked' });
    // Between slices the other process writes its memory a few pages at a time, so
    // reclaim (direct and kswapd) takes pages of the parent and of the half-built child.
    turnsUntilAnswered(a, () => {
      for (let i = 0; i < 600 && touched < 3072; i++, touched++) expect(h.fault(b, hog + touched * P, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
      h.kernel.tick();
    });
    expect(h.k.swap!.inuse).toBeGreaterThan(swapped0);
    const r = h.answer(a);
    if (r.kind !== 'return' || r.value <= 0) throw new Error(`fork: ${JSON.stringify(r)}`);
    const child = childOf(r.value);
    validateMm(h.k, a.proc.mm);
    validateMm(h.k, child.proc.mm);
    expect(h.syscall(b, U.SYS_exit_group, 0)).toEqual({ kind: 'exit' }); // room to swap in
    h.pump();
    for (let i = 0; i < 3072; i++) {
      const got = copyFromUser(h.k, child.proc.mm, x + i * P, 2, child.cpu);
      if (typeof got === 'number') throw new Error(`page ${i}: ${got}, free ${h.k.pages.nrFree}`);
      expect([got[0], got[1]]).toEqual([i & 0xff, i >> 8]);
    }
  });
});
