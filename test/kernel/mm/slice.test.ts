// Long calls in bounded slices (kernel/mm/slice.ts, kernel.ts's nextSlice): another
// process's request is answered while a huge populate is still in the kernel, a SIGKILL
// ends it at the slice boundary, the result in slices is the one in one go, and no frame
// is left behind by a process that ends mid-call. Ordering and counters, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { copyFromUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, slicedAndWhole } from '../../harness/kernel.ts';

const P = 4096;
const RO = U.PROT_READ;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const NORESERVE = ANON | U.MAP_NORESERVE;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

function boot(slicePages: number, memBytes = 64 << 20): Thread {
  h = new KernelHarness({ memBytes, slicePages, validate: 8 });
  return h.spawn();
}

/** Long calls that populate 2^26 bytes (mmap's MAP_POPULATE, mlock, madvise, mlockall), each from a fresh mapping. */
const LONG_CALLS: [string, (t: Thread) => [number, ...number[]]][] = [
  ['mmap MAP_POPULATE of 2^26 read-only bytes', () => [U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE | U.MAP_POPULATE, -1, 0]],
  ['madvise MADV_POPULATE_READ of 2^26 bytes', (t) => [U.SYS_madvise, h.call(t, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE, -1, 0), 2 ** 26, U.MADV_POPULATE_READ]],
  ['mlock of 2^26 read-only bytes', (t) => [U.SYS_mlock, h.call(t, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE, -1, 0), 2 ** 26]],
  ['mlockall(MCL_CURRENT) over 2^26 read-only bytes', (t) => {
    h.call(t, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE, -1, 0);
    return [U.SYS_mlockall, U.MCL_CURRENT];
  }],
];

describe('a long call runs in slices', () => {
  it.each(LONG_CALLS)('%s: another process\'s getpid is answered while it is still in the kernel', (_name, args) => {
    const a = boot(64);
    const b = h.spawn();
    const [nr, ...rest] = args(a);
    const yields = h.k.slice.yields;
    expect(h.startSyscall(a, nr, ...rest)).toEqual({ kind: 'blocked' });
    // The kernel thread's loop: every CPU once per turn, the long call one slice a turn.
    expect(h.startSyscall(b, U.SYS_getpid)).toEqual({ kind: 'return', value: b.proc.pid });
    expect(a.sliced).not.toBeNull();
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    let turns = 0;
    while (h.answer(a).kind === 'blocked') {
      h.serveRound();
      turns++;
    }
    const r = h.answer(a);
    expect(r.kind === 'return' && r.value >= 0).toBe(true);
    // 2^14 pages at 64 a slice: 256 slices (mlockall has the stack's pages too).
    expect(turns).toBeGreaterThanOrEqual(255);
    expect(h.k.slice.yields - yields).toBe(turns);
    expect(a.proc.mm.slicedCpu).toBe(-1);
  });

  it('the kernel loop serves other CPUs between slices: the getpid posted after the populate is answered first', () => {
    const a = boot(64);
    const b = h.spawn();
    expect(h.startSyscall(a, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE | U.MAP_POPULATE, -1, 0)).toEqual({ kind: 'blocked' });
    const order: string[] = [];
    h.serveRound();
    expect(h.startSyscall(b, U.SYS_getpid).kind).toBe('return');
    order.push('getpid');
    while (h.answer(a).kind === 'blocked') h.serveRound();
    order.push('mmap');
    expect(order).toEqual(['getpid', 'mmap']);
  });

  it('holds its mm as mmap_lock does: a sibling thread\'s munmap waits for the call, its gettid does not', () => {
    const a = boot(64);
    const sib = h.thread(a);
    const heap = h.call(a, U.SYS_mmap, 0, 16 * P, RW, ANON, -1, 0);
    expect(h.startSyscall(a, U.SYS_mmap, 0, 2 ** 24, RO, NORESERVE | U.MAP_POPULATE, -1, 0)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(sib, U.SYS_gettid)).toEqual({ kind: 'return', value: sib.tid });
    expect(h.startSyscall(sib, U.SYS_munmap, heap, P)).toEqual({ kind: 'blocked' });
    while (h.answer(a).kind === 'blocked') {
      expect(h.answer(sib)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    // The call is over: the waiting request is served at the next turn.
    h.serveRound();
    expect(h.answer(sib)).toEqual({ kind: 'return', value: 0 });
  });

  it.each([
    ['MAP_POPULATE', (a: Thread) => h.startSyscall(a, U.SYS_mmap, 0, 2 ** 24, RO, NORESERVE | U.MAP_POPULATE, -1, 0)],
    ['MADV_POPULATE_READ', (a: Thread) => h.startSyscall(a, U.SYS_madvise, h.call(a, U.SYS_mmap, 0, 2 ** 24, RO, NORESERVE, -1, 0), 2 ** 24, U.MADV_POPULATE_READ)],
  ])('a populate (%s) holds mmap_lock for read: a sibling\'s page faults and read-side calls are served between its slices', (_name, start) => {
    const a = boot(64);
    const sib = h.thread(a);
    const heap = h.call(a, U.SYS_mmap, 0, 16 * P, RW, ANON, -1, 0);
    expect(start(a)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 16; i++) {
      expect(h.fault(sib, heap + i * P, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
      expect(h.answer(a)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    expect(leafWord(h.k, a.proc.mm, heap + 15 * P)).not.toBeNull();
    // A call that takes the lock for read (or not at all) is served too; one that takes it for write waits.
    expect(h.startSyscall(sib, U.SYS_getrlimit, U.RLIMIT_STACK, heap)).toEqual({ kind: 'return', value: 0 });
    expect(h.startSyscall(sib, U.SYS_mprotect, heap, P, RO)).toEqual({ kind: 'blocked' });
    while (h.answer(a).kind === 'blocked') h.serveRound();
    h.serveRound();
    expect(h.answer(sib)).toEqual({ kind: 'return', value: 0 });
    expect(a.proc.mm.slicedShared).toBe(false);
  });

  it('a sibling\'s call in slices that began beside a populate (ftruncate of a big memfd) ends without letting go of the populate\'s hold: a munmap still waits for the populate', () => {
    const a = boot(64);
    const [s1, s2] = [h.thread(a), h.thread(a)];
    const heap = h.call(a, U.SYS_mmap, 0, 16 * P, RW, ANON, -1, 0);
    const name = h.call(a, U.SYS_mmap, 0, P, RW, ANON | U.MAP_POPULATE, -1, 0);
    h.k.mem.u8[leafWord(h.k, a.proc.mm, name)!.pfn * P] = 'f'.charCodeAt(0);
    const fd = h.call(a, U.SYS_memfd_create, name, 0);
    expect(h.call(a, U.SYS_ftruncate, fd, 2048 * P)).toBe(0);
    const m = h.call(a, U.SYS_mmap, 0, 2048 * P, RW, U.MAP_SHARED, fd, 0);
    expect(h.call(a, U.SYS_madvise, m, 2048 * P, U.MADV_POPULATE_WRITE)).toBe(0);
    expect(h.call(a, U.SYS_munmap, m, 2048 * P)).toBe(0); // the pages stay in the file
    expect(h.startSyscall(a, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE | U.MAP_POPULATE, -1, 0)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(s1, U.SYS_ftruncate, fd, 0)).toEqual({ kind: 'blocked' }); // in slices beside it
    let turns = 0;
    while (h.answer(s1).kind === 'blocked') {
      h.serveRound();
      turns++;
    }
    expect(h.answer(s1)).toEqual({ kind: 'return', value: 0 });
    expect(turns).toBeGreaterThan(0);
    expect(h.answer(a)).toEqual({ kind: 'blocked' }); // the populate goes on, still holding the mm
    expect(a.proc.mm.slicedCpu).toBe(a.cpu);
    expect(h.startSyscall(s2, U.SYS_munmap, heap, P)).toEqual({ kind: 'blocked' });
    while (h.answer(a).kind === 'blocked') {
      expect(h.answer(s2)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    h.serveRound();
    expect(h.answer(s2)).toEqual({ kind: 'return', value: 0 });
    expect(a.proc.mm.slicedCpu).toBe(-1);
  });
});

/** Long work inside other calls: mprotect's and mremap's population of locked memory, mremap's shrink, mincore. */
const INNER_CALLS: [string, (t: Thread) => [number, ...number[]], number][] = [
  ['mprotect making 2^24 locked read-only bytes writable (COW broken now)', (t) => {
    const a = h.call(t, U.SYS_mmap, 0, 2 ** 24, RO, NORESERVE, -1, 0);
    expect(h.call(t, U.SYS_mlock, a, 2 ** 24)).toBe(0);
    return [U.SYS_mprotect, a, 2 ** 24, RW];
  }, 2 ** 12 / 64],
  ['mremap growing a locked read-only page in place to 2^26 bytes', (t) => {
    const a = h.call(t, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE, -1, 0);
    expect(h.call(t, U.SYS_munmap, a + P, 2 ** 26 - P)).toBe(0);
    expect(h.call(t, U.SYS_mlock, a, P)).toBe(0);
    return [U.SYS_mremap, a, P, 2 ** 26, 0, 0];
  }, 2 ** 14 / 64],
  ['mremap moving a locked read-only page as it grows to 2^26 bytes', (t) => {
    const a = h.call(t, U.SYS_mmap, 0, 2 * P, RO, NORESERVE, -1, 0);
    expect(h.call(t, U.SYS_mprotect, a + P, P, U.PROT_NONE)).toBe(0); // no room to grow where it is
    expect(h.call(t, U.SYS_mlock, a, P)).toBe(0);
    return [U.SYS_mremap, a, P, 2 ** 26, U.MREMAP_MAYMOVE, 0];
  }, 2 ** 14 / 64],
  ['mremap shrinking 2^26 mapped bytes to a page', (t) => {
    const a = h.call(t, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE | U.MAP_POPULATE, -1, 0);
    return [U.SYS_mremap, a, 2 ** 26, P, 0, 0];
  }, 2 ** 5], // 32 page tables of 512 PTEs, one a slice
  ['mincore of 2^30 bytes', (t) => {
    const a = h.call(t, U.SYS_mmap, 0, 2 ** 30, RO, NORESERVE, -1, 0);
    expect(h.call(t, U.SYS_madvise, a, 2 ** 24, U.MADV_POPULATE_READ)).toBe(0);
    return [U.SYS_mincore, a, 2 ** 30, h.call(t, U.SYS_mmap, 0, 2 ** 18, RW, ANON, -1, 0)];
  }, 2 ** 6], // 64 chunks of 4,096 pages, one a slice
];

describe('long work inside other calls runs in slices', () => {
  it.each(INNER_CALLS)('%s: another process\'s getpid is answered between its slices', (_name, args, slices) => {
    const a = boot(64);
    const b = h.spawn();
    const [nr, ...rest] = args(a);
    expect(h.startSyscall(a, nr, ...rest)).toEqual({ kind: 'blocked' });
    const turns = h.roundsWithGetpid(() => h.answer(a).kind === 'blocked', b);
    const r = h.answer(a);
    expect(r.kind === 'return' && r.value >= 0).toBe(true);
    expect(turns).toBeGreaterThanOrEqual(slices - 1);
    expect(a.proc.mm.slicedCpu).toBe(-1);
  });

  it('mprotect\'s population holds the mm for write (a sibling\'s page fault waits), mremap\'s for read (it is served), as Linux populates after mremap lets go of mmap_lock', () => {
    const a = boot(64);
    const sib = h.thread(a);
    const heap = h.call(a, U.SYS_mmap, 0, 16 * P, RW, ANON, -1, 0);
    const x = h.call(a, U.SYS_mmap, 0, 2 ** 24, RO, NORESERVE, -1, 0);
    expect(h.call(a, U.SYS_mlock, x, 2 ** 24)).toBe(0);
    expect(h.startSyscall(a, U.SYS_mprotect, x, 2 ** 24, RW)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(h.fault(sib, heap, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'blocked' });
    while (h.answer(a).kind === 'blocked') h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'return', value: 0 });
    h.serveRound();
    expect(h.answer(sib)).toEqual({ kind: 'return', value: 0 });
    expect(a.proc.mm.rssAnon).toBeGreaterThanOrEqual(2 ** 12); // every page written (COW broken)

    const y = h.call(a, U.SYS_mmap, 0, P, RO, NORESERVE, -1, 0);
    expect(h.call(a, U.SYS_mlock, y, P)).toBe(0);
    expect(h.startSyscall(a, U.SYS_mremap, y, P, 2 ** 26, U.MREMAP_MAYMOVE, 0)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(h.fault(sib, heap + P, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    while (h.answer(a).kind === 'blocked') h.serveRound();
    expect(a.proc.mm.slicedShared).toBe(false);
  });
});

describe('a fatal signal ends a call in slices', () => {
  it('SIGKILL from another process ends a 2^34-byte populate at the slice boundary; no frame is left', () => {
    const a = boot(256);
    const b = h.spawn();
    expect(h.startSyscall(a, U.SYS_mmap, 0, 2 ** 34, RO, NORESERVE | U.MAP_POPULATE, -1, 0)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 4; i++) h.serveRound();
    expect(a.proc.mm.rssAnon + a.proc.mm.ptePages).toBeLessThan(2 ** 34 / P);
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    expect(a.sliced).toBeNull();
    h.serveRound();
    h.finishExits(); // its address space is torn down in slices (task/exit.ts)
    expect(a.proc.state).toBe('zombie');
    expect(a.proc.mm.slicedCpu).toBe(-1); // and afterEach finds no frame missing
  });

  it.each([
    ['mprotect\'s population of locked memory', (a: Thread) => {
      const x = h.call(a, U.SYS_mmap, 0, 2 ** 24, RO, NORESERVE, -1, 0);
      expect(h.call(a, U.SYS_mlock, x, 2 ** 24)).toBe(0);
      return h.startSyscall(a, U.SYS_mprotect, x, 2 ** 24, RW);
    }],
    ['mremap\'s population of locked memory', (a: Thread) => {
      expect(h.call(a, U.SYS_mlockall, U.MCL_FUTURE)).toBe(0);
      return h.startSyscall(a, U.SYS_mremap, h.call(a, U.SYS_mmap, 0, P, RW, ANON, -1, 0), P, 2 ** 24, U.MREMAP_MAYMOVE, 0);
    }],
    ['mremap\'s shrink', (a: Thread) => h.startSyscall(a, U.SYS_mremap, h.call(a, U.SYS_mmap, 0, 2 ** 24, RW, ANON | U.MAP_POPULATE, -1, 0), 2 ** 24, P, 0, 0)],
  ])('SIGKILL ends %s at a slice boundary; no frame is left', (_name, start) => {
    const a = boot(64);
    const b = h.spawn();
    expect(start(a)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    h.serveRound();
    h.finishExits();
    expect(a.proc.state).toBe('zombie'); // and afterEach finds no frame missing
  });

  it('exit_group from a sibling thread ends the call (the sibling is not held by the mm) and frees everything', () => {
    const a = boot(128);
    const sib = h.thread(a);
    expect(h.call(a, U.SYS_mlockall, U.MCL_CURRENT | U.MCL_FUTURE)).toBe(0);
    expect(h.startSyscall(a, U.SYS_mmap, 0, 2 ** 26, RW, NORESERVE, -1, 0)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(a.proc.mm.rssAnon).toBeGreaterThan(0);
    expect(h.startSyscall(sib, U.SYS_exit_group, 3)).toEqual({ kind: 'exit' });
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    h.serveRound();
    expect(a.proc.state).not.toBe('live');
  });
});

/** Run the same program with slices of `slicePages`; what each process's memory ends as. */
function program(slicePages: number): string[] {
  const a = boot(slicePages, 128 << 20);
  const b = h.spawn();
  const out: string[] = [];
  const x = h.call(a, U.SYS_mmap, 0, 600 * P, RW, ANON | U.MAP_POPULATE, -1, 0);
  const y = h.call(b, U.SYS_mmap, 0, 4 << 20, RW, ANON, -1, 0);
  expect(h.call(b, U.SYS_madvise, y, 4 << 20, U.MADV_HUGEPAGE)).toBe(0);
  expect(h.call(b, U.SYS_madvise, y + 3 * P, 3 << 20, U.MADV_POPULATE_WRITE)).toBe(0);
  expect(h.call(a, U.SYS_munmap, x + 100 * P, 50 * P)).toBe(0);
  const z = h.call(a, U.SYS_mmap, 0, 300 * P, RO, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
  expect(h.call(a, U.SYS_mlock, x, 600 * P)).toBe(-U.ENOMEM); // the hole; the pages around it are locked
  expect(h.call(a, U.SYS_madvise, z, 300 * P, U.MADV_POPULATE_READ)).toBe(0);
  expect(h.call(b, U.SYS_mlockall, U.MCL_CURRENT)).toBe(0);
  expect(h.call(a, U.SYS_madvise, x, 600 * P, U.MADV_POPULATE_WRITE)).toBe(-U.ENOMEM);
  for (const t of [a, b]) out.push(...h.addressSpace(t));
  out.push(`free ${h.k.pages.nrFree}`);
  return out;
}

/** The same with mprotect's and mremap's population of locked memory, mremap's shrink and mincore. */
function innerProgram(slicePages: number): string[] {
  const a = boot(slicePages, 128 << 20);
  const b = h.spawn();
  const x = h.call(a, U.SYS_mmap, 0, 600 * P, RO, NORESERVE, -1, 0);
  expect(h.call(a, U.SYS_mlock, x, 600 * P)).toBe(0);
  expect(h.call(a, U.SYS_mprotect, x + 10 * P, 400 * P, RW)).toBe(0);
  const y = h.call(b, U.SYS_mmap, 0, 900 * P, RW, ANON | U.MAP_POPULATE, -1, 0);
  expect(h.call(b, U.SYS_mremap, y, 900 * P, 10 * P, 0, 0)).toBe(y);
  expect(h.call(b, U.SYS_mlockall, U.MCL_FUTURE)).toBe(0);
  const z = h.call(b, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
  expect(h.call(b, U.SYS_mremap, z, P, 700 * P, U.MREMAP_MAYMOVE, 0)).toBeGreaterThan(0);
  const w = h.call(a, U.SYS_mmap, 0, 2 ** 26, RO, NORESERVE, -1, 0);
  for (let i = 0; i < 2 ** 14; i += 1000) expect(h.fault(a, w + i * P, X86_PF_USER)).toEqual({ kind: 'return', value: 0 });
  const vec = h.call(a, U.SYS_mmap, 0, 2 ** 14, RW, ANON, -1, 0);
  expect(h.call(a, U.SYS_mincore, w, 2 ** 26, vec)).toBe(0);
  const bytes = copyFromUser(h.k, a.proc.mm, vec, 2 ** 14, a.cpu) as Uint8Array;
  const out = [`mincore ${[...bytes.keys()].filter((i) => bytes[i] !== 0).join(' ')}`];
  for (const t of [a, b]) out.push(...h.addressSpace(t));
  out.push(`free ${h.k.pages.nrFree}`);
  return out;
}

describe('a call in slices has the result of the call in one go', () => {
  it('populate, mlock, mlockall and MADV_POPULATE_*: smaps, every PTE and free frames alike with 1-page slices', () => {
    const r = slicedAndWhole(program, () => h);
    expect(r.leaked).toBe(0);
    expect(r.wholeYields).toBe(0);
    expect(r.yields).toBeGreaterThan(2000);
    expect(r.sliced).toEqual(r.whole);
  });

  it('mprotect\'s and mremap\'s population of locked memory, mremap\'s shrink and mincore: alike with 1-page slices', () => {
    const r = slicedAndWhole(innerProgram, () => h);
    expect(r.leaked).toBe(0);
    expect(r.wholeYields).toBe(0);
    expect(r.yields).toBeGreaterThan(1000);
    expect(r.sliced).toEqual(r.whole);
    expect(r.whole[0]).toBe(`mincore ${Array.from({ length: 17 }, (_, i) => i * 1000).join(' ')}`);
  });
});
