// Identity and resource limits (kernel/sys.c): getpid, getppid, gettid, sched_yield,
// prlimit64 with getrlimit and setrlimit as its special cases, and prctl. Limits live on the mm here
// (every thread shares its process's), in bytes or counts, Infinity for unlimited.

import type { Kernel } from '../kernel.ts';
import { anonNameFromUser, copyFromUser, copyToUser, madviseSetAnonName, pathFromUser, validAnonName } from '../mm/index.ts';
import * as U from '../uapi.ts';
import type { Thread } from './task.ts';

export const sysGetpid = (_kn: Kernel, t: Thread): number => t.proc.pid;
export const sysGetppid = (_kn: Kernel, t: Thread): number => t.proc.ppid;
export const sysGettid = (_kn: Kernel, t: Thread): number => t.tid;
/** sched_yield(2): every thread has a CPU of its own, so there is nothing to yield to. */
export const sysSchedYield = (): number => 0;

/** struct rlimit is two u64; RLIM_INFINITY is all ones. */
const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;
/** sysctl fs.nr_open (its default, 1024 * 1024): RLIMIT_NOFILE's ceiling, capability or not. */
const NR_OPEN = 1024 * 1024;

/**
 * prlimit64(2): the old limit of `resource` (of pid, 0: the caller) to oldPtr and the new
 * one from newPtr, either pointer 0 for none. EINVAL for a bad resource or soft > hard,
 * EPERM for RLIMIT_NOFILE above nr_open (the descriptor table is an array that dup2 grows
 * to the limit) or to raise a hard limit without CAP_SYS_RESOURCE, ESRCH for no such live
 * process.
 */
export function sysPrlimit(kn: Kernel, t: Thread, pid: number, resource: number, newPtr: number, oldPtr: number): number {
  if (![pid, resource, newPtr, oldPtr].every(Number.isInteger)) return -U.EINVAL;
  if (resource < 0 || resource >= U.RLIM_NLIMITS) return -U.EINVAL;
  const target = pid === 0 ? t.proc : kn.tasks.procs.get(pid);
  if (target === undefined || target.state !== 'live') return -U.ESRCH;
  const lim = target.mm.rlimits;
  let next: [number, number] | null = null;
  if (newPtr !== 0) {
    const bytes = copyFromUser(kn.k, t.proc.mm, newPtr, 16, t.cpu);
    if (typeof bytes === 'number') return bytes;
    const dv = new DataView(bytes.buffer);
    const read = (at: number) => {
      const v = dv.getBigUint64(at, true);
      return v === RLIM_INFINITY ? Infinity : Number(v);
    };
    next = [read(0), read(8)];
    if (next[0] > next[1]) return -U.EINVAL;
    if (resource === U.RLIMIT_NOFILE && next[1] > NR_OPEN) return -U.EPERM;
    if (next[1] > lim[resource][1] && !t.proc.capable(U.CAP_SYS_RESOURCE)) return -U.EPERM;
  }
  if (oldPtr !== 0) {
    const out = new Uint8Array(16);
    const dv = new DataView(out.buffer);
    const write = (at: number, v: number) => dv.setBigUint64(at, v === Infinity ? RLIM_INFINITY : BigInt(v), true);
    write(0, lim[resource][0]);
    write(8, lim[resource][1]);
    const r = copyToUser(kn.k, t.proc.mm, oldPtr, out, t.cpu);
    if (r < 0) return r;
  }
  if (next !== null) lim[resource] = next;
  return 0;
}

/** getrlimit(2) and setrlimit(2): prlimit64 on the caller. */
export const sysGetrlimit = (kn: Kernel, t: Thread, resource: number, oldPtr: number): number => sysPrlimit(kn, t, 0, resource, 0, oldPtr);
export const sysSetrlimit = (kn: Kernel, t: Thread, resource: number, newPtr: number): number => sysPrlimit(kn, t, 0, resource, newPtr, 0);

/**
 * prctl(2) (kernel/sys.c): PR_SET_NAME and PR_GET_NAME (the calling thread's comm),
 * PR_SET_VMA (prctl_set_vma: PR_SET_VMA_ANON_NAME, see mm/anon_name.ts; EINVAL on a kernel
 * built without it); every other option is EINVAL (ptlab does not have them).
 */
export function sysPrctl(kn: Kernel, t: Thread, option: number, a2: number, a3: number, a4: number, a5: number): number {
  if (option === U.PR_SET_NAME || option === U.PR_GET_NAME) return prctlName(kn, t, option, a2);
  if (option !== U.PR_SET_VMA || !kn.k.vm.anonVmaName || a2 !== U.PR_SET_VMA_ANON_NAME) return -U.EINVAL;
  let name: string | null = null;
  if (a5 !== 0) {
    const s = anonNameFromUser(kn.k, t.proc.mm, a5, t.cpu);
    if (typeof s === 'number') return s;
    if (!validAnonName(s)) return -U.EINVAL;
    name = s;
  }
  return madviseSetAnonName(t.proc.mm, a3, a4, name);
}

/**
 * PR_SET_NAME: up to TASK_COMM_LEN - 1 bytes at ptr, to the first NUL, become the thread's
 * name (the process's too, for its group leader); PR_GET_NAME writes it, NUL-padded to
 * TASK_COMM_LEN bytes. EFAULT if the memory cannot be read or written.
 */
function prctlName(kn: Kernel, t: Thread, option: number, ptr: number): number {
  const mm = t.proc.mm;
  if (option === U.PR_GET_NAME) {
    const out = new Uint8Array(U.TASK_COMM_LEN);
    for (let i = 0; i < t.comm.length; i++) out[i] = t.comm.charCodeAt(i);
    const r = copyToUser(kn.k, mm, ptr, out, t.cpu);
    return r < 0 ? -U.EFAULT : 0;
  }
  let comm = '';
  // strncpy_from_user byte by byte: it stops at the NUL, whatever lies after it.
  for (let i = 0; i < U.TASK_COMM_LEN - 1; i++) {
    const b = copyFromUser(kn.k, mm, ptr + i, 1, t.cpu);
    if (typeof b === 'number') return -U.EFAULT;
    if (b[0] === 0) break;
    comm += String.fromCharCode(b[0]);
  }
  t.comm = comm;
  if (t.tid === t.proc.pid) t.proc.comm = comm;
  return 0;
}

/**
 * ptlab_report(name, value): the NUL-terminated name at `name` (at most REPORT_NAME_MAX
 * bytes with the NUL) takes `value` among the process's reported results, replacing an
 * earlier value of that name; the host gets them with the process's exit. EINVAL for an
 * empty or over-long name or a value that is not a finite number, EFAULT if the name cannot
 * be read.
 */
export function sysReport(kn: Kernel, t: Thread, name: number, value: number): number {
  const s = pathFromUser(kn.k, t.proc.mm, name, U.REPORT_NAME_MAX, t.cpu);
  if (s === -U.EFAULT) return s;
  if (typeof s === 'number' || !Number.isFinite(value)) return -U.EINVAL;
  t.proc.reported.set(s, value);
  return 0;
}
