// SysRq 't' (show_state): every thread of every process, its state, and what it waits for,
// as lines of the kernel log. Linux prints each task's state letter and its kernel stack;
// ptlab's threads have no kernel stack, so each line says instead what the thread's CPU has
// posted (a system call with its arguments, a page fault) and why it is not answered yet:
// blocked in wait4, a join, a pipe or a vfork (S), waiting for its mm's mmap_lock held by a
// sibling's call in slices (D), or that call itself between its slices (R).

import {
  type ControlBlock, CPU_ARGS, CPU_IDLE, CPU_REQ, CPU_STATE, CPU_SYSNO, CPU_USER, cpuF64Base, cpuI32Base, REQ_SYSCALL, REQ_TRAP,
} from '../../machine/index.ts';
import { SYSCALL_NAMES } from '../uapi.ts';
import type { Blocked, Process, Thread } from './task.ts';

const hex = (x: number): string => (Number.isInteger(x) && x >= 0 ? `0x${x.toString(16)}` : String(x));

/**
 * What `cpu` has posted in the control block: "mmap(0x0, 0x1000, ...)", "page fault at 0x...
 * error 6", or '' (also the fuzzer's list of requests in flight, read from the host).
 */
export function postedRequest(cb: ControlBlock, cpu: number): string {
  const req = Atomics.load(cb.i32, cpuI32Base(cpu) + CPU_REQ);
  const a = cpuF64Base(cpu) + CPU_ARGS;
  const code = cb.i32[cpuI32Base(cpu) + CPU_SYSNO]!;
  if (req === REQ_TRAP) return `page fault at ${hex(cb.f64[a]!)} error ${code.toString(16)}`;
  if (req !== REQ_SYSCALL) return '';
  const args = Array.from({ length: 6 }, (_, i) => hex(cb.f64[a + i]!)).join(', ');
  return `${SYSCALL_NAMES[code] ?? `syscall ${code}`}(${args})`;
}

/**
 * What a blocked thread waits on, a detail, and whether Linux would still sleep there (its
 * wake-up condition unmet): false is a wake-up the kernel missed.
 */
function blockedOn(t: Thread, b: Blocked, procs: ReadonlyMap<number, Process>): [string, string, boolean] {
  if (b.kind === 'io') {
    const [on, asLinux] = b.asleep();
    return ['file I/O', `${on}; `, asLinux];
  }
  if (b.kind === 'join') return [`joining thread ${b.tid}`, '', t.proc.threads.has(b.tid)];
  if (b.kind === 'vfork') return [`vfork child ${b.pid}`, '', (procs.get(b.pid)?.state ?? 'zombie') !== 'zombie'];
  // do_wait sleeps while it has a child to wait for and none of them is a zombie.
  const kids = [...t.proc.children].filter((c) => b.pid === -1 || c === b.pid).map((c) => procs.get(c));
  return [`wait4(${b.pid})`, '', kids.some((c) => c !== undefined) && kids.every((c) => c !== undefined && c.state !== 'zombie')];
}

/** The state letter and why: R running (guest code, or a call between its slices), S sleeping, D waiting for mmap_lock. */
function why(t: Thread, cb: ControlBlock, call: string, waits: boolean, procs: ReadonlyMap<number, Process>): [string, string] {
  if (t.dying) {
    // Its worker is to end (by itself, after REQ_EXIT or REQ_DIE; or terminated by the host).
    const state = Atomics.load(cb.i32, cpuI32Base(t.cpu) + CPU_STATE);
    const answer = Atomics.load(cb.i32, cpuI32Base(t.cpu) + CPU_REQ);
    return ['R', `exiting${t.culprit ? ' (killed by its own request)' : ''}, its worker not gone yet (cpu state ${state}, request word ${answer})`];
  }
  const b = t.blocked;
  if (b !== null) {
    const [on, detail, asLinux] = blockedOn(t, b, procs);
    return ['S', `blocked in ${on} (${detail}${asLinux ? 'Linux sleeps here too' : 'Linux would have woken it'})`];
  }
  if (t.sliced !== null) return ['R', `in slices (${t.sliced.slices} run, ${t.proc.mm.readersBeside.has(t.cpu) ? `holds mmap_lock for read beside cpu ${t.proc.mm.slicedCpu}` : t.proc.mm.slicedCpu !== t.cpu ? 'mm not held' : t.proc.mm.slicedShared ? 'holds mmap_lock for read' : 'holds mmap_lock'})`];
  if (call !== '' && waits) {
    const mm = t.proc.mm;
    return ['D', `waits for mmap_lock, ${mm.writerWaiting !== -1 && mm.writerWaiting !== t.cpu ? `queued behind the writer on cpu ${mm.writerWaiting}; ` : ''}held by ${mm.slicedCpu === -1 ? 'none' : `the call in slices on cpu ${mm.slicedCpu}`}`];
  }
  if (call !== '') return ['R', 'posted, not served yet'];
  const state = Atomics.load(cb.i32, cpuI32Base(t.cpu) + CPU_STATE);
  return state === CPU_IDLE ? ['S', 'idle (awaiting a promise or timer)'] : ['R', state === CPU_USER ? 'guest code' : `cpu state ${state}`];
}

/** Each thread in a call in slices: its process, its tid and the slices run so far. */
export function slicedCalls(procs: Iterable<Process>): { pid: number; tid: number; slices: number }[] {
  const out: { pid: number; tid: number; slices: number }[] = [];
  for (const p of procs) for (const t of p.threads.values()) if (t.sliced !== null) out.push({ pid: p.pid, tid: t.tid, slices: t.sliced.slices });
  return out;
}

/** show_state: one line per thread of every process (zombies as one line each), and each process's children. */
export function showState(procTable: ReadonlyMap<number, Process>, cb: ControlBlock, waitsForMm: (t: Thread) => boolean): string[] {
  const lines = ['sysrq: Show State'];
  for (const p of procTable.values()) {
    if (p.children.size > 0) {
      // A child missing from the table would keep wait4 waiting for good: it shows here.
      const kids = [...p.children].map((c) => `${c}:${procTable.get(c)?.state ?? 'missing'}`);
      lines.push(`pid:${p.pid} children ${kids.join(' ')}`);
    }
    if (p.state !== 'zombie' && p.threads.size === 0) {
      const td = p.teardown === null ? '' : `, its address space being torn down (${p.teardown.slices} slices run)`;
      lines.push(`task:${p.comm} state:${p.state} pid:${p.pid} ppid:${p.ppid} has no thread${td}`);
    }
    if (p.state === 'zombie') {
      lines.push(`task:${p.comm} state:Z pid:${p.pid} tgid:${p.pid} ppid:${p.ppid}`);
      continue;
    }
    for (const t of p.threads.values()) {
      const call = postedRequest(cb, t.cpu);
      const [letter, reason] = why(t, cb, call, waitsForMm(t), procTable);
      lines.push(`task:${t.comm} state:${letter} pid:${t.tid} tgid:${p.pid} ppid:${p.ppid} cpu:${t.cpu} ${reason}${call === '' ? '' : `: ${call}`}`);
    }
  }
  return lines;
}
