// How threads and processes end (kernel/exit.c), and waiting for them: exit, exit_group,
// death by a signal, wait4, and ptlab's thread join.
//
// A process dies (exit_group, a fatal signal, its worker failing) by asking the host to
// terminate every worker of its threads; when the host reports each worker gone, its CPU is
// released, and when the last is gone the mm is torn down (every frame and page table
// freed, in slices between other requests: exitStep) and the process becomes a zombie
// until its parent reaps it with wait4 (or at once, with no parent: orphans are not
// adopted by an init).

import { CPU_OFFLINE, CPU_STATE, cpuI32Base, readCpuCounters } from '../../machine/index.ts';
import { procRead } from '../fs/index.ts';
import type { Kernel } from '../kernel.ts';
import { copyToUser, exitMmapSliced, leaveMm, mmHeldAgainst, releaseDeferred, waitForMm } from '../mm/index.ts';
import * as U from '../uapi.ts';
import type { Process, Thread } from './task.ts';

/** exit(2): the thread ends with `code`; the last live thread ends the process. */
export function sysExit(kn: Kernel, t: Thread, code: number): undefined {
  const p = t.proc;
  let live = 0;
  for (const x of p.threads.values()) if (!x.dying) live++;
  if (live <= 1) {
    die(kn, p, U.wExitStatus(toInt(code)), '');
    return undefined;
  }
  t.exitValue = toInt(code);
  endThread(kn, t);
  return undefined;
}

/** exit_group(2): the whole process ends with exit status `code`. */
export function sysExitGroup(kn: Kernel, t: Thread, code: number): undefined {
  die(kn, t.proc, U.wExitStatus(toInt(code)), '');
  return undefined;
}

/**
 * Kill p by signal sig (the default action: terminate), with a report line for the host.
 * `culprit`: the thread whose request being served caused it (a fatal fault, a kernel bug);
 * it reports where its guest was before it goes (cpuExited), so the report names the line.
 */
export function killProcess(kn: Kernel, p: Process, sig: number, report: string, culprit: Thread | null = null): void {
  die(kn, p, U.wSignalStatus(sig), report, culprit);
}

/** The process ends with wait status `status`: every thread is stopped. */
export function die(kn: Kernel, p: Process, status: number, report: string, culprit: Thread | null = null): void {
  if (p.state !== 'live') return;
  p.state = 'dying';
  p.status = status;
  p.report = report;
  for (const th of p.threads.values()) endThread(kn, th, th === culprit);
}

/**
 * Stop one thread: release anyone blocked on it, ask the host to stop its worker. A culprit
 * is answered REQ_DIE and ends by itself once it has said where it was; the host lets it.
 */
function endThread(kn: Kernel, th: Thread, culprit = false): void {
  if (th.dying) return;
  th.dying = true;
  const b = th.blocked;
  th.blocked = null;
  if (b !== null && b.kind === 'io') b.cancel(); // off the wait queue, its file reference dropped
  if (th.proc.mm.writerWaiting === th.cpu) th.proc.mm.writerWaiting = -1; // no longer queued for mmap_lock
  // A call in slices ends at this slice boundary (the rest never runs), and lets go of its mm.
  if (th.sliced !== null) {
    const { work } = th.sliced;
    th.sliced = null;
    leaveMm(kn.k, th.proc.mm, th.cpu);
    // Its finally blocks run: an munmap finishes the zap of what it took out. A call that
    // killed its own process (the OOM killer chose it) is running: nextSlice closes it.
    try {
      work.return(0);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // "Generator is already running"
    }
  }
  if (kn.answers.awaits(th.cpu)) {
    th.culprit = culprit;
    if (culprit) kn.replyDie(th.cpu);
    else kn.replyExit(th.cpu);
  }
  kn.send(th.culprit ? { t: 'terminate', cpu: th.cpu, dying: true } : { t: 'terminate', cpu: th.cpu });
}

/**
 * The host reports the worker on `cpu` gone: the CPU is free, its counters go to the
 * process, joiners of a live process get the exit value, and the last thread of a dying one
 * makes it a zombie.
 */
export function cpuExited(kn: Kernel, cpu: number, error: string | null, frames: readonly string[] = [], at?: string): void {
  const th = kn.tasks.cpuThread[cpu];
  if (th === null) return;
  const p = th.proc;
  // The worker ended without the kernel asking: the guest crashed it.
  if (!th.dying) killProcess(kn, p, U.SIGKILL, `Killed: its thread ${th.tid} ended unexpectedly${error ? `: ${error}` : ''}`);
  if (th.culprit) reportWhere(kn, th, frames, at);
  // The counters are the worker's to write: one that is not a finite number counts as 0.
  const c = readCpuCounters(kn.cb, cpu);
  for (const [name, v] of Object.entries(c)) p.counters[name] = (p.counters[name] ?? 0) + (Number.isFinite(v) ? v : 0);
  p.clockEnd = Math.max(p.clockEnd, kn.k.clock.clock(cpu));
  Atomics.store(kn.cb.i32, cpuI32Base(cpu) + CPU_STATE, CPU_OFFLINE);
  kn.tasks.detach(th);
  releaseDeferred(kn.k); // what waited for this CPU's acknowledgement can go
  if (p.state === 'live') {
    p.deadThreads.set(th.tid, th.exitValue);
    for (const j of th.joiners) {
      if (j.dying) continue;
      j.blocked = null;
      p.deadThreads.delete(th.tid);
      kn.k.clock.syncTo(j.cpu, kn.k.clock.clock(cpu)); // the joiner goes on no earlier than the thread ended
      kn.reply(j.cpu, th.exitValue);
    }
    return;
  }
  if (p.threads.size === 0) becomeZombie(kn, p);
}

/**
 * Where the culprit's guest was when its request killed it, as its worker reported: the
 * kernel log's line for an unhandled SIGSEGV (show_signal_msg's "comm[tid]: segfault at ADDR
 * ip IP ... error CODE", with the guest's source place for ip; '?' if the worker could not
 * say) and the frames under the process's report.
 */
function reportWhere(kn: Kernel, th: Thread, frames: readonly string[], at: string | undefined): void {
  const f = th.segfault;
  // show_signal_msg prints only while printk_ratelimit() allows (10 lines per 5 s).
  if (f !== null && kn.printkRs.allow(performance.now(), 'show_signal_msg', (line: string) => kn.printk(line))) kn.printk(`${th.comm}[${th.tid}]: segfault at ${f.va.toString(16)} ip ${at ?? '?'} error ${f.code.toString(16)}`);
  for (const frame of frames) th.proc.report += `\n    at ${frame}`;
}

/**
 * The last thread is gone (do_exit): capture the /proc files asked for, close the
 * descriptors, unmap the mshare regions it owns, let a vfork parent go (mm_release), then
 * free the address space if it was the last user (exit_mmap), in slices: the first runs
 * now, the rest between requests (exitStep). The process stays 'dying' until its memory
 * is back; then it is a zombie (becameZombie).
 */
function becomeZombie(kn: Kernel, p: Process): void {
  p.hiwaterRss = p.mm.hiwaterRss;
  const proc: Record<string, string> = {};
  for (const name of kn.procAtExit) proc[name] = procRead(kn, p, name);
  if (--p.fds.users === 0) p.fds.closeAll();
  // exit_mshare: the regions this process owns are unmapped whole.
  for (const r of kn.vfs.regions) if (r.ownerPid === p.pid) r.ownerExit(-1);
  // mm_release: a parent held by vfork goes on; the last user of the mm frees it.
  releaseVforkParent(kn, p);
  if (--p.mm.users !== 0) {
    becameZombie(kn, p, proc);
    return;
  }
  // Write faults after fork, counted per address space (the last process using it reports them).
  p.counters.cow_faults = p.mm.cowFaults;
  p.counters.pgreuse = p.mm.pgreuse;
  p.teardown = { work: exitMmapSliced(kn.k, p.mm), proc, slices: 0 };
  if (!teardownSlice(kn, p)) kn.tasks.exiting.push(p);
}

/**
 * Background work of the kernel loop (Kernel.tick): one slice of the oldest teardown in
 * progress. True while some teardown has work left (the loop should not sleep).
 */
export function exitStep(kn: Kernel): boolean {
  const q = kn.tasks.exiting;
  if (q.length === 0) return false;
  if (teardownSlice(kn, q[0])) q.shift();
  return q.length > 0;
}

/** One slice of p's teardown (outside any request: modeled time charges it to no CPU, as in one go); true once p is a zombie. */
function teardownSlice(kn: Kernel, p: Process): boolean {
  const td = p.teardown!;
  kn.k.slice.refill();
  td.slices++;
  if (td.work.next().done !== true) {
    kn.k.slice.yields++;
    return false;
  }
  p.teardown = null;
  becameZombie(kn, p, td.proc);
  return true;
}

/**
 * Its memory is freed: p is a zombie; report the exit, and hand it to a parent waiting for
 * it (or reap it, with no parent).
 */
function becameZombie(kn: Kernel, p: Process, proc: Record<string, string>): void {
  p.state = 'zombie';
  kn.send({
    t: 'procexit', pid: p.pid, ppid: p.ppid, path: p.path, status: p.status, report: p.report,
    counters: p.counters, syscalls: kn.syscallCounts(p), threads: p.threadsEver, hiwaterRss: p.hiwaterRss, proc,
    values: Object.fromEntries(p.reported),
    clockStart: p.clockStart, clockEnd: p.clockEnd,
  });
  const procs = kn.tasks.procs;
  // Orphans: reaped as soon as they exit (no init to adopt them).
  for (const c of p.children) {
    const child = procs.get(c);
    if (child === undefined) continue;
    child.ppid = 0;
    if (child.state === 'zombie') procs.delete(c);
  }
  p.children.clear();
  const parent = procs.get(p.ppid);
  if (parent === undefined || parent.state !== 'live') {
    procs.delete(p.pid);
    return;
  }
  handToWaiter(kn, parent, p);
}

/**
 * A thread of parent blocked in wait4 for zombie p gets it (reaped, its status copied out).
 * While a call in slices of another of parent's threads holds its mm for write, the copy
 * waits for it (mmap_lock), and the hand-over is tried again then if p is still unreaped.
 */
function handToWaiter(kn: Kernel, parent: Process, p: Process): void {
  for (const th of parent.threads.values()) {
    const b = th.blocked;
    if (b === null || b.kind !== 'wait' || (b.pid !== -1 && b.pid !== p.pid)) continue;
    if (b.statusPtr !== 0 && mmHeldAgainst(parent.mm, th.cpu)) {
      waitForMm(parent.mm, p, () => {
        if (parent.state === 'live' && kn.tasks.procs.get(p.pid) === p) handToWaiter(kn, parent, p);
      });
      return;
    }
    th.blocked = null;
    kn.reply(th.cpu, reap(kn, th, p, b.statusPtr));
    return;
  }
}

/** The thread that vforked p, if it still waits (complete_vfork_done), gets p's pid as its clone's result. */
function releaseVforkParent(kn: Kernel, p: Process): void {
  const th = p.vforkDone;
  p.vforkDone = null;
  const b = th?.blocked;
  if (th === null || b === undefined || b === null || b.kind !== 'vfork' || b.pid !== p.pid) return;
  th.blocked = null;
  kn.reply(th.cpu, p.pid);
}

/**
 * wait4(2) for a child (pid -1: any): its pid once it is a zombie, 0 with WNOHANG while
 * none is, ECHILD without children to wait for; otherwise the caller blocks until one ends.
 */
export function sysWait4(kn: Kernel, t: Thread, pid: number, statusPtr: number, options: number, rusage: number): number | undefined {
  if (![pid, statusPtr, options, rusage].every(Number.isInteger)) return -U.EINVAL;
  if ((options & ~U.WNOHANG) !== 0) return -U.EINVAL;
  const p = t.proc;
  const candidates = [...p.children].filter((c) => pid === -1 || c === pid);
  if (candidates.length === 0 || (pid < -1 || pid === 0)) return -U.ECHILD;
  for (const c of candidates) {
    const child = kn.tasks.procs.get(c);
    if (child !== undefined && child.state === 'zombie') return reap(kn, t, child, statusPtr);
  }
  if ((options & U.WNOHANG) !== 0) return 0;
  t.blocked = { kind: 'wait', pid, statusPtr, options };
  return undefined;
}

/** Collect a zombie for waiter t: write the status, free the pid. */
function reap(kn: Kernel, t: Thread, child: Process, statusPtr: number): number {
  if (statusPtr !== 0) {
    const st = new Uint8Array(4);
    new DataView(st.buffer).setInt32(0, child.status, true);
    const r = copyToUser(kn.k, t.proc.mm, statusPtr, st, t.cpu);
    if (r < 0) return r;
  }
  t.proc.children.delete(child.pid);
  kn.tasks.procs.delete(child.pid);
  kn.k.clock.syncTo(t.cpu, child.clockEnd); // the parent goes on no earlier than the child ended
  noChildLeft(kn, t.proc);
  return child.pid;
}

/**
 * Other threads of p blocked in wait4 for a child that is no longer there (a sibling reaped
 * it) get ECHILD: in Linux every waiter wakes at a child's exit (__wake_up_parent) and one
 * that finds no child left to wait for returns -ECHILD from do_wait.
 */
function noChildLeft(kn: Kernel, p: Process): void {
  for (const th of p.threads.values()) {
    const b = th.blocked;
    if (b === null || b.kind !== 'wait') continue;
    if ([...p.children].some((c) => b.pid === -1 || c === b.pid)) continue;
    th.blocked = null;
    kn.reply(th.cpu, -U.ECHILD);
  }
}

/**
 * ptlab_thread_join: the exit value of thread `tid` of this process, at once if it ended,
 * else once it does; EDEADLK for itself, ESRCH for no such thread, EINVAL if another thread
 * joins it already.
 */
export function sysThreadJoin(_kn: Kernel, t: Thread, tid: number): number | undefined {
  if (!Number.isInteger(tid)) return -U.EINVAL;
  const p = t.proc;
  if (tid === t.tid) return -U.EDEADLK;
  const dead = p.deadThreads.get(tid);
  if (dead !== undefined) {
    p.deadThreads.delete(tid);
    return dead;
  }
  const target = p.threads.get(tid);
  if (target === undefined) return -U.ESRCH;
  if (target.joiners.length > 0) return -U.EINVAL;
  target.joiners.push(t);
  t.blocked = { kind: 'join', tid };
  return undefined;
}

/** An exit code as the int a C caller passes. */
function toInt(x: number): number {
  return Number.isFinite(x) ? Math.trunc(x) | 0 : 0;
}
