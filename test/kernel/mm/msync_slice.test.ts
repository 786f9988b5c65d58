// msync in slices (kernel/mm/msync.ts): over a written memfd mapping cut into thousands of
// VMAs, another process's getpid is answered between slices, the caller's sibling threads
// fault between them (mmap_lock held for read) while their munmap waits, a SIGKILL between
// slices leaves a valid mm and no frame behind, and the results in slices are the ones in
// one go. tmpfs has nothing to write back: the work is the walk over the VMAs.

import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, slicedAndWhole } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
/** The memfd mapping: 2^24 bytes, every page written, every other page made read-only (4,096 VMAs). */
const LEN = 2 ** 24;
const VMAS = LEN / P;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

function boot(slicePages: number): Thread {
  h = new KernelHarness({ memBytes: 64 << 20, slicePages, validate: 64 });
  return h.spawn();
}

/** A MAP_SHARED mapping of a LEN-byte memfd of t's, every page written, cut into VMAS VMAs: its address. */
function dirtyMemfd(t: Thread): number {
  const name = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  expect(copyToUser(h.k, t.proc.mm, name, new TextEncoder().encode('m\0'), -1)).toBe(0);
  const fd = h.call(t, U.SYS_memfd_create, name, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  expect(h.call(t, U.SYS_ftruncate, fd, LEN)).toBe(0);
  const va = h.call(t, U.SYS_mmap, 0, LEN, RW, U.MAP_SHARED, fd, 0);
  expect(h.call(t, U.SYS_close, fd)).toBe(0);
  expect(h.call(t, U.SYS_madvise, va, LEN, U.MADV_POPULATE_WRITE)).toBe(0);
  for (let i = 0; i < VMAS; i += 2) expect(h.call(t, U.SYS_mprotect, va + i * P, P, U.PROT_READ)).toBe(0);
  return va;
}

describe('msync runs in slices', () => {
  it.each([
    ['MS_SYNC', U.MS_SYNC],
    ['MS_ASYNC', U.MS_ASYNC],
    ['MS_INVALIDATE', U.MS_INVALIDATE],
  ])('%s over 4,096 VMAs of a written memfd mapping: another process\'s getpid is answered between slices', (_name, flags) => {
    const a = boot(64);
    const b = h.spawn();
    const va = dirtyMemfd(a);
    const yields = h.k.slice.yields;
    expect(h.startSyscall(a, U.SYS_msync, va, LEN, flags)).toEqual({ kind: 'blocked' });
    const turns = h.roundsWithGetpid(() => h.answer(a).kind === 'blocked', b);
    expect(h.answer(a)).toEqual({ kind: 'return', value: 0 });
    expect(turns).toBe(Math.ceil(VMAS / 64) - 1); // a VMA a unit, 64 a slice
    expect(h.k.slice.yields - yields).toBe(turns);
    expect(a.proc.mm.slicedCpu).toBe(-1);
  });

  it('holds mmap_lock for read: a sibling\'s page faults are served between its slices, the sibling\'s munmap waits for it', () => {
    const a = boot(64);
    const sib = h.thread(a);
    const heap = h.call(a, U.SYS_mmap, 0, 16 * P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const va = dirtyMemfd(a);
    expect(h.startSyscall(a, U.SYS_msync, va, LEN, U.MS_SYNC)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 16; i++) {
      expect(h.fault(sib, heap + i * P, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
      expect(h.answer(a)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    expect(h.startSyscall(sib, U.SYS_munmap, heap, P)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(h.spawn(), U.SYS_getpid).kind).toBe('return');
    while (h.answer(a).kind === 'blocked') {
      expect(h.answer(sib)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    expect(h.answer(a)).toEqual({ kind: 'return', value: 0 });
    h.serveRound();
    expect(h.answer(sib)).toEqual({ kind: 'return', value: 0 });
  });

  it('SIGKILL from another process between slices ends it: the mm validates to the end, no frame is left (the memfd goes with the process)', () => {
    const a = boot(64);
    const b = h.spawn();
    const va = dirtyMemfd(a);
    expect(h.startSyscall(a, U.SYS_msync, va, LEN, U.MS_SYNC)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 10; i++) h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    validateMm(h.k, a.proc.mm);
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    expect(a.sliced).toBeNull();
    expect(a.proc.mm.slicedCpu).toBe(-1);
    h.serveRound();
    h.finishExits(); // its address space's teardown (exit_mmap.ts), in slices
    expect(a.proc.state).toBe('zombie'); // and afterEach finds no frame missing
  });
});

/** The same msyncs with slices of `slicePages`: their results, then the address space and free frames. */
function program(slicePages: number): string[] {
  const a = boot(slicePages);
  const va = dirtyMemfd(a);
  expect(h.call(a, U.SYS_munmap, va + (VMAS - 40) * P, 3 * P)).toBe(0); // a hole near the end
  expect(h.call(a, U.SYS_mlock, va + (VMAS - 20) * P, 4 * P)).toBe(0);
  const out: string[] = [];
  for (const flags of [U.MS_SYNC, U.MS_ASYNC, U.MS_INVALIDATE, U.MS_SYNC | U.MS_INVALIDATE, U.MS_ASYNC | U.MS_INVALIDATE]) {
    for (const [at, len] of [[0, LEN], [0, (VMAS - 41) * P], [P * 100, LEN - 100 * P - 30 * P], [(VMAS - 22) * P, 10 * P], [LEN, P]]) {
      out.push(`${flags} ${at} ${len}: ${h.call(a, U.SYS_msync, va + at!, len!, flags)}`);
    }
  }
  out.push(...h.addressSpace(a));
  out.push(`free ${h.k.pages.nrFree}`);
  return out;
}

describe('msync in slices has the result of msync in one go', () => {
  it('over holes, locked pages and thousands of VMAs, with each flag: results, smaps, every PTE, free frames alike with 1-page slices', () => {
    const r = slicedAndWhole(program, () => h);
    expect(r.leaked).toBe(0);
    expect(r.wholeYields).toBe(0);
    expect(r.yields).toBeGreaterThan(VMAS);
    expect(r.sliced).toEqual(r.whole);
    expect(r.whole.slice(0, 25).filter((l) => l.endsWith(`: ${-U.ENOMEM}`)).length).toBeGreaterThan(0);
    expect(r.whole.slice(0, 25).filter((l) => l.endsWith(`: ${-U.EBUSY}`)).length).toBeGreaterThan(0);
  });
});
