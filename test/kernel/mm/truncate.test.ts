// Truncation, hole punching (fallocate, MADV_REMOVE) and fallocate of tmpfs files in slices (kernel/mm/truncate.ts):
// another process's request is answered between slices, the result in 1-page slices is the
// one in one go (every PTE of every mapping, the file's pages and bytes, free frames), a
// SIGKILL at a slice boundary finishes a truncation at once and undoes an allocation, and
// nothing is left behind. Ordering and counters, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { InodeFile } from '../../../kernel/fs/vfs.ts';
import type { AddressSpace } from '../../../kernel/mm/filemap.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, slicedAndWhole } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
/** The file's size: 4,096 pages, 8 page tables' worth. */
const LEN = 2 ** 24;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  h.kernel.vfs.unlink(['tmp', 'f'], false);
  expect(h.leakedFrames()).toBe(0);
});

/** The machine, and /tmp/f opened read-write in a new process: [thread, fd, the file's page cache]. */
function boot(slicePages: number, memBytes = 64 << 20): [Thread, number, AddressSpace] {
  h = new KernelHarness({ memBytes, slicePages, validate: 16 });
  const t = h.spawn();
  const fd = open(t);
  return [t, fd, (t.proc.fds.get(fd) as InodeFile).inode.mapping!];
}

/** /tmp/f opened by t (created if need be): the descriptor. */
function open(t: Thread): number {
  const at = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  expect(copyToUser(h.k, t.proc.mm, at, new TextEncoder().encode('/tmp/f\0'), -1)).toBe(0);
  const fd = h.call(t, U.SYS_open, at, U.O_CREAT | U.O_RDWR, 0o600);
  expect(fd).toBeGreaterThanOrEqual(0);
  return fd;
}

/**
 * The file LEN bytes long, every page written (each with its index), mapped shared by t
 * and by a second process, and privately by t with every other page of its first half
 * copied on write: [the other process, t's shared mapping, its private one].
 */
function filled(t: Thread, fd: number, m: AddressSpace): [Thread, number, number] {
  expect(h.call(t, U.SYS_ftruncate, fd, LEN)).toBe(0);
  const shared = h.call(t, U.SYS_mmap, 0, LEN, RW, U.MAP_SHARED, fd, 0);
  expect(h.call(t, U.SYS_madvise, shared, LEN, U.MADV_POPULATE_WRITE)).toBe(0);
  for (let i = 0; i < LEN / P; i++) h.k.mem.u8[m.pages.load(i) * P + 100] = i & 0xff;
  const priv = h.call(t, U.SYS_mmap, 0, LEN, RW, U.MAP_PRIVATE, fd, 0);
  for (let va = priv; va < priv + LEN / 2; va += 2 * P) expect(h.fault(t, va, X86_PF_USER | X86_PF_WRITE).kind).toBe('return');
  const b = h.spawn();
  const bfd = open(b);
  const bmap = h.call(b, U.SYS_mmap, 0, LEN, RW, U.MAP_SHARED, bfd, 0);
  expect(h.call(b, U.SYS_madvise, bmap, LEN, U.MADV_POPULATE_READ)).toBe(0);
  return [b, shared, priv];
}

/** The page cache as text: its size, then each page's index and bytes' checksum, each swapped page's index. */
function contents(m: AddressSpace): string {
  const out: string[] = [`size ${m.size}`];
  m.pages.forEach((idx, pfn) => {
    let sum = 0;
    for (let i = pfn * P; i < (pfn + 1) * P; i++) sum = (sum * 31 + h.k.mem.u8[i]!) >>> 0;
    out.push(`${idx}:${sum}`);
  });
  m.swapped.forEach((idx) => out.push(`swap ${idx}`));
  return out.join(' ');
}

/** The calls in slices, on the filled file. */
const CALLS: [string, (fd: number, shared: number) => number[]][] = [
  ['ftruncate to 0', (fd) => [U.SYS_ftruncate, fd, 0]],
  ['ftruncate to a page and a half', (fd) => [U.SYS_ftruncate, fd, P + P / 2]],
  ['fallocate PUNCH_HOLE | KEEP_SIZE of the middle', (fd) => [U.SYS_fallocate, fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 100, LEN - 5000]],
  ['fallocate of 2^24 more bytes', (fd) => [U.SYS_fallocate, fd, 0, LEN, LEN]],
  ['madvise MADV_REMOVE of the shared mapping', (_fd, shared) => [U.SYS_madvise, shared, LEN, U.MADV_REMOVE]],
];

describe('truncation, hole punching and fallocate run in slices', () => {
  it.each(CALLS)('%s: another process\'s getpid is answered between its slices', (_name, args) => {
    const [a, fd, m] = boot(64);
    const [b, shared] = filled(a, fd, m);
    const c = h.spawn();
    const yields = h.k.slice.yields;
    const [nr, ...rest] = args(fd, shared);
    expect(h.startSyscall(a, nr!, ...rest)).toEqual({ kind: 'blocked' });
    let turns = 0;
    while (h.answer(a).kind === 'blocked') {
      expect(h.startSyscall(c, U.SYS_getpid)).toEqual({ kind: 'return', value: c.proc.pid });
      for (const t of [a, b]) validateMm(h.k, t.proc.mm); // consistent at every slice boundary
      h.kernel.serveCpu(a.cpu);
      h.pump();
      turns++;
    }
    expect(h.answer(a)).toEqual({ kind: 'return', value: 0 });
    expect(turns).toBeGreaterThanOrEqual(7); // 8 page tables' worth, each over the budget
    expect(h.k.slice.yields - yields).toBe(turns);
  });

  it('a truncation lowers the size first: another process\'s fault past the new end between slices is SIGBUS', () => {
    const [a, fd, m] = boot(64);
    const [b] = filled(a, fd, m);
    const bmap = b.proc.mm.vmas.all().find((v) => v.mapping === m)!.start;
    expect(h.call(b, U.SYS_madvise, bmap + LEN - P, P, U.MADV_DONTNEED)).toBe(0); // its last page no longer mapped there
    expect(h.startSyscall(a, U.SYS_ftruncate, fd, P)).toEqual({ kind: 'blocked' });
    expect(m.size).toBe(P);
    expect(h.fault(b, bmap + LEN - P, X86_PF_USER)).toEqual({ kind: 'exit' });
    expect(b.proc.status & 0x7f).toBe(U.SIGBUS); // unhandled: the process ends
    h.runToEnd(a);
    expect(m.pages.next(1)).toBe(-1);
  });
});

/** The same program with slices of `slicePages`: both processes' address spaces, the file, free frames. */
function program(slicePages: number): string[] {
  const [a, fd, m] = boot(slicePages, 128 << 20);
  const [b, shared] = filled(a, fd, m);
  const out: string[] = [];
  const step = (nr: number, ...args: number[]) => {
    expect(h.call(a, nr, ...args)).toBe(0);
    out.push(contents(m));
  };
  step(U.SYS_fallocate, fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 3 * P + 17, 700 * P);
  step(U.SYS_ftruncate, fd, LEN - 1000 * P - 123);
  step(U.SYS_madvise, shared + 900 * P, 1000 * P, U.MADV_REMOVE);
  step(U.SYS_fallocate, fd, 0, 10 * P, LEN + 300 * P);
  step(U.SYS_fallocate, fd, U.FALLOC_FL_KEEP_SIZE, LEN + 600 * P, 200 * P);
  step(U.SYS_fallocate, fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 2000 * P, LEN);
  step(U.SYS_ftruncate, fd, 5 * P);
  for (const t of [a, b]) out.push(...h.addressSpace(t));
  out.push(`free ${h.k.pages.nrFree}`);
  return out;
}

describe('in slices, the result of the call in one go', () => {
  it('ftruncate, PUNCH_HOLE and fallocate: every PTE of every mapping, the file\'s pages and bytes, free frames alike with 1-page slices', () => {
    const r = slicedAndWhole(program, () => h, (first) => first.kernel.vfs.unlink(['tmp', 'f'], false));
    expect(r.leaked).toBe(0);
    expect(r.wholeYields).toBe(0);
    expect(r.yields).toBeGreaterThan(100);
    expect(r.sliced).toEqual(r.whole);
  });
});

describe('a kill at a slice boundary', () => {
  it('ftruncate to 0 killed between slices finishes at once: no page of the file is left, nor mapped anywhere', () => {
    const [a, fd, m] = boot(64);
    const [b] = filled(a, fd, m);
    expect(h.startSyscall(a, U.SYS_ftruncate, fd, 0)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(m.pages.size).toBeGreaterThan(0);
    h.kernel.signal(a.proc, U.SIGKILL);
    h.pump();
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    expect(m.pages.size).toBe(0);
    expect(b.proc.mm.rssShmem).toBe(0);
    validateMm(h.k, b.proc.mm);
  });

  it('fallocate of 2^47 bytes gives ENOSPC when memory runs out and gives back every page it took', () => {
    const [a, fd, m] = boot(256, 32 << 20);
    expect(h.call(a, U.SYS_fallocate, fd, 0, 0, 3 * P)).toBe(0);
    const free = h.k.pages.nrFree;
    const b = h.spawn();
    const yields = h.k.slice.yields;
    expect(h.startSyscall(a, U.SYS_fallocate, fd, 0, 0, 2 ** 47)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(b, U.SYS_getpid)).toEqual({ kind: 'return', value: b.proc.pid });
    expect(h.runToEnd(a)).toEqual({ kind: 'return', value: -U.ENOSPC });
    expect(h.k.slice.yields - yields).toBeGreaterThan(10);
    expect(m.pages.size).toBe(3);
    expect(m.size).toBe(3 * P);
    h.spawn(); // memory is back: a process can start
    expect(h.k.pages.nrFree).toBeGreaterThan(free - 100);
  });

  it('fallocate of 2^47 bytes killed between slices gives back every page it took (shmem_fallocate\'s fatal_signal_pending)', () => {
    const [a, fd, m] = boot(256, 32 << 20);
    expect(h.call(a, U.SYS_fallocate, fd, 0, 0, 3 * P)).toBe(0);
    const b = h.spawn();
    const free = h.k.pages.nrFree;
    expect(h.startSyscall(a, U.SYS_fallocate, fd, 0, 0, 2 ** 47)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 5; i++) h.serveRound();
    expect(m.pages.size).toBeGreaterThan(1000);
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    expect(m.pages.size).toBe(3);
    expect(m.size).toBe(3 * P);
    h.serveRound();
    expect(a.proc.state).toBe('zombie');
    expect(h.k.pages.nrFree).toBeGreaterThanOrEqual(free);
  });
});
