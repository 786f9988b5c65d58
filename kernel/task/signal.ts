// Signals (kernel/signal.c), as far as ptlab has them: dispositions (rt_sigaction with a
// disposition number instead of a struct sigaction), kill and tkill with the default
// actions, and the synchronous SIGSEGV and SIGBUS of a failed page fault, which run the
// faulting thread's handler if it installed one. JavaScript cannot interrupt a running
// worker, so handlers are for SIGSEGV and SIGBUS only; there is no stopped state.

import type { Kernel } from '../kernel.ts';
import { FAULT_SEGV_ACCERR, FAULT_SIGBUS } from '../mm/index.ts';
import * as U from '../uapi.ts';
import { killProcess } from './exit.ts';
import { type Disposition, type Process, SIG_HANDLER, type Thread } from './task.ts';

/** rt_sigaction(2), ptlab ABI: `disp` 0 default, 1 ignore, 2 handler, -1 query; the old one. */
export function sysSigaction(_kn: Kernel, t: Thread, sig: number, disp: number): number {
  if (!Number.isInteger(sig) || sig < 1 || sig > U.NSIG) return -U.EINVAL;
  if (!Number.isInteger(disp) || disp < -1 || disp > SIG_HANDLER) return -U.EINVAL;
  if ((sig === U.SIGKILL || sig === U.SIGSTOP) && disp !== -1) return -U.EINVAL;
  // Handlers run synchronously on the faulting thread; asynchronous signals can only be
  // defaulted or ignored for now.
  if (disp === SIG_HANDLER && sig !== U.SIGSEGV && sig !== U.SIGBUS) return -U.EINVAL;
  const p = t.proc;
  const old = p.signals.get(sig) ?? U.SIG_DFL;
  if (disp !== -1) p.signals.set(sig, disp as Disposition);
  return old;
}

/**
 * kill(2): signal 0 probes; pid 0 and -1 (the process group, everyone) are EPERM rather
 * than signalling a group. Undefined when the caller killed itself (it gets no reply).
 */
export function sysKill(kn: Kernel, t: Thread, pid: number, sig: number): number | undefined {
  if (!Number.isInteger(pid) || !Number.isInteger(sig)) return -U.EINVAL;
  if (sig < 0 || sig > U.NSIG) return -U.EINVAL;
  if (pid <= 0) return -U.EPERM;
  const target = kn.tasks.procs.get(pid);
  if (target === undefined || target.state !== 'live') return -U.ESRCH;
  if (sig === 0) return 0;
  signalProcess(kn, target, sig);
  return target === t.proc && target.state !== 'live' ? undefined : 0;
}

/** tkill(2): the thread's process gets the signal (there are no per-thread signals yet). */
export function sysTkill(kn: Kernel, t: Thread, tid: number, sig: number): number | undefined {
  if (!Number.isInteger(tid) || !Number.isInteger(sig) || sig < 0 || sig > U.NSIG) return -U.EINVAL;
  for (const p of kn.tasks.procs.values()) {
    const th = p.threads.get(tid);
    if (th === undefined || th.dying) continue;
    if (sig === 0) return 0;
    signalProcess(kn, p, sig);
    return p === t.proc && p.state !== 'live' ? undefined : 0;
  }
  return -U.ESRCH;
}

/** Deliver an asynchronous signal to a process: its default action unless ignored. */
export function signalProcess(kn: Kernel, p: Process, sig: number): void {
  const disp = p.signals.get(sig) ?? U.SIG_DFL;
  if (sig !== U.SIGKILL && disp === U.SIG_IGN) return;
  if (sig === U.SIGCHLD || sig === U.SIGCONT || sig === 28 /* SIGWINCH */ || sig === 23 /* SIGURG */) return; // default: ignore
  if (sig === U.SIGSTOP || sig === 20 || sig === 21 || sig === 22) return; // job control: no stopped state yet
  killProcess(kn, p, sig, U.SIGNAL_DESCRIPTIONS[sig] ?? `Killed by signal ${sig}`);
}

/**
 * A page fault at va that the kernel could not resolve (`fault`: FAULT_SIGBUS, or a
 * SEGV code): the thread's SIGBUS or SIGSEGV handler runs with the si_code and address,
 * or the process dies of the signal with a report line (`code`: the #PF error code, for the
 * kernel log's "segfault at" line).
 */
export function faultSignal(kn: Kernel, t: Thread, fault: number, va: number, code: number): void {
  const hex = Number.isFinite(va) ? `0x${va.toString(16)}` : String(va);
  const p = t.proc;
  if (fault === FAULT_SIGBUS) {
    if (p.signals.get(U.SIGBUS) === SIG_HANDLER) kn.replySignal(t.cpu, U.SIGBUS, U.BUS_ADRERR, va);
    else killProcess(kn, p, U.SIGBUS, `Bus error at ${hex} (BUS_ADRERR)`, t);
    return;
  }
  const siCode = fault === FAULT_SEGV_ACCERR ? U.SEGV_ACCERR : U.SEGV_MAPERR;
  if (p.signals.get(U.SIGSEGV) === SIG_HANDLER) {
    kn.replySignal(t.cpu, U.SIGSEGV, siCode, va);
    return;
  }
  t.segfault = { va, code };
  killProcess(kn, p, U.SIGSEGV, `Segmentation fault at ${hex} (${siCode === U.SEGV_ACCERR ? 'SEGV_ACCERR' : 'SEGV_MAPERR'})`, t);
}
