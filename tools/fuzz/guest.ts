// The fuzzer's guest: a process whose threads each run a list of calls (generated from the
// run's seed, or given by a reproducer) through the raw syscall entry, resolving each
// symbolic argument (args.ts) against what the thread holds: its live mappings, its
// descriptors, its last child, and a scratch arena for strings and structures.
//
//   main(['gen', seed, proc, threads, callsPerThread, hogPages])   a fuzz process
//   main(['replay', json])        threads given as [[call, ...], ...] (a reproducer's)
//   main(['child'])               what ptlab_spawn starts: exits at once
//   main(['snapshot' | 'cleanup', json])   the host's bookkeeping (cleanup.ts)
//   main(['kill', pid])           SIGKILL to a fuzz process that deadlocked itself (run.ts)
//
// Each thread reports on REPORT_FD (a copy of stderr no generated call names) every 64
// calls, and before and after a call that may end it: a line "\x01FZ " + JSON {p, t, i, c,
// d, pm, n?} (process, thread, the index of its next call, the result counts since the last
// report: name -> "ok" or errno name -> count; the time in calls since then: name ->
// [calls, ms, longest ms], and ms of it in memory-pressure phases; n: the name of the next
// call, if it may end the thread). Reads and writes of pipes seldom block for good: every
// descriptor the thread obtains is made O_NONBLOCK, F_SETFL keeps O_NONBLOCK set, and a read
// or write first makes its descriptor O_NONBLOCK (a sibling's pipe may not be yet). A
// sibling's new pipe can still take the descriptor's number between that and the read; a
// process that deadlocks itself so is ended by the run (run.ts selfDeadlocked).
// A SIGSEGV or SIGBUS in the fuzzer's own accesses (a touch, the arena) is caught.

import {
  fcntl, load32, PROT_READ, PROT_WRITE, MAP_ANONYMOUS, MAP_PRIVATE, programPath, sigaction, SIGBUS, SIGPIPE, SIGSEGV, store8, store32, store64,
  syscall, threadCreate, threadJoin, writeBytes, ERRNO_NAMES, MAX_ERRNO, F_DUPFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, O_NONBLOCK,
  SYS_mmap, SYS_munmap,
} from '../../userland/index.ts';
import * as U from '../../kernel/uapi.ts';
import { type Arg, type Call, PAGE, REPORT_FD } from './args.ts';
import { calls } from './specs.ts';
import { cleanup, snapshot } from './cleanup.ts';

const NR: Record<string, number> = Object.fromEntries(Object.entries(U.SYSCALL_NAMES).map(([nr, name]) => [name, Number(nr)]));
const ARENA = 256 * 1024;
const MAX_MAPS = 32;
const MAX_FDS = 64;
/** Calls that may block on a pipe. */
const IO = new Set(['read', 'write', 'pread64', 'pwrite64']);
const FD_RESULT = new Set(['open', 'openat', 'dup', 'dup2', 'dup3', 'memfd_create', 'refpage_create']);

class Fault extends Error {}

/** What one thread holds and counts. */
class Thread {
  maps: { addr: number; len: number }[] = [];
  fds: number[] = [];
  kid = 0;
  arena = 0;
  top = 0;
  tally: Record<string, Record<string, number>> = {};
  /** Time in calls since the last report, by name: [calls, total ms, longest ms]. */
  time: Record<string, [number, number, number]> = {};
  /** Time in calls of memory-pressure phases since the last report, ms. */
  pressureMs = 0;
  readonly self: { pid: number; tid: number };

  constructor(readonly proc: number, readonly thread: number) {
    this.self = { pid: syscall(U.SYS_getpid), tid: syscall(U.SYS_gettid) };
  }

  /**
   * Report the counts so far and the next call's index (and `extra`, a line of its own);
   * `about`: the name of that next call, when it may end the thread or the process (the
   * host then counts the signal or the end as its result).
   */
  report(next: number, extra = '', about?: string): void {
    const round = (x: number): number => Math.round(x * 1000) / 1000;
    const d = Object.fromEntries(Object.entries(this.time).map(([k, [n, ms, max]]) => [k, [n, round(ms), round(max)]]));
    const line = `\x01FZ ${JSON.stringify({ p: this.proc, t: this.thread, i: next, c: this.tally, d, pm: round(this.pressureMs), ...(about === undefined ? {} : { n: about }) })}\n${extra}`;
    this.tally = {};
    this.time = {};
    this.pressureMs = 0;
    try {
      const bytes = new TextEncoder().encode(line);
      this.top = 0;
      const p = this.alloc(bytes.length);
      writeBytes(p, bytes);
      syscall(U.SYS_write, REPORT_FD, p, bytes.length);
    } catch {
      // the arena is gone: these counts are lost, the next report maps another
      this.loseArena();
    }
  }

  /** A call's time (ms), for the profile. */
  timed(c: Call, ms: number): void {
    const t = (this.time[c.c] ??= [0, 0, 0]);
    t[0]++;
    t[1] += ms;
    t[2] = Math.max(t[2], ms);
    if (c.ph === 1) this.pressureMs += ms;
  }

  count(name: string, r: number): void {
    // NaN: the fuzzer's own access faulted (a touch: 'fault'; a call's arguments could not be
    // built in the arena, which a fuzz call unmapped: 'skipped', the call was not made).
    const lost = name.startsWith('@') ? 'fault' : 'skipped';
    const key = r < 0 && r >= -MAX_ERRNO ? (ERRNO_NAMES[-r] ?? `E${-r}`) : Number.isNaN(r) ? lost : 'ok';
    const t = (this.tally[name] ??= {});
    t[key] = (t[key] ?? 0) + 1;
  }

  /** n bytes of arena (a new arena if the old one is gone); its address. */
  alloc(n: number): number {
    const size = Math.min(Math.max(n, 8), 64 * 1024);
    if (this.arena === 0 || this.top + size > ARENA) {
      if (this.arena === 0) {
        const a = syscall(SYS_mmap, 0, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a < 0 && a >= -MAX_ERRNO) throw new Fault('no arena');
        this.arena = a;
      }
      this.top = 0;
    }
    const at = this.arena + this.top;
    this.top += (size + 7) & ~7;
    return at;
  }

  /** Drop the arena (a fault in it: something unmapped or protected it); the next alloc maps another. */
  loseArena(): void {
    if (this.arena !== 0) syscall(SYS_munmap, this.arena, ARENA);
    this.arena = 0;
  }
}

function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

function cString(th: Thread, text: string): number {
  const bytes = new TextEncoder().encode(text);
  const p = th.alloc(bytes.length + 1);
  writeBytes(p, bytes);
  store8(p + bytes.length, 0);
  return p;
}

function cloneDesc(exportName: string): string {
  return JSON.stringify({ path: programPath(), exportName, arg: null });
}

const SPAWN_DESC = (): string => JSON.stringify({ path: programPath(), argv: ['child'] });

function store(p: number, width: number, v: number): void {
  if (width === 1) store8(p, v);
  else if (width === 4) store32(p, v | 0);
  else store64(p, Number.isFinite(v) ? BigInt.asIntN(64, BigInt(Math.trunc(Math.min(Math.max(v, -(2 ** 63)), 2 ** 64)))) : -1n);
}

/** The value an argument stands for, now. */
function resolve(th: Thread, a: Arg): number {
  if (typeof a === 'number' || typeof a === 'string') return num(a);
  if ('m' in a) return (th.maps.length === 0 ? 0x100000000000 : th.maps[a.m % th.maps.length].addr) + a.o;
  if ('ml' in a) return (th.maps.length === 0 ? PAGE : th.maps[a.ml % th.maps.length].len) + a.o;
  if ('fd' in a) return th.fds.length === 0 ? -1 : th.fds[a.fd % th.fds.length];
  if ('s' in a) return cString(th, a.s);
  if ('b' in a) {
    const p = th.alloc(a.b);
    for (const [at, width, v] of a.f ?? []) store(p + at, width, resolve(th, v));
    return p;
  }
  if ('clone' in a) return cString(th, cloneDesc(a.clone));
  if ('clonel' in a) return new TextEncoder().encode(cloneDesc(a.clonel)).length;
  if ('spawn' in a) return cString(th, SPAWN_DESC());
  if ('spawnl' in a) return new TextEncoder().encode(SPAWN_DESC()).length;
  if ('me' in a) return th.self[a.me];
  return th.kid;
}

/** Make fd non-blocking, if it is a descriptor. */
function nonblock(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd >= 2 ** 31) return;
  const fl = syscall(U.SYS_fcntl, fd, F_GETFL, 0);
  if (fl >= 0 && (fl & O_NONBLOCK) === 0) syscall(U.SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
}

function addFd(th: Thread, fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd === REPORT_FD) return;
  nonblock(fd);
  if (!th.fds.includes(fd)) th.fds.push(fd);
  if (th.fds.length > MAX_FDS) th.fds.shift();
}

/** What a successful call leaves the thread holding. */
function learn(th: Thread, c: Call, v: number[], r: number): void {
  const ok = r >= 0 || r < -MAX_ERRNO;
  if (!ok) return;
  if ((c.c === 'mmap' || c.c === 'mremap') && Number.isInteger(r)) {
    const l = c.c === 'mmap' ? v[1] : v[2];
    th.maps.push({ addr: r, len: Number.isInteger(l) && l > 0 && l < 2 ** 47 ? l : PAGE });
    if (th.maps.length > MAX_MAPS) th.maps.shift();
  } else if (c.c === 'munmap') {
    th.maps = th.maps.filter((m) => !(m.addr >= v[0] && m.addr + m.len <= v[0] + v[1]));
  } else if (FD_RESULT.has(c.c) || (c.c === 'fcntl' && (v[1] === F_DUPFD || v[1] === F_DUPFD_CLOEXEC))) {
    addFd(th, r);
  } else if (c.c === 'pipe' || c.c === 'pipe2') {
    addFd(th, load32(v[0]));
    addFd(th, load32(v[0] + 4));
  } else if (c.c === 'close') {
    th.fds = th.fds.filter((f) => f !== v[0]);
  } else if ((c.c === 'clone' || c.c === 'ptlab_spawn') && r > 0) {
    th.kid = r;
  }
}

/** Touch pages of a mapping: [mapRef, len, write]. */
function touch(v: number[]): void {
  const [at, n, write] = v;
  for (let p = 0; p < n; p += PAGE) {
    if (write) store8(at + p, p & 0xff);
    else load32(at + p);
  }
}

/** Map `pages` pages of private anonymous memory and write each: memory pressure. */
function hog(th: Thread, pages: number): void {
  const a = syscall(SYS_mmap, 0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a < 0 && a >= -MAX_ERRNO) return;
  th.maps.push({ addr: a, len: pages * PAGE });
  if (th.maps.length > MAX_MAPS) th.maps.shift();
  for (let p = 0; p < pages; p++) store8(a + p * PAGE, 1);
}

/** A call that takes this long is reported (the slowest few are listed at the end). */
const SLOW_MS = 100;

/**
 * Calls that may end the thread or the process (or, @hog, draw the OOM killer): reported
 * before, with their name, and after, so that the host knows what a thread died in.
 */
const ENDS = new Set(['exit', 'exit_group', 'kill', 'tkill', 'clone', 'vfork', '@hog']);

/** Run one call, reporting around a call that may end the thread. */
function runCall(th: Thread, c: Call): void {
  const ends = ENDS.has(c.c);
  if (ends) th.report(c.i, '', c.c);
  runMade(th, c);
  if (ends) th.report(c.i + 1);
}

/** Resolve a call's arguments and make it; count its result and learn what it gave. */
function runMade(th: Thread, c: Call): void {
  let v: number[];
  try {
    th.top = 0;
    v = c.a.map((a) => resolve(th, a));
  } catch {
    th.loseArena();
    th.count(c.c, NaN);
    return;
  }
  if (c.c === '@touch' || c.c === '@hog') {
    const t0 = performance.now();
    try {
      if (c.c === '@touch') touch(v);
      else hog(th, v[0]);
      th.count(c.c, 0);
    } catch {
      th.count(c.c, NaN);
    }
    th.timed(c, performance.now() - t0);
    return;
  }
  if (c.c === 'fcntl' && v[1] === F_SETFL) v[2] = Number.isFinite(v[2]) ? v[2] | O_NONBLOCK : v[2];
  // A sibling thread's new pipe is blocking until that thread has learnt it: a read or write
  // here first makes its descriptor non-blocking (else it could wait for good).
  if (IO.has(c.c)) nonblock(v[0]);
  const t0 = performance.now();
  const r = syscall(NR[c.c], v[0], v[1], v[2], v[3], v[4], v[5]);
  const ms = performance.now() - t0;
  th.count(c.c, r);
  th.timed(c, ms);
  if (ms >= SLOW_MS) th.report(c.i + 1, `\x01FZSLOW ${JSON.stringify({ ms: Math.round(ms), p: th.proc, t: th.thread, i: c.i, c: c.c, a: v, r })}\n`);
  try {
    learn(th, c, v, r);
  } catch {
    // a pipe's result in a buffer no longer mapped: the descriptors are not learnt
  }
}

function onFault(): never {
  throw new Fault('fault');
}

/**
 * Run a thread's calls; returns when it is done. An exception of the fuzzer's own (a bug
 * here, not the kernel's) is reported as "\x01FZERR " + JSON {p, t, i, error} and rethrown.
 */
function runThread(proc: number, thread: number, list: Iterable<Call>): number {
  sigaction(SIGSEGV, onFault);
  sigaction(SIGBUS, onFault);
  const th = new Thread(proc, thread);
  let k = 0;
  let at = 0;
  try {
    for (const c of list) {
      at = c.i;
      if (k++ % 64 === 0) th.report(c.i);
      runCall(th, c);
    }
  } catch (e) {
    const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    th.report(at, `\x01FZERR ${JSON.stringify({ p: proc, t: thread, i: at, error })}\n`);
    throw e;
  }
  th.report(k === 0 ? 0 : at + 1);
  return 0;
}

interface ThreadArg {
  proc: number;
  thread: number;
  gen?: [number, number, number];
  calls?: Call[];
}

function callsOf(a: ThreadArg): Iterable<Call> {
  if (a.calls !== undefined) return a.calls;
  const [seed, n, hogPages] = a.gen!;
  return calls(seed, a.proc, a.thread, n, hogPages);
}

/** A fuzz thread other than the main one. */
export function fuzzThread(a: ThreadArg): number {
  return runThread(a.proc, a.thread, callsOf(a));
}

/** What the fuzz calls clone to run: ends at once. */
export function fuzzChild(): number {
  return 0;
}

export default function main(argv: string[]): number {
  const mode = argv[0];
  if (mode === 'child') return 0;
  if (mode === 'snapshot') return snapshot();
  if (mode === 'cleanup') return cleanup(JSON.parse(argv[1]));
  if (mode === 'kill') return syscall(U.SYS_kill, Number(argv[1]), U.SIGKILL) === 0 ? 0 : 1;
  if (fcntl(2, F_DUPFD, REPORT_FD) !== REPORT_FD) return 2;
  // A write to a pipe without readers is EPIPE, not the end of the process (a fuzz
  // rt_sigaction may put SIGPIPE's default back): a fuzz process that lives long makes
  // more calls per worker it cost to start.
  sigaction(SIGPIPE, 'ignore');
  let args: ThreadArg[];
  if (mode === 'gen') {
    const [seed, proc, threads, n, hogPages] = argv.slice(1).map(Number);
    args = Array.from({ length: threads }, (_, t) => ({ proc, thread: t, gen: [seed, n, hogPages] }));
  } else {
    const r = JSON.parse(argv[1]) as { proc: number; threads: Call[][] };
    args = r.threads.map((calls, t) => ({ proc: r.proc, thread: t, calls }));
  }
  const tids: number[] = [];
  for (const a of args.slice(1)) {
    try {
      tids.push(threadCreate('fuzzThread', a));
    } catch {
      // no CPU slot free (EAGAIN), or a fuzz call broke the stack: fewer threads
    }
  }
  runThread(args[0].proc, 0, callsOf(args[0]));
  for (const tid of tids) {
    try {
      threadJoin(tid);
    } catch {
      // already gone (an exit, a fuzz join)
    }
  }
  return 0;
}
