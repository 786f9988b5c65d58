// Reads of /proc/PID/smaps, smaps_rollup and pagemap and the PAGEMAP_SCAN ioctl of a big
// address space run in slices (kernel/fs/proc/task_mmu.ts, pagemap_scan.ts): another
// process's request is answered meanwhile, the bytes are those of the walk in one go (and
// alike with 1-page slices), and a target that exits between slices ends the walk without
// harm. Ordering and counters, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { procSmaps, procSmapsRollup } from '../../../kernel/fs/proc/task_mmu.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, slicedAndWhole } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
/** 2^24 bytes written: 4,096 pages, 8 page tables. */
const LEN = 2 ** 24;
/** The caller's buffer: room for the texts and for 2^16 pagemap entries. */
const BUF = 1 << 19;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

/** The machine with a target process b (LEN bytes written inside a 2^40-byte mapping, and 300 sparse page tables) and a reader a: [a, b, b's big mapping, a's buffer]. */
function boot(slicePages: number): [Thread, Thread, number, number] {
  h = new KernelHarness({ memBytes: 64 << 20, slicePages, validate: 0 });
  const b = h.spawn();
  const va = h.call(b, U.SYS_mmap, 0, 2 ** 40, RW, ANON | U.MAP_NORESERVE, -1, 0);
  expect(h.call(b, U.SYS_madvise, va, LEN, U.MADV_POPULATE_WRITE)).toBe(0);
  expect(h.call(b, U.SYS_madvise, va + 5 * P, 40 * P, U.MADV_DONTNEED)).toBe(0);
  expect(h.call(b, U.SYS_mprotect, va + LEN / 2, LEN / 4, U.PROT_READ)).toBe(0);
  for (let i = 0; i < 300; i++) expect(h.call(b, U.SYS_madvise, va + 2 ** 39 + i * 2 ** 22, P, U.MADV_POPULATE_WRITE)).toBe(0);
  const a = h.spawn();
  const buf = h.call(a, U.SYS_mmap, 0, BUF, RW, ANON | U.MAP_POPULATE, -1, 0);
  return [a, b, va, buf];
}

/** /proc/<b>/<name> opened by a: the descriptor. */
function openProc(a: Thread, b: Thread, name: string, buf: number): number {
  expect(copyToUser(h.k, a.proc.mm, buf, new TextEncoder().encode(`/proc/${b.proc.pid}/${name}\0`), -1)).toBe(0);
  const fd = h.call(a, U.SYS_open, buf, U.O_RDONLY, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  return fd;
}

/** struct pm_scan_arg for [start, end) with a vector of 4,096 regions at vec: every region, categories PRESENT | WRITTEN | SWAPPED. */
function scanArg(start: number, end: number, vec: number): Uint8Array {
  const arg = new BigUint64Array([96n, 0n, BigInt(start), BigInt(end), 0n, BigInt(vec), 4096n, 0n, 0n, 0n, 0n, BigInt(U.PAGE_IS_PRESENT | U.PAGE_IS_WRITTEN | U.PAGE_IS_SWAPPED)]);
  return new Uint8Array(arg.buffer);
}

/** The calls that walk b's address space, made by a: [the system call's arguments, how many bytes of a's buffer hold its output]. */
const CALLS: [string, (a: Thread, b: Thread, va: number, buf: number) => [number[], (r: number) => number]][] = [
  ['pread of smaps', (a, b, _va, buf) => [[U.SYS_pread64, openProc(a, b, 'smaps', buf), buf, BUF, 0], (r) => r]],
  ['pread of smaps_rollup', (a, b, _va, buf) => [[U.SYS_pread64, openProc(a, b, 'smaps_rollup', buf), buf, BUF, 0], (r) => r]],
  ['pread of 2^16 pagemap entries', (a, b, va, buf) => [[U.SYS_pread64, openProc(a, b, 'pagemap', buf), buf, BUF, (va / P) * 8], (r) => r]],
  ['PAGEMAP_SCAN of the whole 2^40 bytes', (a, b, va, buf) => {
    const fd = openProc(a, b, 'pagemap', buf);
    expect(copyToUser(h.k, a.proc.mm, buf, scanArg(va, va + 2 ** 40, buf + 128), -1)).toBe(0);
    return [[U.SYS_ioctl, fd, U.PAGEMAP_SCAN, buf], (r) => 128 + r * 24];
  }],
];

/** What the call leaves in a's buffer: its result, and the bytes it wrote. */
function output(a: Thread, buf: number, r: number, bytes: (r: number) => number): [number, number[]] {
  const got = copyFromUser(h.k, a.proc.mm, buf, bytes(r), -1);
  if (typeof got === 'number') throw new Error(`copyFromUser: ${got}`);
  return [r, [...got]];
}

describe('a /proc walk of a big address space runs in slices', () => {
  it.each(CALLS)('%s: another process\'s getpid is answered between its slices, and the bytes are those of the walk in one go', (_name, call) => {
    const [a, b, va, buf] = boot(64);
    const c = h.spawn();
    const [args, bytes] = call(a, b, va, buf);
    const yields = h.k.slice.yields;
    expect(h.startSyscall(a, args[0]!, ...args.slice(1))).toEqual({ kind: 'blocked' });
    let turns = 0;
    while (h.answer(a).kind === 'blocked') {
      expect(h.startSyscall(c, U.SYS_getpid)).toEqual({ kind: 'return', value: c.proc.pid });
      h.serveRound();
      turns++;
    }
    expect(h.k.slice.yields - yields).toBe(turns);
    expect(turns).toBeGreaterThan(2);
    const answer = h.answer(a);
    if (answer.kind !== 'return') throw new Error(answer.kind);
    expect(answer.value).toBeGreaterThan(0);
    const sliced = output(a, buf, answer.value, bytes);
    // The same call again, in one slice.
    h.k.slice.units = 1e9;
    expect(h.startSyscall(a, args[0]!, ...args.slice(1))).toEqual({ kind: 'return', value: answer.value });
    expect(output(a, buf, answer.value, bytes)).toEqual(sliced);
  });

  it('smaps and smaps_rollup read in slices give the text the host\'s procSmaps gives', () => {
    const [a, b, , buf] = boot(64);
    for (const [name, text] of [['smaps', procSmaps(h.k, b.proc.mm)], ['smaps_rollup', procSmapsRollup(h.k, b.proc.mm)]] as const) {
      const r = h.syscall(a, U.SYS_read, openProc(a, b, name, buf), buf, BUF);
      if (r.kind !== 'return') throw new Error(r.kind);
      expect(new TextDecoder().decode(copyFromUser(h.k, a.proc.mm, buf, r.value, -1) as Uint8Array)).toBe(text);
    }
  });
});

/** Every call's output with slices of `slicePages`. */
function program(slicePages: number): [number, number[]][] {
  const [a, b, va, buf] = boot(slicePages);
  return CALLS.map(([, call]) => {
    const [args, bytes] = call(a, b, va, buf);
    const r = h.call(a, args[0]!, ...args.slice(1));
    return output(a, buf, r, bytes);
  });
}

describe('in slices, the bytes of the walk in one go', () => {
  it('smaps, smaps_rollup, pagemap and PAGEMAP_SCAN alike with 1-page slices', () => {
    const r = slicedAndWhole(program, () => h);
    expect(r.leaked).toBe(0);
    expect(r.yields).toBeGreaterThan(100);
    expect(r.wholeYields).toBe(0);
    expect(r.sliced).toEqual(r.whole);
  });
});

describe('the target exits between slices', () => {
  it.each(CALLS)('%s: the call ends (its text so far, or ESRCH) and nothing is left behind', (_name, call) => {
    const [a, b, va, buf] = boot(64);
    const [args] = call(a, b, va, buf);
    expect(h.startSyscall(a, args[0]!, ...args.slice(1))).toEqual({ kind: 'blocked' });
    h.serveRound();
    h.kernel.signal(b.proc, U.SIGKILL);
    h.pump();
    h.serveRound();
    expect(b.proc.state).not.toBe('live');
    const r = h.runToEnd(a);
    expect(r.kind).toBe('return');
    if (r.kind === 'return' && args[0] === U.SYS_ioctl) expect(r.value).toBe(-U.ESRCH);
  });

  it('a reader killed between slices: its read ends, the target is untouched', () => {
    const [a, b, , buf] = boot(64);
    const rss = b.proc.mm.rss();
    expect(h.startSyscall(a, U.SYS_read, openProc(a, b, 'smaps', buf), buf, BUF)).toEqual({ kind: 'blocked' });
    h.serveRound();
    h.kernel.signal(a.proc, U.SIGKILL);
    h.pump();
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    expect(b.proc.mm.rss()).toBe(rss);
  });
});
