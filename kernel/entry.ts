// The entry checks: what the kernel reads from a CPU's slot of the control block is checked
// before it is used. The slot is shared memory that the CPU writes, which means JavaScript
// running in that CPU's worker: a forged or corrupt request ends that process (SIGSYS, with
// a report naming the CPU, the field and its value), never the kernel.
//
// Compare: arch/x86/entry/common.c (do_syscall_64 range-checks the number) and
// exc_page_fault. On real hardware the CPU itself writes the page fault's error code and
// CR2, so Linux takes them as they come; here that "hardware" is the guest's worker.
//
// What the kernel reads from a CPU slot (names from machine/layout.ts), and the check:
//   CPU_REQ       REQ_SYSCALL, REQ_TRAP: served. REQ_NONE and the answers (REQ_DONE,
//                 REQ_SIGNAL, REQ_EXIT, REQ_DIE): nothing posted. Any other value: forged.
//   CPU_SYSNO     syscall: the number, an int32. Negative: forged (the CPU's syscall()
//                 never posts one). Non-negative but not in the table: ENOSYS, as Linux.
//                 trap: the error code: X86_PF_* bits and FAULT_GP only, else forged.
//   CPU_ARGS[0]   trap: the address: an integer in [0, 2^48), else forged; with FAULT_GP
//                 it is the bad address itself (reported as si_addr, never used).
//   CPU_ARGS      syscall: any float64 (NaN, infinities, fractions, 2^64): each handler
//                 checks its own and answers an errno (test/kernel/hostile.test.ts).
//   CPU_STATE     shootdowns (mm/tlbflush.ts): CPU_IDLE and CPU_OFFLINE are believed;
//                 any other value counts as running guest code (waited for).
//   IPI_ACK       shootdowns: believed. A CPU that acknowledges a flush it did not apply
//                 keeps stale translations of its own process's freed frames (README.md,
//                 "Threat model").
//   IPI_SEQ and   postFlush (machine/ipi.ts) merges a pending request with a new one; any
//   the mailbox   value merges to a wider flush; an odd IPI_SEQ (never left by the kernel)
//                 is stepped over.
//   counters      read once as the thread ends (task/exit.ts); a value that is not a
//                 finite number counts as 0.
// A stale request left in a slot by a worker that was terminated while posting is cleared
// when the next thread takes the CPU (Tasks.attach), so it is never served as that thread's.

import {
  CPU_REQ, CPU_SLEEPING, cpuI32Base, cpuRequestPosted, FAULT_GP, REQ_DIE, REQ_EXIT, REQ_NONE, storeAndWake, X86_PF_INSTR, X86_PF_PROT, X86_PF_RSVD,
  X86_PF_USER, X86_PF_WRITE,
} from '../machine/index.ts';
import type { Kernel } from './kernel.ts';
import { killProcess } from './task/index.ts';
import * as U from './uapi.ts';

/** Every bit a CPU's page fault may carry in its error code. */
export const TRAP_CODE_BITS = X86_PF_PROT | X86_PF_WRITE | X86_PF_USER | X86_PF_RSVD | X86_PF_INSTR | FAULT_GP;
const VA_LIMIT = 2 ** 48;

/** True if `req` is no value of CPU_REQ at all (not a request, not an answer). */
export function badRequestCode(req: number): boolean {
  return req < REQ_NONE || req > Math.max(REQ_EXIT, REQ_DIE);
}

/** What is wrong with a posted page fault (address va, error code `code`), or null. */
export function badTrap(va: number, code: number): string | null {
  if ((code & ~TRAP_CODE_BITS) !== 0) return `CPU_SYSNO = 0x${(code >>> 0).toString(16)} (page fault error code bits outside 0x${TRAP_CODE_BITS.toString(16)})`;
  if ((code & FAULT_GP) !== 0) return null;
  if (!(Number.isInteger(va) && va >= 0 && va < VA_LIMIT)) return `CPU_ARGS[0] = ${va} (page fault address not an integer in [0, 2^48))`;
  return null;
}

/** What is wrong with a posted syscall number, or null (an unknown number is ENOSYS, not forged). */
export function badSyscallNr(nr: number): string | null {
  return nr < 0 ? `CPU_SYSNO = ${nr} (a negative syscall number)` : null;
}

/**
 * A forged or corrupt request on `cpu` (`what`: the field and its value): its process is
 * killed by SIGSYS with a report, the kernel log says the same, and the CPU is told to stop
 * (REQ_EXIT replaces the bad word, so it is reported once). True: the request was taken.
 */
export function forgedRequest(kn: Kernel, cpu: number, what: string): boolean {
  const t = kn.tasks.cpuThread[cpu];
  if (t === null) return false;
  if (!t.dying) {
    const line = `forged request from pid ${t.proc.pid} tid ${t.tid} on CPU ${cpu}: ${what}`;
    kn.printk(line);
    killProcess(kn, t.proc, U.SIGSYS, `Bad system call: ${line}`);
  }
  kn.replyExit(cpu);
  return true;
}

/**
 * The answers to the CPUs' requests (REQ_DONE, REQ_SIGNAL, REQ_EXIT, REQ_DIE), payload
 * written first. The answer to the request being served is held until serveCpu has charged
 * its modeled cost, so that the thread never resumes before its clock includes the request
 * (a guest reading its cycles right after a call would otherwise race the charge).
 */
export class Answers {
  /** The CPU whose request is being served (-1: none), and the answer held for it. */
  private serving = -1;
  private held = REQ_NONE;

  constructor(private readonly i32: Int32Array) {}

  /** serveCpu begins serving `cpu`'s request. */
  serve(cpu: number): void {
    this.serving = cpu;
  }

  /** Publish answer `code` to `cpu`: at once, or held if `cpu` is being served. */
  answer(cpu: number, code: number): void {
    if (cpu === this.serving) {
      // A thread killed during its own request was answered with its end: a result the
      // request then returns does not undo that (the worker would run on, and a culprit's,
      // which the host lets end by itself, never would).
      if (this.held !== REQ_EXIT && this.held !== REQ_DIE) this.held = code;
      return;
    }
    const base = cpuI32Base(cpu);
    storeAndWake(this.i32, base + CPU_REQ, code, base + CPU_SLEEPING);
  }

  /** True if `cpu` has a request posted that has no answer yet (one held counts as given). */
  awaits(cpu: number): boolean {
    return cpuRequestPosted(this.i32, cpu) && !(cpu === this.serving && this.held !== REQ_NONE);
  }

  /** The request served is done: its answer, if it has one yet, goes out. */
  release(): void {
    const cpu = this.serving;
    const code = this.held;
    this.serving = -1;
    this.held = REQ_NONE;
    if (code !== REQ_NONE) this.answer(cpu, code);
  }
}
