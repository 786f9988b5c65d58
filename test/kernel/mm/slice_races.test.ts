// Calls in slices against the rest of the kernel between their slices: a truncation (in
// slices itself) of the memfd an mremap move is moving, the OOM killer choosing a process
// in the middle of its move, and the OOM killer choosing the caller of a populate of
// locked memory (mprotect's, mremap's) while that call runs. Every boundary validates, and
// nothing leaks. Ordering and counters, no clocks.

import { afterEach, expect, it } from 'vitest';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const NORESERVE = U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE;
const MOVE = U.MREMAP_MAYMOVE | U.MREMAP_FIXED;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

/** A memfd of t's process, also open in `other`'s at the same number. */
function memfd(t: Thread, other: Thread): number {
  const name = h.call(t, U.SYS_mmap, 0, P, RW, NORESERVE, -1, 0);
  expect(copyToUser(h.k, t.proc.mm, name, new TextEncoder().encode('m\0'), -1)).toBe(0);
  const fd = h.call(t, U.SYS_memfd_create, name, 0);
  const f = t.proc.fds.get(fd)!;
  f.refs++;
  other.proc.fds.installAt(fd, f, false);
  return fd;
}

it.each([[0], [2 ** 23], [2 ** 22 + 3 * P]])('a truncation to %i bytes by another process between the slices of an mremap move of the memfd\'s mapping (shared, and private with COW pages) leaves nothing mapped past the end', (size) => {
  const LEN = 2 ** 24;
  for (const flags of [U.MAP_SHARED, U.MAP_PRIVATE]) {
    h = new KernelHarness({ memBytes: 128 << 20, slicePages: 16, validate: 1 });
    const a = h.spawn();
    const b = h.spawn();
    const fd = memfd(a, b);
    expect(h.call(a, U.SYS_ftruncate, fd, LEN)).toBe(0);
    const va = h.call(a, U.SYS_mmap, 0, LEN, RW, flags | U.MAP_POPULATE, fd, 0);
    if (flags === U.MAP_PRIVATE) for (let at = va; at < va + LEN; at += 8 * P) expect(copyToUser(h.k, a.proc.mm, at, new Uint8Array([1]), -1)).toBe(0);
    const dst = h.call(a, U.SYS_mmap, 0, LEN + 2 ** 21, U.PROT_NONE, NORESERVE, -1, 0) + 5 * P; // not 2 MiB-aligned
    expect(h.startSyscall(a, U.SYS_mremap, va, LEN, LEN, MOVE, dst)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 6; i++) h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    h.startSyscall(b, U.SYS_ftruncate, fd, size); // in slices too, between a's
    while (h.answer(a).kind === 'blocked' || h.answer(b).kind === 'blocked') {
      validateMm(h.k, a.proc.mm);
      h.serveRound();
    }
    expect(h.answer(a)).toEqual({ kind: 'return', value: dst });
    expect(h.answer(b)).toEqual({ kind: 'return', value: 0 });
    validateMm(h.k, a.proc.mm);
    for (let at = dst + Math.ceil(size / P) * P; at < dst + LEN; at += P) expect(leafWord(h.k, a.proc.mm, at)).toBeNull();
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  }
});

it.each([[0], [5 * P], [2 ** 21]])('the OOM killer chooses a process in the middle of its mremap move (destination offset %i): the move is finished, then the process ends', (off) => {
  const LEN = 2 ** 25;
  h = new KernelHarness({ memBytes: 64 << 20, slicePages: 16, validate: 1 });
  const a = h.spawn();
  const b = h.spawn();
  const va = h.call(a, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
  const dst = h.call(a, U.SYS_mmap, 0, LEN + 2 ** 22, U.PROT_NONE, NORESERVE, -1, 0) + off;
  expect(h.startSyscall(a, U.SYS_mremap, va, LEN, LEN, MOVE, dst)).toEqual({ kind: 'blocked' });
  for (let i = 0; i < 10; i++) h.serveRound();
  expect(h.answer(a)).toEqual({ kind: 'blocked' });
  h.startSyscall(b, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0); // more than is left
  for (let i = 0; i < 10000 && (h.answer(b).kind === 'blocked' || a.proc.state !== 'zombie'); i++) {
    if (a.proc.state === 'live') validateMm(h.k, a.proc.mm);
    h.serveRound();
    h.finishExits();
  }
  expect(a.proc.state).toBe('zombie');
  expect(h.answer(b).kind).toBe('return');
  validateMm(h.k, b.proc.mm);
});

it.each([['mprotect'], ['mremap']])('%s\'s population of locked memory runs out of memory: the OOM killer chooses the caller while its call runs, and it ends cleanly', (call) => {
  const LEN = 2 ** 27;
  h = new KernelHarness({ memBytes: 64 << 20, slicePages: 64, validate: 1 });
  const a = h.spawn();
  h.thread(a);
  const b = h.spawn();
  let r;
  if (call === 'mprotect') {
    const va = h.call(a, U.SYS_mmap, 0, LEN, U.PROT_READ, NORESERVE | U.MAP_LOCKED | U.MAP_POPULATE, -1, 0);
    expect(va).toBeGreaterThan(0);
    r = h.startSyscall(a, U.SYS_mprotect, va, LEN, RW);
  } else {
    const va = h.call(a, U.SYS_mmap, 0, P, RW, NORESERVE | U.MAP_LOCKED, -1, 0);
    r = h.startSyscall(a, U.SYS_mremap, va, P, LEN, U.MREMAP_MAYMOVE);
  }
  expect(r).toEqual({ kind: 'blocked' });
  for (let i = 0; i < 100000 && a.proc.state === 'live'; i++) {
    validateMm(h.k, a.proc.mm);
    expect(h.startSyscall(b, U.SYS_getpid).kind).toBe('return');
    h.serveRound();
  }
  h.finishExits();
  expect(a.proc.state).toBe('zombie');
  expect(h.answer(a)).toEqual({ kind: 'exit' });
});
