// The fuzzer's calls: for every system call in the kernel's table an argument recipe (a
// test checks that none is missing), its weight in the mix, and generate(), the list a
// thread runs. Pseudo-operations join the mix: "@touch" reads or writes pages of a live
// mapping (faults, COW, swap-in), "@hog" maps and fills many pages (memory pressure:
// reclaim, swap, the OOM killer). A thread's list alternates phases of 100 calls: mostly
// ordinary ones, some of memory pressure (hogs, touches, MADV_PAGEOUT and MADV_COLD).
//
// Imports only uapi and args.ts: this module is bundled into the guest.

import * as U from '../../kernel/uapi.ts';
import {
  addr, type Arg, buf, type Call, count, fd, int, len, mapFlags, off, ownTarget, PAGE, path, pid, prot, type Rng, Rng as RngClass, sig, TEXTS,
} from './args.ts';

type Recipe = (r: Rng) => Arg[];

const PAGEMAP_SCAN = ((3 << 30) | (96 << 16) | (0x66 << 8) | 16) >>> 0;
const IOCTLS = [U.FIONREAD, U.VBUF_CREATE, U.VBUF_HARVEST, U.VBUF_DESTROY, U.MSHAREFS_CREATE_MAPPING, U.MSHAREFS_UNMAP, PAGEMAP_SCAN, 0, 0x5401];
const FCNTLS = [
  U.F_DUPFD, U.F_GETFD, U.F_SETFD, U.F_GETFL, U.F_SETFL, U.F_DUPFD_CLOEXEC, U.F_ADD_SEALS, U.F_GET_SEALS, U.F_SETPIPE_SZ, U.F_GETPIPE_SZ, 5, 1024,
];
const ADVICE = [
  U.MADV_NORMAL, U.MADV_RANDOM, U.MADV_SEQUENTIAL, U.MADV_WILLNEED, U.MADV_DONTNEED, U.MADV_FREE, U.MADV_REMOVE, U.MADV_DONTFORK,
  U.MADV_DOFORK, U.MADV_MERGEABLE, U.MADV_UNMERGEABLE, U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE, U.MADV_DONTDUMP, U.MADV_DODUMP,
  U.MADV_WIPEONFORK, U.MADV_KEEPONFORK, U.MADV_COLD, U.MADV_PAGEOUT, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE,
  U.MADV_DONTNEED_LOCKED, U.MADV_COLLAPSE, U.MADV_HWPOISON, U.MADV_SOFT_OFFLINE, U.MADV_GUARD_INSTALL, U.MADV_GUARD_REMOVE, 26, 99,
];
const OPEN_OPTIONAL = [U.O_CREAT, U.O_EXCL, U.O_TRUNC, U.O_APPEND, U.O_NONBLOCK, U.O_DIRECTORY, U.O_NOFOLLOW, U.O_CLOEXEC, U.O_PATH, U.O_DIRECT, U.O_NOATIME, 0o20200000 /* O_TMPFILE */];
const CLONES = [U.CLONE_THREAD_FLAGS, U.FORK_FLAGS, U.VFORK_FLAGS, U.CLONE_VM | U.FORK_FLAGS, U.CLONE_FILES | U.FORK_FLAGS, U.CLONE_THREAD, U.CLONE_NEWNS];
const EXPORTS = ['fuzzChild', 'fuzzChild', 'nosuchExport', ''];

function oflags(r: Rng): Arg {
  if (r.chance(0.05)) return r.bits32();
  let f = r.int(3);
  for (const o of OPEN_OPTIONAL) if (r.chance(0.1)) f |= o;
  return f;
}

/** The bytes a write passes: a text (for attributes and /proc knobs) or a buffer. */
function writeSrc(r: Rng): [Arg, Arg] {
  if (r.chance(0.35)) {
    const t = r.pick(TEXTS);
    return [{ s: t }, r.chance(0.8) ? t.length : t.length + 1];
  }
  return [buf(r, 4096), count(r)];
}

/** A structure in the arena: n bytes whose listed fields are set. */
function struct(n: number, fields: [number, number, Arg][]): Arg {
  return { b: n, f: fields };
}

function ioctlArg(r: Rng, cmd: number): Arg {
  if (r.chance(0.2)) return addr(r);
  if (cmd === U.VBUF_CREATE) return struct(16, [[0, 4, r.pick([0, 1, 16, 512, 2 ** 31, 2 ** 32 - 1])]]);
  if (cmd === U.VBUF_HARVEST) return struct(24, [[0, 4, r.int(4)], [8, 8, addr(r)]]);
  if (cmd === U.MSHAREFS_CREATE_MAPPING) {
    return struct(40, [[0, 8, r.int(4) * 2 ** 21], [8, 8, len(r)], [16, 8, off(r)], [24, 4, prot(r)], [28, 4, mapFlags(r, r.chance(0.7))], [32, 4, fd(r)]]);
  }
  if (cmd === U.MSHAREFS_UNMAP) return struct(16, [[0, 8, r.int(4) * 2 ** 21], [8, 8, len(r)]]);
  if (cmd === PAGEMAP_SCAN) {
    return struct(96, [[0, 8, r.chance(0.8) ? 96 : int(r)], [8, 8, r.int(4)], [16, 8, addr(r)], [24, 8, addr(r)], [40, 8, { b: 4096 }],
      [48, 8, r.int(300)], [56, 8, r.int(64)], [64, 8, r.int(256)], [72, 8, r.int(256)], [80, 8, r.int(256)], [88, 8, r.int(256)]]);
  }
  return buf(r, 128);
}

function rlimitBuf(r: Rng): Arg {
  const v = (): Arg => r.pick([0, 1, 4096, 2 ** 20, 2 ** 30, 2 ** 47, 2 ** 63, 2 ** 64, -1, 'Infinity']);
  return r.chance(0.8) ? struct(16, [[0, 8, v()], [8, 8, v()]]) : addr(r);
}

function capHeader(r: Rng): Arg {
  if (r.chance(0.1)) return addr(r);
  const version = r.pick([U._LINUX_CAPABILITY_VERSION_3, U._LINUX_CAPABILITY_VERSION_3, 0x19980330, 0x20071026, 0, 1]);
  return struct(8, [[0, 4, version], [4, 4, r.chance(0.7) ? 0 : pid(r)]]);
}

function prctlArgs(r: Rng): Arg[] {
  const x = r.next();
  if (x < 0.5) return [U.PR_SET_VMA, r.chance(0.9) ? U.PR_SET_VMA_ANON_NAME : int(r), addr(r), len(r), r.chance(0.7) ? { s: r.pick(['fz', 'a b', 'x'.repeat(80), '[x]', '']) } : r.chance(0.5) ? 0 : addr(r)];
  if (x < 0.7) return [U.PR_SET_NAME, r.chance(0.8) ? { s: r.pick(['fz', 'x'.repeat(40), '']) } : addr(r)];
  if (x < 0.85) return [U.PR_GET_NAME, buf(r, 16)];
  return [int(r, 80), int(r), int(r), int(r), int(r)];
}

/** Argument recipes by system call name. */
export const RECIPES: Readonly<Record<string, Recipe>> = {
  read: (r) => [fd(r), buf(r, 4096), count(r)],
  write: (r) => [fd(r), ...writeSrc(r)],
  open: (r) => [path(r), oflags(r), r.pick([0, 0o644, 0o777, -1])],
  close: (r) => [fd(r)],
  fstat: (r) => [fd(r), buf(r, 144)],
  lseek: (r) => [fd(r), off(r), r.chance(0.8) ? r.int(5) : int(r)],
  ioctl: (r) => {
    const cmd = r.chance(0.9) ? r.pick(IOCTLS) : r.bits32();
    return [fd(r), cmd, ioctlArg(r, cmd)];
  },
  pread64: (r) => [fd(r), buf(r, 4096), count(r), off(r)],
  pwrite64: (r) => [fd(r), ...writeSrc(r), off(r)],
  dup: (r) => [fd(r)],
  dup2: (r) => [fd(r), r.chance(0.5) ? fd(r) : r.int(40)],
  fcntl: (r) => [fd(r), r.chance(0.9) ? r.pick(FCNTLS) : int(r), r.chance(0.7) ? r.pick([0, 1, 3, 10, U.O_APPEND, U.O_DIRECT, 0x3f, 4096, 2 ** 20]) : int(r)],
  ftruncate: (r) => [fd(r), r.chance(0.6) ? r.int(64) * PAGE + r.pick([0, 0, 1]) : len(r)],
  mkdir: (r) => [path(r), r.pick([0o755, 0, -1])],
  unlink: (r) => [path(r)],
  readlink: (r) => [path(r), buf(r, 4096), count(r)],
  openat: (r) => [r.chance(0.6) ? U.AT_FDCWD : fd(r), path(r), oflags(r), r.pick([0, 0o644, -1])],
  mkdirat: (r) => [r.chance(0.6) ? U.AT_FDCWD : fd(r), path(r), r.pick([0o755, 0])],
  unlinkat: (r) => [r.chance(0.6) ? U.AT_FDCWD : fd(r), path(r), r.pick([0, U.AT_REMOVEDIR, 0x100, -1])],
  readlinkat: (r) => [r.chance(0.6) ? U.AT_FDCWD : fd(r), path(r), buf(r, 4096), count(r)],
  getdents64: (r) => [fd(r), buf(r, 4096), count(r)],
  fallocate: (r) => [fd(r), r.chance(0.8) ? r.int(4) : int(r), off(r), r.chance(0.6) ? r.int(64) * PAGE : len(r)],
  dup3: (r) => [fd(r), r.chance(0.5) ? fd(r) : r.int(40), r.pick([0, U.O_CLOEXEC, 1, -1])],
  memfd_create: (r) => [r.chance(0.85) ? { s: r.pick(['fz', '', 'x'.repeat(300)]) } : addr(r), r.chance(0.8) ? r.int(32) : int(r)],
  pipe: (r) => [buf(r, 8)],
  pipe2: (r) => [buf(r, 8), r.chance(0.8) ? r.pick([0, U.O_CLOEXEC, U.O_NONBLOCK, U.O_DIRECT, U.O_CLOEXEC | U.O_DIRECT]) : int(r)],
  mmap: (r) => {
    const anon = r.chance(0.75);
    return [r.chance(0.5) ? 0 : addr(r), len(r), prot(r), mapFlags(r, anon), anon ? r.pick([-1, -1, 0]) : fd(r), anon ? 0 : off(r)];
  },
  mprotect: (r) => [addr(r), len(r), prot(r)],
  munmap: (r) => [addr(r), len(r)],
  brk: (r) => [r.chance(0.3) ? 0 : addr(r)],
  mremap: (r) => [addr(r), len(r), len(r), r.chance(0.8) ? r.pick([0, 1, 3, 5, 7, 2, 4]) : int(r), r.chance(0.5) ? 0 : addr(r)],
  msync: (r) => [addr(r), len(r), r.chance(0.8) ? r.pick([U.MS_ASYNC, U.MS_SYNC, U.MS_INVALIDATE, U.MS_ASYNC | U.MS_SYNC, 0]) : int(r)],
  mincore: (r) => [addr(r), len(r), buf(r, 4096)],
  madvise: (r) => [addr(r), len(r), r.chance(0.9) ? r.pick(ADVICE) : int(r)],
  mlock: (r) => [addr(r), len(r)],
  munlock: (r) => [addr(r), len(r)],
  mlockall: (r) => [r.chance(0.8) ? r.int(8) : int(r)],
  munlockall: () => [],
  mlock2: (r) => [addr(r), len(r), r.chance(0.8) ? r.int(2) : int(r)],
  refpage_create: (r) => [buf(r, PAGE), r.pick([PAGE, 2 * PAGE, 2 ** 21, 1, 0, -1, 2 ** 32, 2 ** 64]), r.chance(0.8) ? 0 : int(r)],
  mseal: (r) => [addr(r), len(r), r.chance(0.8) ? 0 : int(r)],
  rt_sigaction: (r) => [sig(r), r.chance(0.8) ? r.pick([-1, 0, 1, 2]) : int(r)],
  sched_yield: () => [],
  getpid: () => [],
  clone: (r) => {
    const name = r.pick(EXPORTS);
    const flags = r.chance(0.85) ? r.pick(CLONES) : int(r);
    return r.chance(0.85) ? [flags, { clone: name }, { clonel: name }] : [flags, buf(r, 64), count(r)];
  },
  fork: () => [],
  vfork: () => [],
  exit: (r) => [r.int(256)],
  wait4: (r) => [ownTarget(r), buf(r, 4), r.chance(0.8) ? r.pick([U.WNOHANG, U.WNOHANG, 0]) : int(r), r.chance(0.8) ? 0 : addr(r)],
  kill: (r) => [pid(r), sig(r)],
  getrlimit: (r) => [r.chance(0.8) ? r.int(17) : int(r), buf(r, 16)],
  getppid: () => [],
  capget: (r) => [capHeader(r), buf(r, 24)],
  capset: (r) => [capHeader(r), r.chance(0.8) ? struct(24, [[0, 4, int(r)], [4, 4, int(r)], [8, 4, int(r)], [12, 4, int(r)], [16, 4, int(r)], [20, 4, int(r)]]) : addr(r)],
  setrlimit: (r) => [r.chance(0.8) ? r.int(17) : int(r), rlimitBuf(r)],
  gettid: () => [],
  tkill: (r) => [pid(r), sig(r)],
  exit_group: (r) => [r.int(256)],
  prlimit64: (r) => [r.chance(0.7) ? 0 : pid(r), r.chance(0.8) ? r.int(17) : int(r), r.chance(0.5) ? 0 : rlimitBuf(r), r.chance(0.5) ? 0 : buf(r, 16)],
  prctl: prctlArgs,
  ptlab_spawn: (r) => (r.chance(0.85) ? [{ spawn: 0 }, { spawnl: 0 }] : [buf(r, 64), count(r)]),
  ptlab_thread_join: (r) => [ownTarget(r)],
  ptlab_report: (r) => [r.chance(0.8) ? { s: r.pick(['fz', 'x'.repeat(300), '']) } : addr(r), r.pick([1.5, 0, -1, 2 ** 53, NaN, Infinity])],
};

/**
 * Weights: memory calls come most often; calls that end a thread or a process (exit,
 * exit_group, a kill that may name the caller) rarely, so a process lives long enough to
 * build state. A clone or ptlab_spawn that succeeds starts a host worker (about 120 ms of
 * CPU, a hundred times a memory call), so they come rarely too: still hundreds of threads
 * and processes made and ended per 100,000 calls. A weight names a call's share relative to 1.
 */
const WEIGHT: Readonly<Record<string, number>> = {
  mmap: 6, munmap: 4, mprotect: 4, mremap: 3, madvise: 5, mlock: 1.5, munlock: 1, mincore: 1.5, msync: 1.5, mseal: 1, brk: 1.5,
  read: 2, write: 2, open: 2, openat: 2, close: 2, ioctl: 2, pread64: 1.5, pwrite64: 1.5, ftruncate: 1.5, fallocate: 1.5,
  memfd_create: 1.5, exit: 0.03, exit_group: 0.03, kill: 0.2, tkill: 0.2, clone: 0.15, ptlab_spawn: 0.1, fork: 0.2, vfork: 0.2, ptlab_report: 0.3,
  '@touch': 4, '@hog': 0.05,
};
/** In a memory-pressure phase: these weights instead. */
const PRESSURE: Readonly<Record<string, number>> = { '@hog': 1, '@touch': 15, madvise: 10, mmap: 8, munmap: 4 };

function touchArgs(r: Rng): Arg[] {
  return [{ m: r.int(32), o: r.pick([0, 0, PAGE, 7, -PAGE]) }, r.pick([1, PAGE, 4 * PAGE, 16 * PAGE, 64 * PAGE]), r.int(2)];
}

/** A weighted table of every name: syscalls by their weight, pseudo-ops. */
function table(names: readonly string[], pressure: boolean): { names: string[]; cum: number[] } {
  const all = [...names, '@touch', '@hog'];
  const cum: number[] = [];
  let sum = 0;
  for (const n of all) {
    sum += (pressure ? PRESSURE[n] : undefined) ?? WEIGHT[n] ?? 1;
    cum.push(sum);
  }
  return { names: all, cum };
}

function draw(r: Rng, t: { names: string[]; cum: number[] }): string {
  const x = r.next() * t.cum[t.cum.length - 1];
  let lo = 0;
  while (t.cum[lo] <= x) lo++;
  return t.names[lo];
}

/**
 * The calls thread `thread` of fuzz process `proc` runs in a run seeded `seed`: n of them,
 * memory-hog sizes up to `hogPages` pages, one at a time. The guest draws each just before
 * it makes it: generating a whole list first would be a stretch of JavaScript without
 * memory accesses, during which the thread's CPU cannot take a shootdown and its siblings'
 * munmaps wait out the shootdown timeout.
 */
export function* calls(seed: number, proc: number, thread: number, n: number, hogPages: number): Generator<Call> {
  const r = new RngClass(seed, proc, thread);
  const names = Object.keys(RECIPES);
  const normal = table(names, false);
  const pressure = table(names, true);
  let phase = normal;
  for (let i = 0; i < n; i++) {
    if (i % 100 === 0) phase = r.chance(0.2) ? pressure : normal;
    const c = draw(r, phase);
    const a = c === '@touch' ? touchArgs(r) : c === '@hog' ? [1 + r.int(Math.max(1, hogPages))] : RECIPES[c](r);
    yield phase === pressure ? { i, c, a, ph: 1 } : { i, c, a };
  }
}

/** The same calls as a list (deterministic: the host rebuilds what a guest ran). */
export function generate(seed: number, proc: number, thread: number, n: number, hogPages: number): Call[] {
  return [...calls(seed, proc, thread, n, hogPages)];
}
