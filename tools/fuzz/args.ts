// The fuzzer's arguments (the README's "Fuzzing the kernel" section): the seeded random
// source, the call format, and the kinds of hostile argument. specs.ts turns them into a
// deterministic list of calls per (seed, process, thread), the same on the host (to rebuild
// a reproducer) and in the guest (which runs it). A call names what it passes symbolically
// where the value exists only at run time (an address inside one of the thread's live
// mappings, a descriptor it holds, a C string or a structure in its scratch arena); the
// guest resolves each argument just before the call (guest.ts), so a list stays meaningful
// when the minimizer removes calls from it.
//
// Imports only uapi: this module is bundled into the guest.

import * as U from '../../kernel/uapi.ts';

/**
 * One argument: a number as the ABI takes it (float64: 2^64-1 is 2^64), "NaN" / "Infinity"
 * / "-Infinity", or a symbolic value:
 *   {m: i, o}      address of the thread's live mapping i (mod their count) plus o
 *   {ml: i, o}     that mapping's length plus o
 *   {fd: i}        descriptor i (mod the count) of those the thread obtained, -1 if none
 *   {s: text}      a C string in the arena
 *   {b: n, f?}     n bytes of arena, fields f = [offset, width 1|4|8, value][] stored first
 *   {clone: name}, {clonel: name}   address and length of a clone descriptor running export name
 *   {spawn: 0}, {spawnl: 0}         address and length of a ptlab_spawn descriptor (this module, argv ['child'])
 *   {me: 'pid' | 'tid'}             the caller's pid or tid
 *   {kid: 0}       the last child (process or thread) the thread made, else 0
 */
export type Arg =
  | number | string
  | { m: number; o: number } | { ml: number; o: number } | { fd: number } | { s: string }
  | { b: number; f?: [number, number, Arg][] }
  | { clone: string } | { clonel: string } | { spawn: 0 } | { spawnl: 0 }
  | { me: 'pid' | 'tid' } | { kid: 0 };

/**
 * One call: its index in the thread's generated list, the system call's name (or a
 * pseudo-operation: "@touch" touches memory, "@hog" maps and fills many pages), the arguments.
 */
export interface Call {
  i: number;
  c: string;
  a: Arg[];
  /** 1 for a call of a memory-pressure phase (the profile counts their time apart). */
  ph?: 1;
}

export const PAGE = 4096;
/** The descriptor each fuzz process reports on; generated descriptors never name it. */
export const REPORT_FD = 900;

// --- the random source ------------------------------------------------------------------------

/** A small seeded generator (mulberry32 over a splitmix-mixed seed). */
export class Rng {
  private s: number;

  constructor(...seeds: number[]) {
    let h = 0x9e3779b9;
    for (const x of seeds) h = Math.imul(h ^ (x | 0) ^ Math.floor(x / 2 ** 32), 0x85ebca6b) ^ (h >>> 13);
    this.s = h | 0;
  }

  /** A uniform 32-bit fraction in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** A random 32-bit pattern (as an unsigned number). */
  bits32(): number {
    return this.int(2 ** 32);
  }
}

// --- argument kinds ---------------------------------------------------------------------------

const TOP = 2 ** 47;
/** Values every integer argument meets now and then. */
const BOUNDARY: readonly Arg[] = [
  0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 63, -(2 ** 63), 2 ** 64, 'NaN', 'Infinity', '-Infinity', 0.5,
];
const ADDRS: readonly Arg[] = [
  0, 1, PAGE - 1, PAGE, 0x10000, 0x400000, 2 ** 31, 2 ** 32, TOP - PAGE, TOP - 2 * PAGE, TOP - 1, TOP, TOP + PAGE, 2 ** 48,
  2 ** 63, 2 ** 64, -1, -PAGE, 2 ** 53, 0x7ffff7fff000, 0x7ffffffde000, 0x7ffffffff000, 'NaN',
];
const LENS: readonly Arg[] = [
  0, 1, PAGE - 1, PAGE, PAGE + 1, 2 ** 21, 2 ** 30, 2 ** 31, 2 ** 32, 2 ** 34, 2 ** 46, TOP - PAGE, TOP, TOP + PAGE, 2 ** 48,
  2 ** 53, 2 ** 63, 2 ** 64, 2 ** 64 - PAGE, -1, -PAGE, 'NaN', 'Infinity', 0.5,
];

export function int(r: Rng, small = 16): Arg {
  if (r.chance(0.5)) return r.int(small);
  if (r.chance(0.6)) return r.pick(BOUNDARY);
  return r.chance(0.5) ? r.bits32() : -r.int(2 ** 31);
}

export function addr(r: Rng): Arg {
  const x = r.next();
  if (x < 0.5) return { m: r.int(32), o: r.pick([0, 0, 0, PAGE, 2 * PAGE, 5 * PAGE, -PAGE, 1, 7, 2048, 2 ** 21, 16 * PAGE]) };
  if (x < 0.62) return r.int(2 ** 35) * PAGE;
  if (x < 0.9) return r.pick(ADDRS);
  return { b: 64 };
}

export function len(r: Rng): Arg {
  const x = r.next();
  if (x < 0.3) return r.int(17) * PAGE;
  if (x < 0.45) return { ml: r.int(32), o: r.pick([0, 0, PAGE, -PAGE, 1]) };
  if (x < 0.55) return r.int(20000);
  return r.pick(LENS);
}

export function prot(r: Rng): Arg {
  const x = r.next();
  if (x < 0.7) return r.int(8);
  if (x < 0.8) return r.int(8) | r.pick([0x01000000, 0x02000000]);
  return x < 0.9 ? r.bits32() : r.pick(BOUNDARY);
}

const MAP_OPTIONAL = [
  U.MAP_FIXED, U.MAP_FIXED_NOREPLACE, U.MAP_POPULATE, U.MAP_NORESERVE, U.MAP_LOCKED, U.MAP_GROWSDOWN, U.MAP_STACK, U.MAP_32BIT,
  U.MAP_HUGETLB, U.MAP_HUGETLB | (21 << U.MAP_HUGE_SHIFT), U.MAP_HUGETLB | (30 << U.MAP_HUGE_SHIFT), U.MAP_NONBLOCK, U.MAP_SYNC,
  U.MAP_UNINITIALIZED, U.MAP_DENYWRITE, U.MAP_EXECUTABLE,
];

export function mapFlags(r: Rng, anon: boolean): Arg {
  if (r.chance(0.05)) return r.bits32();
  let f: number = r.pick([U.MAP_PRIVATE, U.MAP_PRIVATE, U.MAP_SHARED, U.MAP_SHARED_VALIDATE, U.MAP_DROPPABLE, 0, 0xf]);
  if (anon) f |= U.MAP_ANONYMOUS;
  for (const o of MAP_OPTIONAL) if (r.chance(0.05)) f |= o;
  return f;
}

export function fd(r: Rng): Arg {
  if (r.chance(0.6)) return { fd: r.int(64) };
  return r.pick([-1, 0, 1, 2, 3, 4, 5, 9, 63, 64, 1023, 1024, 4096, 2 ** 31 - 1, 2 ** 31, U.AT_FDCWD, 2 ** 32, 'NaN', 0.5]);
}

/** Paths: /proc and /sys files, devices, tmpfs names the cleanup knows, and bad ones. */
export const PATHS: readonly string[] = [
  '/', '/tmp', '/tmp/fz0', '/tmp/fz1', '/tmp/fz2', '/tmp/fzd', '/tmp/fzd/a', '/tmp/fz0/x', '/dev/null', '/dev/zero', '/dev/vbuf',
  '/dev/hugepages', '/dev/hugepages/fz0', '/dev/hugepages/fz1', '/sys/fs/mshare', '/sys/fs/mshare/fz0', '/sys/fs/mshare/fz1',
  '/proc/self/maps', '/proc/self/smaps', '/proc/self/smaps_rollup', '/proc/self/status', '/proc/self/pagemap',
  '/proc/self/clear_refs', '/proc/self/oom_score', '/proc/self/oom_score_adj', '/proc/self/oom_adj', '/proc/self/fd',
  '/proc/self/fd/0', '/proc/self/fd/3', '/proc/self/fd/4', '/proc/self/exe', '/proc/self/cwd', '/proc/self/root', '/proc/self',
  '/proc/1/maps', '/proc/2/smaps', '/proc/3/status', '/proc/4/pagemap', '/proc/meminfo', '/proc/vmstat', '/proc/swaps',
  '/proc/zoneinfo', '/proc/sys/vm/min_free_kbytes', '/proc/sys/vm/watermark_scale_factor', '/proc/sys/vm/swappiness',
  '/proc/sys/vm/page-cluster', '/proc/sys/vm/memfd_noexec', '/sys/kernel/mm/transparent_hugepage/enabled',
  '/sys/kernel/mm/transparent_hugepage/use_zero_page', '/sys/kernel/mm/transparent_hugepage/hpage_pmd_size',
  '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages', '/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages',
  '/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages', '/nonexistent', '', '.', '..', '/tmp/../proc/self/maps',
  'relative', '/proc/self/fd/../maps', '/tmp/fz0/',
];
/**
 * What writes to files and attributes say now and then (else a buffer's bytes). Small
 * numbers only: nr_hugepages of 100 or min_free_kbytes of 10^6 takes all of a small
 * machine's memory, after which no process can start (seed 2026 sat idle that way).
 */
export const TEXTS = ['0', '1', '2', '3', '4', '5', '-1', 'never', 'always', 'madvise', '[always]', '\n', ' 1 ', '0x10', 'fz', '99999999999999999999999'];

export function path(r: Rng): Arg {
  const x = r.next();
  if (x < 0.8) return { s: r.pick(PATHS) };
  if (x < 0.85) return { s: 'a/'.repeat(r.int(3000)) };
  return addr(r);
}

/** A buffer for the kernel to fill or read: arena bytes mostly, else any address. */
export function buf(r: Rng, n: number): Arg {
  return r.chance(0.75) ? { b: n } : addr(r);
}

/** Count for read/write-like calls: small mostly, boundaries sometimes. */
export function count(r: Rng): Arg {
  return r.chance(0.6) ? r.pick([0, 1, 8, 64, 100, 4096, 8192, 65536]) : len(r);
}

export function off(r: Rng): Arg {
  return r.chance(0.6) ? r.int(8) * PAGE : r.pick([1, -1, -PAGE, 2 ** 31, 2 ** 32, TOP, 2 ** 53, 2 ** 63, 2 ** 64, 'NaN']);
}

export function sig(r: Rng): Arg {
  return r.chance(0.8) ? r.pick([0, 1, 6, 9, 9, 10, 11, 13, 15, 17, 18, 19, 20, 28, 31, 32, 64]) : r.pick(BOUNDARY);
}

export function pid(r: Rng): Arg {
  const x = r.next();
  if (x < 0.05) return { me: r.chance(0.5) ? 'pid' : 'tid' };
  if (x < 0.4) return { kid: 0 };
  if (x < 0.8) return 1 + r.int(40);
  return r.pick([0, -1, -2, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 'NaN']);
}

/** A join or wait target that never names a sibling fuzz thread (two joining each other would hang for good). */
export function ownTarget(r: Rng): Arg {
  return r.chance(0.6) ? { kid: 0 } : r.pick([{ me: 'tid' } as Arg, 0, -1, 2 ** 31, 2 ** 32, 'NaN', 100000]);
}

