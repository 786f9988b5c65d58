// Starting processes and threads (kernel/fork.c): ptlab_spawn (a new process running a
// module, as posix_spawn does: fork then exec) and clone of a thread. Fork with
// copy-on-write comes later; clone without CLONE_VM is EINVAL until then.

import { consoleFile } from '../fs/index.ts';
import type { Kernel } from '../kernel.ts';
import { jsonFromUser, mmAlloc } from '../mm/index.ts';
import * as U from '../uapi.ts';
import { Process, Thread } from './task.ts';

/**
 * A process running `path` with `argv`, child of `ppid` (0: none): its pid, or EAGAIN (the
 * process limit, no free CPU) or ENOMEM (no frame for its page tables).
 */
export function spawn(kn: Kernel, ppid: number, path: string, argv: string[]): number {
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
    // A child keeps its parent's capabilities (as if dropped from the bounding set too)
    // and resource limits (as across fork and exec).
    Object.assign(p.caps, parent.caps);
    mm.capIpcLock = p.capable(U.CAP_IPC_LOCK);
    parent.mm.rlimits.forEach((r, i) => { mm.rlimits[i] = [r[0], r[1]]; });
    parent.children.add(pid);
  }
  tasks.procs.set(pid, p);
  // Standard streams are the child's own console (its output is labelled with its pid);
  // other descriptors without close-on-exec are inherited, as across fork and exec.
  for (const fd of [0, 1, 2]) p.fds.install(consoleFile((m) => kn.send(m), pid, fd), false, Infinity);
  if (parent !== undefined) p.fds.inherit(parent.fds, 3);
  const th = new Thread(pid, p, cpu);
  tasks.attach(p, th);
  kn.send({ t: 'start', cpu, pid, tid: pid, cr3: mm.pml4, path, exportName: 'default', argv, arg: null });
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
  return spawn(kn, t.proc.pid, desc.path, desc.argv as string[]);
}

/**
 * clone(2) of a thread (CLONE_VM | CLONE_THREAD and the rest of CLONE_THREAD_FLAGS): desc
 * is JSON {path, exportName, arg} naming the function the thread runs. Its tid, or -errno.
 */
export function sysClone(kn: Kernel, t: Thread, flags: number, descPtr: number, descLen: number): number {
  if (!Number.isInteger(flags)) return -U.EINVAL;
  if ((flags & U.CLONE_THREAD_FLAGS) !== U.CLONE_THREAD_FLAGS) return -U.EINVAL; // fork comes later
  const desc = jsonFromUser(kn.k, t.proc.mm, descPtr, descLen, t.cpu);
  if (typeof desc === 'number') return desc;
  if (typeof desc.path !== 'string' || typeof desc.exportName !== 'string') return -U.EINVAL;
  const p = t.proc;
  const cpu = kn.tasks.takeCpu();
  if (cpu === undefined) return -U.EAGAIN;
  const tid = kn.tasks.newPid();
  kn.tasks.attach(p, new Thread(tid, p, cpu));
  kn.send({ t: 'start', cpu, pid: p.pid, tid, cr3: p.mm.pml4, path: desc.path, exportName: desc.exportName, argv: [], arg: desc.arg ?? null });
  return tid;
}
