// The fuzzer's host side: boot a machine, keep `concurrency` fuzz processes running from a
// queue of jobs, collect their reports, and check the invariants:
//   - the kernel thread never crashes (Machine.crashed), and no call oopses a process
//     ("Killed by a kernel bug" in an exit report);
//   - every call returns: a watchdog pings the kernel (meminfo) and watches each process's
//     reports; no answer, or no progress of a live process, for `watchdogMs` is a hang;
//   - after every process has exited and cleanup.ts put back what outlives processes,
//     free frames equal the boot count, no swap slot is used, no process is left.
// On a failure the run stops at once and says which calls were in flight (the control
// block's posted requests).

import { fileURLToPath } from 'node:url';
import { Machine, type MachineState, type ProcessExit } from '../../host/machine.ts';
import type { CounterValues } from '../../machine/index.ts';
import { postedRequest } from '../../kernel/index.ts';
import { SIGNAL_NAMES } from '../../kernel/uapi.ts';
import { addTimes, newProfile, type Profile, type Timing } from './profile.ts';
import { Watchdog } from './watchdog.ts';

export const GUEST = fileURLToPath(new URL('./guest.ts', import.meta.url));

export interface MachineSpec {
  memBytes: number;
  swapBytes: number;
  /** validateMm every this many requests (0: never). */
  validate: number;
  /**
   * Polls of a reply or the doorbell before a thread sleeps (Machine's `spin`; default 2000).
   * A dozen guest threads and the kernel share two host cores here, so spinning mostly
   * burns the CPU another thread needs.
   */
  spin?: number;
}

/** A fuzz process to run: its index and its argv (guest.ts's 'gen' or 'replay'), or another program's path and argv. */
export interface Job {
  proc: number;
  argv: string[];
  path?: string;
}

/** Fuzz processes 0, 1, 2, ... generated from a seed, started until `calls` calls were made. */
export interface GenPlan {
  seed: number;
  threads: number;
  /** Calls in each thread's list. */
  perThread: number;
  /** The largest memory hog, in pages. */
  hogPages: number;
  calls: number;
}

/** What a run starts: a list of processes (a reproducer's), or a plan. */
export type Jobs = { list: Job[] } | { gen: GenPlan };

/** The next job to start, or undefined when there is none. */
function jobSource(jobs: Jobs, calls: () => number): () => Job | undefined {
  if ('list' in jobs) {
    const queue = [...jobs.list];
    return () => queue.shift();
  }
  const g = jobs.gen;
  let k = 0;
  return () => (calls() >= g.calls ? undefined : { proc: k, argv: ['gen', String(g.seed), String(k++), String(g.threads), String(g.perThread), String(g.hogPages)] });
}

export type FailureKind = 'crash' | 'oops' | 'hang' | 'leak';

export interface Failure {
  kind: FailureKind;
  detail: string;
  /** The fuzz process it is pinned on (an oops, a hang of one process), if any. */
  proc?: number;
  /** Requests posted in the control block when it was seen: "cpu 3: mmap(0x0, ...)". */
  inflight: string[];
  /** A hang: every thread's state as SysRq 't' gives it (Machine.showState), if the kernel answered. */
  state?: string[];
}

/**
 * Counts by system call, then by result: "ok", an errno name, a signal name (the process
 * died of it during the call), "ended" (the call ended its thread or process, or a sibling
 * ended the process meanwhile), "fault" or "skipped" (guest.ts).
 */
export type Tally = Record<string, Record<string, number>>;

export interface RunResult {
  failure: Failure | null;
  /** Calls the processes reported as made. */
  calls: number;
  seconds: number;
  tally: Tally;
  /** How processes ended: "exit", or the report's first words ("Killed", ...). */
  ends: Record<string, number>;
  /** Per fuzz process, per thread, the index of the next call it reported. */
  progress: Map<number, number[]>;
  /** Processes running when the run stopped (all of them for a leak: every job ran). */
  live: number[];
  kernelLog: string[];
  /** Exceptions of the fuzzer's guest code (not kernel failures), the first few. */
  guestErrors: string[];
  /**
   * Fuzz processes that deadlocked themselves as a program can on Linux (every thread
   * asleep where Linux sleeps too: run.ts selfDeadlocked), each ended with SIGKILL: their
   * threads' states. Not failures.
   */
  deadlocks: string[];
  /** The slowest calls, at most 10. */
  slow: SlowCall[];
  /** The kernel's counters at the end (pgfault, oom_kill, pswpout, shootdown_timeouts, ...). */
  kernel: CounterValues;
  /** Where the time went (profile.ts). */
  profile: Profile;
  /** The run was stopped at its time limit (RunOptions.timeLimitMs) before it ended. */
  cutShort?: boolean;
}

/** A call that took long (100 ms or more), as the guest measured it: the kernel's time and any wait. */
export interface SlowCall {
  ms: number;
  p: number;
  t: number;
  i: number;
  c: string;
  a: number[];
  r: number;
}

export interface RunOptions {
  concurrency: number;
  /** A hang: no progress for this long (watchdog.ts says what counts as progress). */
  watchdogMs: number;
  /** A hang even with progress: the kernel busy, or a process silent, this long (default 5 x watchdogMs). */
  capMs?: number;
  /** Called with each process as it ends (progress output). */
  onExit?: (calls: number) => void;
  /**
   * Check for leaks at the end (default true): a snapshot guest first, a cleanup guest and
   * the free-frame count last. A replay looking for a crash, an oops or a hang skips them.
   */
  checkLeaks?: boolean;
  /** Called about every 250 ms with how far each process got and which are running. */
  onProgress?: (progress: Map<number, number[]>, live: number[], calls: number) => void;
  /**
   * Stop the run after this long (runIsolated kills its child): the result has no failure
   * and `cutShort` set. The minimizer's replays end with its budget.
   */
  timeLimitMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The requests posted in the control block: "cpu 3: mmap(0x0, ...)". */
function describeInflight(m: Machine, nrCpus: number): string[] {
  const out: string[] = [];
  for (let cpu = 0; cpu < nrCpus; cpu++) {
    const r = postedRequest(m.cb, cpu);
    if (r !== '') out.push(`cpu ${cpu}: ${r}`);
  }
  return out;
}

/** The first words of a death report, as a category ("Killed by the OOM killer", "Segmentation fault"). */
function endKind(e: ProcessExit): string {
  if (e.signal === null) return `exit ${e.exitCode}`;
  const r = e.report.replace(/ at 0x.*| \(.*/, '').replace(/:.*/, '');
  return r === '' ? `signal ${e.signal}` : r;
}

class Reports {
  tally: Tally = {};
  calls = 0;
  progress = new Map<number, number[]>();
  /** When each process first and last reported (Date.now()). */
  firstSeen = new Map<number, number>();
  /**
   * The kernel pid that last reported for each fuzz process: a process the fuzz forked
   * (clone without CLONE_THREAD, running a fuzz thread) reports as its parent's fuzz
   * process, from a pid of its own, and may outlive it.
   */
  lastPid = new Map<number, number>();
  lastSeen = new Map<number, number>();
  /** "proc/thread" -> the call a thread said it is about to make, until it says it returned. */
  about = new Map<string, string>();
  profile = newProfile();
  snapshot: string | null = null;
  slow: SlowCall[] = [];
  /** The fuzzer's own exceptions in guests (its bugs, not the kernel's), the first few. */
  guestErrors: string[] = [];

  constructor(private readonly onReport: (proc: number) => void) {}

  take(text: string, pid = -1): void {
    for (const m of text.matchAll(/\x01FZ (\{.*?\})\n/g)) {
      let r: { p: number; t: number; i: number; c: Tally; d?: Record<string, Timing>; pm?: number; n?: string };
      try {
        r = JSON.parse(m[1]);
      } catch {
        continue;
      }
      const prog = this.progress.get(r.p) ?? [];
      prog[r.t] = Math.max(prog[r.t] ?? 0, r.i);
      this.progress.set(r.p, prog);
      if (!this.firstSeen.has(r.p)) this.firstSeen.set(r.p, Date.now());
      this.lastSeen.set(r.p, Date.now());
      if (pid >= 0) this.lastPid.set(r.p, pid);
      if (r.n === undefined) this.about.delete(`${r.p}/${r.t}`);
      else this.about.set(`${r.p}/${r.t}`, r.n);
      for (const [name, byResult] of Object.entries(r.c)) {
        for (const [res, n] of Object.entries(byResult)) this.count(name, res, n);
      }
      addTimes(this.profile, r.d, r.pm);
      this.onReport(r.p);
    }
    for (const m of text.matchAll(/\x01FZSLOW (\{.*?\})\n/g)) {
      try {
        this.slow.push(JSON.parse(m[1]) as SlowCall);
      } catch {
        continue;
      }
      this.slow.sort((a, b) => b.ms - a.ms);
      this.slow.length = Math.min(this.slow.length, 10);
    }
    for (const m of text.matchAll(/\x01FZERR (\{.*?\})\n/g)) if (this.guestErrors.length < 10) this.guestErrors.push(m[1]);
    const snap = /\x01SNAP (\{.*?\})\n/.exec(text);
    if (snap !== null) this.snapshot = snap[1];
  }

  private count(name: string, result: string, n: number): void {
    const t = (this.tally[name] ??= {});
    t[result] = (t[result] ?? 0) + n;
    this.calls += n;
  }

  /**
   * Fuzz process `proc` ended: a call its threads were in (one they named before making it)
   * gets the signal it died of as its result, or "ended".
   */
  ended(proc: number, e: ProcessExit): void {
    const result = e.signal === null ? 'ended' : (SIGNAL_NAMES[e.signal] ?? `SIG${e.signal}`);
    for (const [key, name] of this.about) {
      if (!key.startsWith(`${proc}/`)) continue;
      this.count(name, name === 'exit' || name === 'exit_group' ? 'ended' : result, 1);
      this.about.delete(key);
    }
  }

  /** Host-side times of a process that ran from `pidAt` to `exitAt` (Date.now() times). */
  timed(proc: number, pidAt: number, exitAt: number, oom: boolean): void {
    const p = this.profile;
    const first = this.firstSeen.get(proc);
    if (first !== undefined) p.startMs += first - pidAt;
    p.exitMs += exitAt - (this.lastSeen.get(proc) ?? pidAt);
    if (oom) {
      p.oomKills++;
      p.oomLifeMs += exitAt - pidAt;
    }
  }
}

/** One number that changes whenever any kernel counter does: the kernel's progress. */
function counterSignature(m: Machine): number {
  return Object.values(m.kernelCounters()).reduce((a, b) => a + b, 0);
}

/**
 * Watch the machine until every job is done (`done` settles) or a failure is seen: a kernel
 * crash, or a hang as watchdog.ts judges it. Pings the kernel (meminfo) and samples its
 * counters about every 250 ms.
 */
async function watch(m: Machine, wd: Watchdog, done: Promise<unknown>, reports: Reports, failed: () => boolean, fail: (k: FailureKind, d: string, p?: number) => void, tick: () => void, pidOf: (proc: number) => number[], deadlocks: Deadlocks): Promise<void> {
  let ping: Promise<'alive' | 'crashed'> | null = null;
  while (!failed()) {
    if (ping === null) {
      wd.ping(Date.now());
      ping = m.meminfo().then(() => (wd.answered(Date.now()), 'alive' as const), () => 'crashed' as const);
    }
    const r = await Promise.race([done.then(() => 'done' as const), ping, sleep(250).then(() => 'waiting' as const)]);
    if (r === 'done') return;
    if (r === 'crashed' || m.crashed !== null) return fail('crash', m.crashed?.message ?? 'the kernel thread died');
    const cpu = process.cpuUsage();
    wd.counters(Date.now(), counterSignature(m), (cpu.user + cpu.system) / 1000);
    const v = wd.check(Date.now(), reports.calls);
    const stand = v !== null && v.proc !== undefined ? await standing(m, pidOf(v.proc)) : 'stuck';
    if (v !== null && v.proc !== undefined && stand === 'slices') wd.inKernelCall(v.proc, Date.now());
    else if (v !== null && v.proc !== undefined && stand === 'gone') wd.ended(v.proc); // a forked one that ended
    else if (v !== null && v.proc !== undefined && stand === 'asleep') {
      const f = await breakDeadlock(m, wd, v.proc, pidOf(v.proc), deadlocks);
      if (f !== null) return fail('hang', f, v.proc);
    }
    else if (v !== null) return fail('hang', v.proc === undefined ? v.detail : `${v.detail} (pid ${pidOf(v.proc).join(', ') || '?'})`, v.proc);
    tick();
    if (r === 'alive') {
      ping = null;
      await Promise.race([done, sleep(250)]);
    }
  }
}

/** Fuzz processes that deadlocked themselves: their lines (RunResult.deadlocks), and the pids killed for it. */
interface Deadlocks {
  list: string[];
  killed: Set<number>;
}

/**
 * A fuzz process deadlocked itself (standing: 'asleep'): note its threads' lines and end it
 * with SIGKILL from a guest of its own, as a user would; the run goes on. A failure if the
 * kill fails or a process killed so is found asleep again (a SIGKILL that does not end it).
 */
async function breakDeadlock(m: Machine, wd: Watchdog, proc: number, pids: number[], d: Deadlocks): Promise<string | null> {
  const lines = (await stateOf(m))?.lines ?? [];
  const stuck = pids.filter((p) => selfDeadlocked(lines, p));
  const again = stuck.find((p) => d.killed.has(p));
  if (again !== undefined) return `fuzz process ${proc}: pid ${again} still asleep after SIGKILL`;
  d.list.push(`fuzz process ${proc}: ${lines.filter((l) => pids.includes(taskOf(l)?.tgid ?? -1)).map((l) => l.replace(/^task:.*? state:/s, 'state:')).join(' | ')}`);
  // Its silence starts again: if killing the deadlocked ones does not set it going (a parent
  // in wait4 for another child), the next verdict is a hang.
  wd.inKernelCall(proc, Date.now());
  for (const pid of stuck) {
    d.killed.add(pid);
    const r = await Promise.race([m.run(GUEST, ['kill', String(pid)]).catch(() => null), sleep(5000).then(() => null)]);
    if (r?.exitCode !== 0) return `fuzz process ${proc}: deadlocked itself, and the kill of pid ${pid} failed (${r?.report ?? 'the kill guest did not end within 5 s'})`;
  }
  return null;
}

/** The kernel's state (SysRq 't'), or null if it does not answer within 5 s. */
async function stateOf(m: Pick<Machine, 'showState'>): Promise<MachineState | null> {
  return Promise.race([m.showState().catch(() => null), sleep(5000).then(() => null)]);
}

/**
 * True if every thread of process `pid` sleeps where Linux would sleep too, so that it
 * waits for good by its own doing: in a pipe read or write the kernel says it would not
 * have been woken from yet (a read of an empty pipe whose writer is the process itself, a
 * file a sibling thread made between the fuzzer's O_NONBLOCK and the read), or joining a
 * sibling that sleeps so; with `waitOk`, also in wait4 (a parent waiting for such a
 * process). Anything else (a request not served, a wait for mmap_lock, a wake-up the
 * kernel missed) is no deadlock of the guest's.
 */
function sleepsForGood(lines: string[], pid: number, waitOk: boolean): boolean {
  const threads = lines.map(taskOf).filter((t): t is TaskLine => t?.tgid === pid).map((t) => ({
    tid: t.tid,
    // Each wait as the kernel judges it: Linux would sleep there too (not a missed wake-up).
    asleep: t.state === 'S' && t.reason.includes('Linux sleeps here too)'),
    io: t.reason.startsWith('blocked in file I/O ('),
    waits: t.reason.startsWith('blocked in wait4('),
    joins: Number(/^blocked in joining thread (\d+) /.exec(t.reason)?.[1] ?? NaN),
  }));
  const sleeping = new Set(threads.filter((t) => t.asleep).map((t) => t.tid));
  return (waitOk || threads.some((t) => t.asleep && t.io))
    && threads.length > 0 && threads.every((t) => t.asleep && (t.io || (waitOk && t.waits) || sleeping.has(t.joins)));
}

/** A thread's fields in a line of SysRq 't'. */
interface TaskLine {
  state: string;
  tid: number;
  tgid: number;
  reason: string;
}

/**
 * A thread's line of SysRq 't' (kernel/task/sysrq.ts), or null for another line. The name
 * comes first and may hold any text (prctl PR_SET_NAME): the fields are taken after it.
 */
export function taskOf(line: string): TaskLine | null {
  const m = /^task:.* state:(\S+) pid:(\d+) tgid:(\d+) ppid:\d+(?: cpu:\d+ (.*))?$/s.exec(line);
  return m === null ? null : { state: m[1]!, tid: Number(m[2]), tgid: Number(m[3]), reason: m[4] ?? '' };
}

/** A live process deadlocked itself as a program can on Linux (sleepsForGood). */
export function selfDeadlocked(lines: string[], pid: number): boolean {
  return sleepsForGood(lines, pid, false);
}

/**
 * How a silent fuzz process stands, by its pids (the one the host started, the last one
 * that reported as it): 'slices' if a thread of one is in a call in slices that runs
 * slices (two looks a second apart), 'gone' if none is a live process any more (a child
 * it forked, which the host does not wait for, ended), 'asleep' if one deadlocked itself
 * as a program can on Linux (selfDeadlocked) and the others sleep for good or wait for
 * it, else 'stuck'.
 */
export async function standing(m: Pick<Machine, 'showState'>, pids: number[]): Promise<'slices' | 'gone' | 'asleep' | 'stuck'> {
  const state = await stateOf(m);
  if (state === null) return 'stuck';
  const tasks = state.lines.map(taskOf);
  const live = (pid: number) => tasks.some((t) => t?.tgid === pid && t.state !== 'Z');
  const alive = pids.filter(live);
  if (alive.length === 0) return 'gone';
  if (alive.some((pid) => selfDeadlocked(state.lines, pid)) && alive.every((pid) => sleepsForGood(state.lines, pid, true))) return 'asleep';
  const before = state.sliced.filter((c) => pids.includes(c.pid));
  if (before.length === 0) return 'stuck';
  await sleep(1000);
  const after = (await stateOf(m))?.sliced ?? [];
  return before.some((b) => after.some((a) => a.tid === b.tid && a.slices > b.slices)) ? 'slices' : 'stuck';
}

/** A hang: who waits for whom, from the kernel (SysRq 't'), if it answers within 5 s. */
async function addState(m: Machine, failure: Failure | null): Promise<void> {
  if (failure?.kind !== 'hang') return;
  const state = await stateOf(m);
  if (state !== null) failure.state = state.lines;
}

/**
 * Run `jobs` on a new machine, `concurrency` at a time, then clean up and check for leaks.
 * Never throws for what the kernel does: every failure is in the result.
 */
export async function runJobs(spec: MachineSpec, jobs: Jobs, o: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const wd = new Watchdog(o.watchdogMs, o.capMs ?? 5 * o.watchdogMs, Date.now());
  const reports = new Reports((proc) => wd.report(proc, Date.now(), reports.calls));
  const dec = new TextDecoder();
  const nrCpus = Math.max(32, o.concurrency * 8 + 8);
  const m = await Machine.boot({
    memBytes: spec.memBytes, swapBytes: spec.swapBytes, validate: spec.validate, spin: spec.spin ?? 2000, nrCpus, maxProcs: Math.max(64, o.concurrency * 8), klog: false, keepExits: false,
    output: (pid, _fd, data) => reports.take(dec.decode(data), pid),
  });
  const ends: Record<string, number> = {};
  const deadlocks: Deadlocks = { list: [], killed: new Set() };
  const running = new Map<number, number>(); // pid -> proc
  let failure: Failure | null = null;
  const fail = (kind: FailureKind, detail: string, proc?: number): void => {
    if (failure === null) failure = { kind, detail, inflight: describeInflight(m, nrCpus), ...(proc === undefined ? {} : { proc }) };
  };
  const live = (): number[] => [...running.values()];
  const started: number[] = [];
  let stoppedLive: number[] = [];
  let kernel: CounterValues = {};
  const checkLeaks = o.checkLeaks ?? true;
  const prof = reports.profile;
  try {
    if (checkLeaks) await m.run(GUEST, ['snapshot']);
    const snapshot = reports.snapshot;
    if (checkLeaks && snapshot === null) throw new Error('fuzz: the snapshot guest reported nothing');
    prof.setupMs = performance.now() - t0;
    const next = jobSource(jobs, () => reports.calls);
    const start = async (job: Job): Promise<void> => {
      started.push(job.proc);
      const asked = Date.now();
      const pid = await spawnRetrying(m, job.path ?? GUEST, job.argv);
      if (pid < 0) return fail('hang', `no process could be started for 5 s (fuzz process ${job.proc}): the machine is out of process slots or memory`);
      const pidAt = Date.now();
      prof.spawns++;
      prof.spawnMs += pidAt - asked;
      running.set(pid, job.proc);
      wd.report(job.proc, pidAt, reports.calls);
      const e = await m.waitExit(pid);
      running.delete(pid);
      wd.ended(job.proc);
      const kind = endKind(e);
      ends[kind] = (ends[kind] ?? 0) + 1;
      reports.ended(job.proc, e);
      reports.timed(job.proc, pidAt, Date.now(), kind.includes('OOM'));
      if (e.report.includes('kernel bug')) fail('oops', `pid ${pid} (fuzz process ${job.proc}): ${e.report}`, job.proc);
      o.onExit?.(reports.calls);
    };
    const workers = Array.from({ length: o.concurrency }, async () => {
      for (let job = next(); job !== undefined && failure === null; job = next()) await start(job);
    });
    const done = Promise.all(workers).catch((e: unknown) => fail('crash', e instanceof Error ? e.message : String(e)));
    // The process the host started for it, and the last one that reported as it (a child
    // it forked, whose calls in slices count as its progress too).
    const pidOf = (proc: number): number[] => {
      const out = [...running].filter(([, p]) => p === proc).map(([pid]) => pid);
      const last = reports.lastPid.get(proc);
      return last === undefined || out.includes(last) ? out : [...out, last];
    };
    await watch(m, wd, done, reports, () => failure !== null, fail, () => o.onProgress?.(reports.progress, live(), reports.calls), pidOf, deadlocks);
    await addState(m, failure);
    stoppedLive = live();
    const c0 = performance.now();
    if (failure === null && checkLeaks) {
      // The cleanup is watched too: a cleanup guest that never ends (or never starts) is a hang.
      const r = await Promise.race([checkClean(m, snapshot!, fail).then(() => 'ok' as const), sleep(o.watchdogMs).then(() => 'timeout' as const)]);
      if (r === 'timeout') fail('hang', `the cleanup after the last fuzz process did not end within ${o.watchdogMs} ms (processes running: ${running.size})`);
    }
    prof.cleanupMs = performance.now() - c0;
  } catch (e) {
    fail('crash', e instanceof Error ? e.message : String(e));
    stoppedLive = live();
  } finally {
    kernel = m.kernelCounters();
    await m.shutdown();
    const cpu = process.cpuUsage(cpu0);
    prof.cpuMs = (cpu.user + cpu.system) / 1000;
  }
  const f = failure as Failure | null;
  return {
    failure: f, calls: reports.calls, seconds: (performance.now() - t0) / 1000, tally: reports.tally, ends, progress: reports.progress,
    live: f?.kind === 'leak' ? started : stoppedLive, kernelLog: m.kernelLog, guestErrors: reports.guestErrors, slow: reports.slow, kernel, profile: prof, deadlocks: deadlocks.list,
  };
}

/**
 * Spawn a fuzz process; while the process table is full (fuzz children not yet reaped),
 * retry for a few seconds. Its pid, or -1 if the machine crashed or no slot came free.
 */
async function spawnRetrying(m: Machine, path: string, argv: string[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    try {
      return await m.spawn(path, argv);
    } catch {
      if (m.crashed !== null) return -1;
      await sleep(25);
    }
  }
  return -1;
}

/** Clean up after the fuzz processes and check that nothing is left. */
async function checkClean(m: Machine, snapshot: string, fail: (k: FailureKind, d: string) => void): Promise<void> {
  const c = await m.run(GUEST, ['cleanup', snapshot]);
  if (c.exitCode !== 0) return fail('leak', `cleanup failed: ${c.report}`);
  let info = await m.meminfo();
  // Processes still tear down (workers to terminate, late shootdown acknowledgements) on a
  // loaded host: give them 20 s.
  for (let i = 0; i < 400 && (info.procs > 0 || info.nrFree !== info.bootFree || info.swapUsed !== 0); i++) {
    await sleep(50);
    info = await m.meminfo();
  }
  if (info.procs > 0 || info.nrFree !== info.bootFree || info.swapUsed !== 0) {
    fail('leak', `after every process exited: ${info.bootFree - info.nrFree} frames not free (boot ${info.bootFree}, now ${info.nrFree}), ${info.swapUsed} swap slots used, ${info.procs} processes left`);
  }
}
