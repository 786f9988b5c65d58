// Starting processes and threads (kernel/fork.c): ptlab_spawn (a new process running a
// module, as posix_spawn does: fork then exec) and clone: a thread (CLONE_THREAD), a
// process with a copy of the caller's address space (fork: dup_mmap, copy-on-write), or
// one that shares it (CLONE_VM; with CLONE_VFORK the caller waits for it to exit).
//
// ptlab's clone cannot return twice (a worker cannot be duplicated mid-execution): like
// glibc's clone(fn, stack, flags, arg), the child runs a function, named by a descriptor
// {path, exportName, arg} in guest memory where Linux takes the stack and tid pointers.

import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { consoleFile } from '../fs/index.ts';
import type { Kernel } from '../kernel.ts';
import {
  argBytes, dupMmapSliced, exitMmapSliced, initialStack, jsonFromUser, type Mm, mmAlloc, reclaimForAllocation, setupStack, type Sliced,
} from '../mm/index.ts';
import * as U from '../uapi.ts';
import { SIG_HANDLER, Process, Thread } from './task.ts';

/**
 * A process running `path` with `argv`, child of `ppid` (0: none): its pid, or EAGAIN (the
 * process limit, no free CPU) or ENOMEM (no frame for its page tables).
 */
export function spawn(kn: Kernel, ppid: number, path: string, argv: string[], creatorCpu = -1): number {
  const tasks = kn.tasks;
  if (!tasks.roomForProcess()) return -U.EAGAIN;
  const cpu = tasks.takeCpu();
  if (cpu === undefined) return -U.EAGAIN;
  const mm = mmAlloc(kn.k);
  if (typeof mm === 'number') {
    tasks.putCpu(cpu);
    return mm;
  }
  const pid = tasks.newPid();
  const p = new Process(pid, ppid, path, mm);
  const parent = tasks.procs.get(ppid);
  if (parent !== undefined) {
    // A child keeps its parent's capabilities (as if dropped from the bounding set too),
    // resource limits and oom_score_adj (as across fork and exec).
    Object.assign(p.caps, parent.caps);
    mm.capIpcLock = p.capable(U.CAP_IPC_LOCK);
    p.oomScoreAdj = parent.oomScoreAdj;
    p.oomScoreAdjMin = parent.oomScoreAdjMin;
    parent.mm.rlimits.forEach((r, i) => { mm.rlimits[i] = [r[0], r[1]]; });
    parent.children.add(pid);
  }
  // exec's stack, with the limits just inherited (setup_arg_pages).
  setupStack(kn.k, mm, argBytes(path, argv));
  const { sp, room } = initialStack(mm);
  tasks.procs.set(pid, p);
  // Standard streams are the child's own console (its output is labelled with its pid);
  // other descriptors without close-on-exec are inherited, as across fork and exec.
  for (const fd of [0, 1, 2]) p.fds.install(consoleFile((m) => kn.send(m), pid, fd, kn.terminals.has(fd)), false, Infinity);
  if (parent !== undefined) p.fds.inherit(parent.fds, 3);
  const th = new Thread(pid, p, cpu);
  tasks.attach(p, th);
  p.clockStart = kn.k.clock.start(cpu, creatorCpu, true);
  kn.send({ t: 'start', cpu, pid, tid: pid, cr3: mm.pml4, path, exportName: 'default', argv, arg: null, sp, stackRoom: room });
  return pid;
}

/**
 * ptlab_spawn(desc, len): desc is JSON {path, argv} in guest memory; the new process is a
 * child of the caller. Its pid, or -errno.
 */
export function sysSpawn(kn: Kernel, t: Thread, descPtr: number, descLen: number): number {
  const desc = jsonFromUser(kn.k, t.proc.mm, descPtr, descLen, t.cpu);
  if (typeof desc === 'number') return desc;
  if (typeof desc.path !== 'string' || !Array.isArray(desc.argv) || !desc.argv.every((x) => typeof x === 'string')) return -U.EINVAL;
  const path = programPath(desc.path);
  const missing = kn.moduleCheck ? moduleError(path) : 0;
  if (missing !== 0) return missing;
  return spawn(kn, t.proc.pid, path, desc.argv as string[], t.cpu);
}

/**
 * A relative module path is resolved against the caller's working directory, as exec's is;
 * every ptlab process's is "/" (/proc/PID/cwd), so "a.ts" is "/a.ts". "" stays "" (ENOENT).
 */
function programPath(path: string): string {
  return path === '' ? path : posix.resolve('/', path);
}

const MODULE_ERRNO: Record<string, number> = { ENOENT: U.ENOENT, ENOTDIR: U.ENOTDIR, EACCES: U.EACCES, ENAMETOOLONG: U.ENAMETOOLONG, ELOOP: U.ELOOP };

/**
 * The module a process or thread starts from (a host file, as exec's is a file) is found
 * before anything is made, so the caller gets posix_spawn's errno (ENOENT for a missing one,
 * EACCES for a directory) rather than a child that exits 127. 0 if it is a file.
 */
function moduleError(path: string): number {
  if (path === '' || path.includes('\0')) return -U.ENOENT;
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st === undefined) return -U.ENOENT;
    return st.isFile() ? 0 : -U.EACCES;
  } catch (e) {
    return -(MODULE_ERRNO[(e as NodeJS.ErrnoException).code ?? ''] ?? U.ENOENT);
  }
}

/** Namespaces, which ptlab does not model. */
const CLONE_NEW = U.CLONE_NEWNS | U.CLONE_NEWCGROUP | U.CLONE_NEWUTS | U.CLONE_NEWIPC | U.CLONE_NEWUSER | U.CLONE_NEWPID | U.CLONE_NEWNET;
/** Flags whose argument is a pointer where ptlab's clone takes its descriptor. */
const CLONE_POINTERS = U.CLONE_PIDFD | U.CLONE_SETTLS | U.CLONE_PARENT_SETTID | U.CLONE_CHILD_CLEARTID | U.CLONE_CHILD_SETTID;

/**
 * copy_process's checks of the flags, in Linux's order (EINVAL for each), then ptlab's:
 * namespaces and the pointer-taking flags are not modelled (EINVAL), and a thread shares
 * its process's descriptor table (CLONE_THREAD needs CLONE_FILES). 0 if acceptable.
 */
function cloneFlagsError(flags: number): number {
  const has = (f: number): boolean => (flags & f) !== 0;
  if (has(U.CLONE_NEWNS) && has(U.CLONE_FS)) return -U.EINVAL;
  if (has(U.CLONE_NEWUSER) && has(U.CLONE_FS)) return -U.EINVAL;
  // Thread groups share signal handlers, and shared handlers imply a shared address space.
  if (has(U.CLONE_THREAD) && !has(U.CLONE_SIGHAND)) return -U.EINVAL;
  if (has(U.CLONE_SIGHAND) && !has(U.CLONE_VM)) return -U.EINVAL;
  if (has(U.CLONE_THREAD) && has(U.CLONE_NEWUSER | U.CLONE_NEWPID)) return -U.EINVAL;
  if (has(U.CLONE_PIDFD) && has(U.CLONE_DETACHED)) return -U.EINVAL;
  if (has(CLONE_NEW | CLONE_POINTERS)) return -U.EINVAL;
  if (has(U.CLONE_THREAD) && !has(U.CLONE_FILES)) return -U.EINVAL;
  return 0;
}

/**
 * clone(2), ptlab's form: clone(flags, desc, len), desc JSON {path, exportName, arg} naming
 * the function the child runs (its return value is the child's exit status or value). With
 * CLONE_THREAD a thread of the caller's process; otherwise a new process, child of the
 * caller (of its parent with CLONE_PARENT), that shares the address space (CLONE_VM) or has
 * a copy of it, shares the descriptor table (CLONE_FILES) or a copy, and the signal
 * dispositions (CLONE_SIGHAND) or a copy. CLONE_VFORK holds the caller until the child
 * exits. The new tid or pid, or -errno.
 */
export function sysClone(kn: Kernel, t: Thread, flags: number, descPtr: number, descLen: number): number | undefined | Sliced<number | undefined> {
  if (!Number.isInteger(flags)) return -U.EINVAL;
  flags = flags | 0; // the kernel reads the low 32 bits (lower_32_bits(clone_flags))
  const bad = cloneFlagsError(flags);
  if (bad !== 0) return bad;
  const desc = jsonFromUser(kn.k, t.proc.mm, descPtr, descLen, t.cpu);
  if (typeof desc === 'number') return desc;
  if (typeof desc.path !== 'string' || typeof desc.exportName !== 'string') return -U.EINVAL;
  const path = programPath(desc.path);
  const missing = kn.moduleCheck ? moduleError(path) : 0;
  if (missing !== 0) return missing;
  const start = { path, exportName: desc.exportName, arg: desc.arg ?? null };
  if ((flags & U.CLONE_THREAD) !== 0) return cloneThread(kn, t, start);
  return cloneProcess(kn, t, flags, start);
}

interface StartDesc {
  path: string;
  exportName: string;
  arg: unknown;
}

/** A new thread of t's process running `start`: its tid, or EAGAIN (no free CPU). */
function cloneThread(kn: Kernel, t: Thread, start: StartDesc): number {
  const p = t.proc;
  const cpu = kn.tasks.takeCpu();
  if (cpu === undefined) return -U.EAGAIN;
  const tid = kn.tasks.newPid();
  kn.tasks.attach(p, new Thread(tid, p, cpu, t.comm));
  kn.k.clock.start(cpu, t.cpu, false);
  kn.send({ t: 'start', cpu, pid: p.pid, tid, cr3: p.mm.pml4, path: start.path, exportName: start.exportName, argv: [], arg: start.arg, sp: 0, stackRoom: 0 });
  return tid;
}

/**
 * A new process for clone without CLONE_THREAD (copy_process, then wake_up_new_task): its
 * pid; with CLONE_VFORK, undefined (the caller is answered when the child exits). A fork's
 * copy of the address space runs in slices (dup_mmap's cond_resched), the caller's mm held
 * meanwhile; killed at a slice boundary, it frees what it copied and gives its CPU back.
 */
function cloneProcess(kn: Kernel, t: Thread, flags: number, start: StartDesc): number | undefined | Sliced<number | undefined> {
  if (!kn.tasks.roomForProcess()) return -U.EAGAIN;
  const cpu = kn.tasks.takeCpu();
  if (cpu === undefined) return -U.EAGAIN;
  if ((flags & U.CLONE_VM) !== 0) return newProcess(kn, t, flags, start, cpu, t.proc.mm);
  return forkSliced(kn, t, flags, start, cpu);
}

/** cloneProcess's fork: the copy of t's address space in slices, then the child on `cpu`. */
function* forkSliced(kn: Kernel, t: Thread, flags: number, start: StartDesc, cpu: number): Sliced<number | undefined> {
  let mm: Mm | number = -U.ENOMEM;
  let copied = false;
  try {
    // A fork that ran out of frames failed cleanly: reclaim, as its allocations would have
    // in Linux, and copy again.
    do mm = yield* dupMmapSliced(kn.k, t.proc.mm, t.cpu);
    while (mm === -U.ENOMEM && reclaimForAllocation(kn.k));
    copied = true;
  } finally {
    if (!copied) kn.tasks.putCpu(cpu);
  }
  if (typeof mm === 'number') {
    kn.tasks.putCpu(cpu);
    return mm;
  }
  if (!kn.tasks.roomForProcess()) {
    // Another fork took the last process slot between two slices (copy_process checks the
    // limits again under the tasklist lock).
    kn.k.slice.background.push(exitMmapSliced(kn.k, mm)); // the copy goes back in slices
    kn.tasks.putCpu(cpu);
    return -U.EAGAIN;
  }
  return newProcess(kn, t, flags, start, cpu, mm);
}

/** The child process of t on `cpu` with address space mm (t's own for CLONE_VM), started: its pid, or undefined for CLONE_VFORK. */
function newProcess(kn: Kernel, t: Thread, flags: number, start: StartDesc, cpu: number, mm: Mm): number | undefined {
  const tasks = kn.tasks;
  const caller = t.proc;
  if (mm === caller.mm) mm.users++;
  const pid = tasks.newPid();
  const ppid = (flags & U.CLONE_PARENT) !== 0 ? caller.ppid : caller.pid;
  const p = new Process(pid, ppid, start.path, mm);
  p.exitSignal = flags & U.CSIGNAL;
  Object.assign(p.caps, caller.caps);
  p.oomScoreAdj = caller.oomScoreAdj; // copy_signal
  p.oomScoreAdjMin = caller.oomScoreAdjMin;
  if ((flags & U.CLONE_FILES) !== 0) {
    p.fds = caller.fds;
    p.fds.users++;
  } else p.fds.dup(caller.fds);
  if ((flags & U.CLONE_SIGHAND) !== 0) p.signals = caller.signals;
  else {
    // The child runs a fresh function: the parent's handler functions are not in it, so a
    // handled signal is back to its default there (as across exec); ignored stays ignored.
    for (const [sig, d] of caller.signals) if (d !== SIG_HANDLER) p.signals.set(sig, d);
  }
  tasks.procs.get(ppid)?.children.add(pid);
  tasks.procs.set(pid, p);
  tasks.attach(p, new Thread(pid, p, cpu));
  p.clockStart = kn.k.clock.start(cpu, t.cpu, true);
  // A forked child's main thread runs on its copy of the stack (one sharing the caller's
  // memory needs its own: it gets none).
  const { sp, room } = mm !== caller.mm ? initialStack(mm) : { sp: 0, room: 0 };
  kn.send({ t: 'start', cpu, pid, tid: pid, cr3: mm.pml4, path: start.path, exportName: start.exportName, argv: [], arg: start.arg, sp, stackRoom: room });
  if ((flags & U.CLONE_VFORK) === 0) return pid;
  t.blocked = { kind: 'vfork', pid };
  p.vforkDone = t;
  return undefined;
}
