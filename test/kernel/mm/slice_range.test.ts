// Range operations in slices (kernel/mm/slice_range.ts): munmap, mprotect, munlock,
// munlockall and MADV_DONTNEED, FREE, COLD and PAGEOUT zap, rewrite or walk a page
// table's span at a time. Another process's request is answered between slices, a kill at a slice boundary leaves no frame behind, the
// result in slices is the one in one go, and the mm's other threads wait (mmap_lock).
// Ordering and counters, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { procSmaps } from '../../../kernel/fs/proc/task_mmu.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Process, Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { pieceCost } from '../../../kernel/mm/slice_range.ts';
import { KernelHarness, slicedAndWhole } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
/** 2^24 bytes: 4,096 pages, 8 page tables' spans. */
const LEN = 2 ** 24;
/** A page table's span. */
const SPAN = 2 ** 21;
/** The sparse address spaces' page tables, and the slice budget they are run with (the default). */
const N_SPARSE = 512;
const BUDGET = 256;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

function boot(slicePages: number, memBytes = 64 << 20, validate = 1): Thread {
  h = new KernelHarness({ memBytes, slicePages, validate });
  return h.spawn();
}

/** LEN bytes of t's memory written (frames, not the zero page), inside a 2^40-byte mapping: its address. */
function populated(t: Thread): number {
  const va = h.call(t, U.SYS_mmap, 0, 2 ** 40, RW, ANON | U.MAP_NORESERVE, -1, 0);
  expect(h.call(t, U.SYS_madvise, va + 2 ** 39, LEN, U.MADV_POPULATE_WRITE)).toBe(0);
  return va;
}

/** The range calls in slices, over the 2^40-byte mapping with LEN bytes written. */
const RANGE_CALLS: [string, (va: number, t: Thread) => number[]][] = [
  ['munmap', (va) => [U.SYS_munmap, va, 2 ** 40]],
  ['mprotect PROT_READ', (va) => [U.SYS_mprotect, va, 2 ** 40, U.PROT_READ]],
  ['mprotect PROT_NONE', (va) => [U.SYS_mprotect, va, 2 ** 40, U.PROT_NONE]],
  ['madvise MADV_DONTNEED', (va) => [U.SYS_madvise, va, 2 ** 40, U.MADV_DONTNEED]],
  ['madvise MADV_FREE', (va) => [U.SYS_madvise, va, 2 ** 40, U.MADV_FREE]],
  ['madvise MADV_COLD', (va) => [U.SYS_madvise, va, 2 ** 40, U.MADV_COLD]],
  ['madvise MADV_PAGEOUT', (va) => [U.SYS_madvise, va, 2 ** 40, U.MADV_PAGEOUT]],
  ['munlock', (va, t) => {
    expect(h.call(t, U.SYS_mlock, va + 2 ** 39, LEN)).toBe(0);
    return [U.SYS_munlock, va, 2 ** 40];
  }],
  ['munlockall', (va, t) => {
    expect(h.call(t, U.SYS_mlock, va + 2 ** 39, LEN)).toBe(0);
    return [U.SYS_munlockall];
  }],
  ['madvise MADV_GUARD_INSTALL (of the written part)', (va) => [U.SYS_madvise, va + 2 ** 39, LEN, U.MADV_GUARD_INSTALL]],
  ['madvise MADV_GUARD_REMOVE', (va, t) => {
    expect(h.call(t, U.SYS_madvise, va + 2 ** 39, LEN, U.MADV_GUARD_INSTALL)).toBe(0);
    return [U.SYS_madvise, va, 2 ** 40, U.MADV_GUARD_REMOVE];
  }],
];

describe('a range call runs in slices', () => {
  it.each(RANGE_CALLS)('%s of 2^40 bytes: another process\'s getpid is answered between its slices', (_name, args) => {
    const a = boot(64);
    const b = h.spawn();
    const [nr, ...rest] = args(populated(a), a);
    const yields = h.k.slice.yields;
    expect(h.startSyscall(a, nr!, ...rest)).toEqual({ kind: 'blocked' });
    let turns = 0;
    while (h.answer(a).kind === 'blocked') {
      expect(h.startSyscall(b, U.SYS_getpid)).toEqual({ kind: 'return', value: b.proc.pid });
      validateMm(h.k, a.proc.mm); // consistent at every slice boundary
      h.kernel.serveCpu(a.cpu);
      h.pump();
      turns++;
    }
    expect(h.answer(a)).toEqual({ kind: 'return', value: 0 });
    // 8 page tables' spans, one a slice (a span is 512 pages, over the 64-page budget).
    expect(turns).toBe(7);
    expect(h.k.slice.yields - yields).toBe(7);
    expect(a.proc.mm.slicedCpu).toBe(-1);
    if (nr === U.SYS_munmap) expect(a.proc.mm.rss()).toBe(0);
  });

  it('mmap MAP_FIXED over 2^40 bytes with pages: the old PTEs go in slices, then the new mapping replaces the old; a kill between slices does the rest at once', () => {
    const a = boot(64);
    const b = h.spawn();
    const va = populated(a);
    const rss = a.proc.mm.rssAnon;
    expect(h.startSyscall(a, U.SYS_mmap, va, 2 ** 40, U.PROT_READ, ANON | U.MAP_FIXED | U.MAP_NORESERVE, -1, 0)).toEqual({ kind: 'blocked' });
    expect(a.proc.mm.rssAnon).toBe(rss - 512);
    let turns = 0;
    while (h.answer(a).kind === 'blocked') {
      expect(h.startSyscall(b, U.SYS_getpid)).toEqual({ kind: 'return', value: b.proc.pid });
      validateMm(h.k, a.proc.mm);
      h.serveRound();
      turns++;
    }
    expect(turns).toBe(7);
    expect(h.answer(a)).toEqual({ kind: 'return', value: va });
    expect(a.proc.mm.rssAnon).toBe(0);
    expect(a.proc.mm.vmas.find(va)!.flags & 0xf).toBe(1); // VM_READ: the new mapping
  });

  it('mmap MAP_FIXED killed between slices, its mm shared with a clone(CLONE_VM) process: the old PTEs are cleared and the new mapping put in place all the same', () => {
    const a = boot(64);
    const va = populated(a);
    const c = cloneVm(a);
    expect(h.startSyscall(a, U.SYS_mmap, va, 2 ** 40, U.PROT_READ, ANON | U.MAP_FIXED | U.MAP_NORESERVE, -1, 0)).toEqual({ kind: 'blocked' });
    h.serveRound();
    killAndReap(a);
    validateMm(h.k, c.mm);
    expect(c.mm.vmas.find(va + 2 ** 39)!.flags & 0xf).toBe(1);
    expect(c.mm.rssAnon).toBe(0);
  });

  it('munmap takes the VMAs out first: /proc/pid/maps no longer shows them between slices, the RSS goes down a piece at a time', () => {
    const a = boot(64);
    const va = populated(a);
    const rss = a.proc.mm.rssAnon;
    expect(h.startSyscall(a, U.SYS_munmap, va, 2 ** 40)).toEqual({ kind: 'blocked' });
    expect(a.proc.mm.vmas.find(va + 2 ** 39)).toBeNull();
    expect(procSmaps(h.k, a.proc.mm)).not.toContain(`${va.toString(16)}-`);
    expect(a.proc.mm.rssAnon).toBe(rss - 512);
    expect(a.proc.mm.unmapping.length).toBe(1);
    h.runToEnd(a);
    expect(a.proc.mm.unmapping.length).toBe(0);
  });

  it.each([
    ['a fault in the range', (sib: Thread, va: number) => h.fault(sib, va + 2 ** 39, X86_PF_USER | X86_PF_WRITE), 'exit'],
    ['an mmap', (sib: Thread) => h.startSyscall(sib, U.SYS_mmap, 0, P, RW, ANON, -1, 0), 'return'],
  ])('holds its mm as mmap_lock does: a sibling thread\'s %s waits for the munmap', (_name, request, after) => {
    const a = boot(64);
    const sib = h.thread(a);
    const va = populated(a);
    expect(h.startSyscall(a, U.SYS_munmap, va, 2 ** 40)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(sib, U.SYS_gettid)).toEqual({ kind: 'return', value: sib.tid });
    expect(request(sib, va)).toEqual({ kind: 'blocked' });
    while (h.answer(a).kind === 'blocked') {
      expect(h.answer(sib)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    h.serveRound();
    // The fault finds no mapping once the munmap is over: SIGSEGV, unhandled, ends the process.
    expect(h.answer(sib).kind).toBe(after);
  });
});

/** n page tables' spans of t's memory with one page written in each: the mapping's address. */
function sparse(t: Thread, n: number): number {
  const va = h.call(t, U.SYS_mmap, 0, n * SPAN, RW, ANON | U.MAP_NORESERVE, -1, 0);
  for (let i = 0; i < n; i++) expect(h.call(t, U.SYS_madvise, va + i * SPAN + 7 * P, P, U.MADV_POPULATE_WRITE)).toBe(0);
  return va;
}

describe('a piece is charged for the work it did, not for its span', () => {
  /** Sparse: each table holds one page, a piece costs pieceCost(one span, 1), a few dozen of them a slice. */
  const SPARSE_CALLS: [string, (va: number) => number[]][] = [
    ['mlockall(MCL_CURRENT | MCL_ONFAULT)', () => [U.SYS_mlockall, U.MCL_CURRENT | U.MCL_ONFAULT]],
    ['munmap', (va) => [U.SYS_munmap, va, N_SPARSE * SPAN]],
    ['mprotect PROT_READ', (va) => [U.SYS_mprotect, va, N_SPARSE * SPAN, U.PROT_READ]],
    ['madvise MADV_DONTNEED', (va) => [U.SYS_madvise, va, N_SPARSE * SPAN, U.MADV_DONTNEED]],
    ['madvise MADV_COLD', (va) => [U.SYS_madvise, va, N_SPARSE * SPAN, U.MADV_COLD]],
  ];
  it.each(SPARSE_CALLS)('%s over page tables with one page each takes a slice per few dozen tables, not one per table', (_name, args) => {
    const a = boot(BUDGET, 128 << 20, 0); // validated at the end: every request's check of 512 tables is slow
    const va = sparse(a, N_SPARSE);
    const perSlice = Math.floor(BUDGET / pieceCost(0, SPAN, 1)); // whole pieces a slice holds before the one that ends it
    const yields = h.k.slice.yields;
    const [nr, ...rest] = args(va);
    expect(h.syscall(a, nr!, ...rest)).toEqual({ kind: 'return', value: 0 });
    const taken = h.k.slice.yields - yields;
    expect(taken).toBeGreaterThan(0); // still in slices
    expect(taken).toBeLessThanOrEqual(Math.ceil(N_SPARSE / perSlice));
    expect(taken).toBeLessThan(N_SPARSE / 10);
    validateMm(h.k, a.proc.mm);
  });

  it('tables with no entry at all (left by MADV_DONTNEED) cost only their scan', () => {
    const a = boot(BUDGET, 128 << 20, 0); // validated at the end: every request's check of 512 tables is slow
    const va = sparse(a, N_SPARSE);
    expect(h.call(a, U.SYS_madvise, va, N_SPARSE * SPAN, U.MADV_DONTNEED)).toBe(0);
    expect(a.proc.mm.ptePages).toBeGreaterThan(N_SPARSE); // the empty tables stay
    const yields = h.k.slice.yields;
    expect(h.call(a, U.SYS_mlockall, U.MCL_CURRENT | U.MCL_ONFAULT)).toBe(0);
    expect(h.k.slice.yields - yields).toBeLessThanOrEqual(Math.ceil((N_SPARSE * pieceCost(0, SPAN, 0)) / BUDGET));
    validateMm(h.k, a.proc.mm);
  });

  it.each([
    ['munmap', (va: number) => [U.SYS_munmap, va, 2 ** 40]],
    ['mprotect PROT_READ', (va: number) => [U.SYS_mprotect, va, 2 ** 40, U.PROT_READ]],
    ['madvise MADV_DONTNEED', (va: number) => [U.SYS_madvise, va, 2 ** 40, U.MADV_DONTNEED]],
  ])('%s of a fully populated range still yields at every budget\'s worth of pages', (_name, args) => {
    const budget = 1024;
    const a = boot(budget);
    const [nr, ...rest] = args(populated(a));
    const yields = h.k.slice.yields;
    expect(h.syscall(a, nr!, ...rest)).toEqual({ kind: 'return', value: 0 });
    // LEN / P pages of work at `budget` a slice, each slice ending at the piece that spends it.
    expect(h.k.slice.yields - yields).toBe(Math.ceil((LEN / SPAN) / Math.ceil(budget / pieceCost(0, SPAN, SPAN / P))) - 1);
    expect(h.k.slice.yields - yields).toBeGreaterThanOrEqual(LEN / P / budget - 1);
  });
});

describe('a kill at a slice boundary', () => {
  it.each(RANGE_CALLS)('%s: SIGKILL from another process between slices; nothing is left behind', (_name, args) => {
    const a = boot(64);
    const b = h.spawn();
    const [nr, ...rest] = args(populated(a), a);
    expect(h.startSyscall(a, nr!, ...rest)).toEqual({ kind: 'blocked' });
    h.serveRound();
    h.serveRound();
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    expect(a.proc.mm.unmapping.length).toBe(0);
    h.serveRound();
    h.finishExits(); // its address space is torn down in slices (task/exit.ts)
    expect(a.proc.state).toBe('zombie'); // and afterEach finds no frame missing
  });

  it('munmap of memory shared with a clone(CLONE_VM) process, killed between slices: the survivor\'s mm validates and the range is gone', () => {
    const a = boot(64);
    const va = populated(a);
    const c = cloneVm(a);
    expect(h.startSyscall(a, U.SYS_munmap, va, 2 ** 40)).toEqual({ kind: 'blocked' });
    h.serveRound();
    killAndReap(a);
    validateMm(h.k, c.mm);
    expect(c.mm.vmas.find(va + 2 ** 39)).toBeNull();
    expect(c.mm.rssAnon).toBe(0);
  });
});

/** A clone(CLONE_VM) process of t's (sharing its mm, running the guest's `child`). */
function cloneVm(t: Thread): Process {
  const bytes = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'child', arg: null }));
  const at = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
  expect(copyToUser(h.k, t.proc.mm, at, bytes, -1)).toBe(0);
  const pid = h.call(t, U.SYS_clone, U.CLONE_VM | U.SIGCHLD, at, bytes.length);
  expect(pid).toBeGreaterThan(0);
  const c = h.kernel.tasks.procs.get(pid)!;
  expect(c.mm).toBe(t.proc.mm);
  return c;
}

function killAndReap(t: Thread): void {
  h.kernel.signal(t.proc, U.SIGKILL);
  h.pump();
  h.serveRound();
}

/** The same program with slices of `slicePages`: each VMA's smaps, every PTE, free frames. */
function program(slicePages: number): string[] {
  const a = boot(slicePages, 128 << 20);
  const out: string[] = [];
  const x = h.call(a, U.SYS_mmap, 0, 64 << 20, RW, ANON, -1, 0);
  expect(h.call(a, U.SYS_madvise, x, 64 << 20, U.MADV_HUGEPAGE)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x + 5 * P, 20 << 20, U.MADV_POPULATE_WRITE)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x + (1 << 20), 3 << 20, U.MADV_DONTNEED)).toBe(0); // splits a THP at each end
  expect(h.call(a, U.SYS_madvise, x + (6 << 20), 4 << 20, U.MADV_FREE)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x + (10 << 20), 3 << 20, U.MADV_COLD)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x + (13 << 20) + 7 * P, 3 << 20, U.MADV_PAGEOUT)).toBe(0);
  expect(h.call(a, U.SYS_munmap, x + (16 << 20) + 3 * P, 5 << 20)).toBe(0);
  expect(h.call(a, U.SYS_mprotect, x + (5 << 20) + 9 * P, 9 << 20, U.PROT_READ)).toBe(0); // splits THPs at the ends
  expect(h.call(a, U.SYS_mprotect, x + (7 << 20), 2 << 20, U.PROT_NONE)).toBe(0);
  expect(h.call(a, U.SYS_mprotect, x + (5 << 20), 3 << 20, RW)).toBe(0);
  expect(h.call(a, U.SYS_mlock, x + (2 << 20), 2 << 20)).toBe(0);
  expect(h.call(a, U.SYS_munmap, x, 3 << 20)).toBe(0); // half of the locked VMA: munlocked first
  expect(h.call(a, U.SYS_mlock, x + (9 << 20), 7 << 20)).toBe(0);
  expect(h.call(a, U.SYS_munlock, x + (11 << 20) + 5 * P, 3 << 20)).toBe(0);
  expect(h.call(a, U.SYS_mlockall, U.MCL_CURRENT)).toBe(0);
  expect(h.call(a, U.SYS_munlockall)).toBe(0);
  expect(h.call(a, U.SYS_mlock, x + (3 << 20), 2 << 20)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x + (3 << 20), 2 << 20, U.MADV_DONTNEED)).toBe(-U.EINVAL); // locked
  expect(h.call(a, U.SYS_madvise, x + (3 << 20) + 3 * P, 1 << 20, U.MADV_GUARD_INSTALL)).toBe(-U.EINVAL); // locked
  expect(h.call(a, U.SYS_munlockall)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x + (5 << 20) + 3 * P, 9 << 20, U.MADV_GUARD_INSTALL)).toBe(0); // zaps pages and THPs first
  expect(h.call(a, U.SYS_madvise, x + (8 << 20), 3 << 20, U.MADV_GUARD_REMOVE)).toBe(0);
  expect(h.call(a, U.SYS_mmap, x + (4 << 20) + 5 * P, 7 << 20, RW, ANON | U.MAP_FIXED | U.MAP_POPULATE, -1, 0)).toBe(x + (4 << 20) + 5 * P);
  out.push(...h.addressSpace(a));
  out.push(`free ${h.k.pages.nrFree} rss ${a.proc.mm.rss()} tables ${a.proc.mm.ptePages}`);
  out.push(JSON.stringify(h.k.events));
  return out;
}

describe('a range call in slices has the result of the call in one go', () => {
  it('munmap, mprotect, munlock(all) and MADV_DONTNEED/FREE/COLD/PAGEOUT over THPs and pages: smaps, every PTE, free frames alike with 1-page slices', () => {
    const r = slicedAndWhole(program, () => h);
    expect(r.leaked).toBe(0);
    expect(r.wholeYields).toBe(0);
    expect(r.yields).toBeGreaterThan(20);
    expect(r.sliced).toEqual(r.whole);
  });
});
