// The control block is untrusted input (issue 19 item 5, kernel/entry.ts): a forged or
// corrupt word in a CPU's slot kills that process with a report (SIGSYS) or gets an errno;
// the kernel goes on, other processes keep running, and no frame leaks. The test plays the
// forger: it writes the slot itself (KernelHarness) before the kernel serves it.
import { describe, expect, it } from 'vitest';
import {
  CPU_ARGS, CPU_BLOCK_BYTES, CPU_IDLE, CPU_REQ, CPU_STATE, CPU_SYSNO, cpuF64Base, cpuI32Base, FAULT_GP, G_PTE_SEQ, IPI_SEQ,
  K_SHOOTDOWN_TIMEOUTS, REQ_EXIT, REQ_SYSCALL, X86_PF_USER, X86_PF_WRITE,
} from '../../machine/index.ts';
import type { ToHost } from '../../kernel/messages.ts';
import { copyToUser } from '../../kernel/mm/uaccess.ts';
import { syscallsByNumber } from '../../kernel/syscalls/index.ts';
import { killProcess } from '../../kernel/task/exit.ts';
import type { Thread } from '../../kernel/task/task.ts';
import * as U from '../../kernel/uapi.ts';
import { KernelHarness } from '../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const UW = X86_PF_USER | X86_PF_WRITE;

type ProcExit = Extract<ToHost, { t: 'procexit' }>;

function exitOf(h: KernelHarness, pid: number): ProcExit | undefined {
  return h.messages.find((m): m is ProcExit => m.t === 'procexit' && m.pid === pid);
}

/** No process was killed by a kernel bug, the bystander still answers, nothing leaked. */
function sound(h: KernelHarness, bystander: Thread): void {
  const oops = h.messages.find((m) => m.t === 'procexit' && /kernel bug/i.test(m.report));
  expect(oops, oops?.t === 'procexit' ? oops.report : '').toBeUndefined();
  expect(h.call(bystander, U.SYS_getpid)).toBe(bystander.proc.pid);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
}

/** Expect t's process killed by SIGSYS, its report and the kernel log naming `field`. */
function killedFor(h: KernelHarness, t: Thread, field: RegExp): void {
  const e = exitOf(h, t.proc.pid);
  expect(e, 'the forger exited').toBeDefined();
  expect(e!.status).toBe(U.wSignalStatus(U.SIGSYS));
  expect(e!.report).toMatch(new RegExp(`^Bad system call: forged request from pid ${t.proc.pid} tid ${t.tid} on CPU ${t.cpu}: ${field.source}`));
  expect(h.messages.some((m) => m.t === 'klog' && m.text.includes(`forged request from pid ${t.proc.pid} `))).toBe(true);
}

describe('a forged request', () => {
  it('with no request code kills its process, once; the CPU is told to stop', () => {
    const h = new KernelHarness({ validate: true });
    const by = h.spawn();
    const t = h.spawn();
    expect(h.call(t, U.SYS_mmap, 0, P, RW, ANON | U.MAP_POPULATE, -1, 0)).toBeGreaterThan(0);
    const req = cpuI32Base(t.cpu) + CPU_REQ;
    Atomics.store(h.cb.i32, req, 99);
    expect(h.kernel.serveCpu(t.cpu)).toBe(true);
    expect(Atomics.load(h.cb.i32, req)).toBe(REQ_EXIT);
    h.pump();
    killedFor(h, t, /CPU_REQ = 99 \(no request code\)/);
    expect(h.messages.filter((m) => m.t === 'klog' && m.text.includes('forged')).length).toBe(1);
    sound(h, by);
  });

  it('with a negative syscall number kills; an unknown positive one is ENOSYS, as on Linux', () => {
    const h = new KernelHarness({ validate: true });
    const by = h.spawn();
    const t = h.spawn();
    expect(h.call(t, 0x7fff_ffff)).toBe(-U.ENOSYS);
    expect(h.call(t, 4000)).toBe(-U.ENOSYS);
    expect(h.syscall(t, -1)).toEqual({ kind: 'exit' });
    killedFor(h, t, /CPU_SYSNO = -1 \(a negative syscall number\)/);
    sound(h, by);
  });

  it('page fault: an error code with unknown bits, or an address that is no user address, kills', () => {
    const h = new KernelHarness({ validate: true });
    const by = h.spawn();
    const cases: [number, number, RegExp][] = [
      [0x10000, 1 << 5, /CPU_SYSNO = 0x20 \(page fault error code bits outside 0x1001f\)/],
      [0x10000, -1, /CPU_SYSNO = 0xffffffff /],
      [NaN, UW, /CPU_ARGS\[0\] = NaN \(page fault address not an integer in \[0, 2\^48\)\)/],
      [-P, UW, /CPU_ARGS\[0\] = -4096 /],
      [2 ** 48, UW, /CPU_ARGS\[0\] = 281474976710656 /],
      [0x10000 + 0.5, UW, /CPU_ARGS\[0\] = 65536.5 /],
      [Infinity, X86_PF_USER, /CPU_ARGS\[0\] = Infinity /],
    ];
    for (const [va, code, field] of cases) {
      const t = h.spawn();
      expect(h.fault(t, va, code)).toEqual({ kind: 'exit' });
      killedFor(h, t, field);
    }
    // FAULT_GP carries the bad address itself: a SIGSEGV, as the MMU raises it, not a forgery.
    const t = h.spawn();
    expect(h.fault(t, NaN, FAULT_GP | X86_PF_USER)).toEqual({ kind: 'exit' });
    expect(exitOf(h, t.proc.pid)?.status).toBe(U.wSignalStatus(U.SIGSEGV));
    sound(h, by);
  });

  it('with hostile arguments (NaN, infinities, fractions, 2^64, -2^63) gets an answer from every syscall in the table', () => {
    const h = new KernelHarness({ validate: true, memBytes: 64 << 20 });
    const by = h.spawn();
    const values = [NaN, Infinity, -Infinity, 2 ** 64, -(2 ** 63), 0.5, -0, 2 ** 53 + 2];
    let answered = 0;
    for (const s of syscallsByNumber()) {
      if (s === undefined) continue;
      for (const v of values) {
        const t = h.spawn();
        const a = h.syscall(t, s.nr, v, v, v, v, v, v);
        if (a.kind === 'return') expect(Number.isInteger(a.value), `${s.name}(${v} x6) = ${a.value}`).toBe(true);
        answered++;
        if (t.proc.state === 'live') h.kernel.hostMessage({ t: 'exited', cpu: t.cpu, error: 'test' });
        h.pump();
      }
    }
    expect(answered).toBeGreaterThan(300);
    sound(h, by);
  });
});

/** xorshift32: a seeded stream of int32s. */
function words(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
}

/** A thread of t's process on a CPU of its own (clone with CLONE_THREAD). */
function thread(h: KernelHarness, t: Thread): Thread {
  const desc = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'f', arg: null }));
  const at = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
  copyToUser(h.k, t.proc.mm, at, desc, -1);
  const tid = h.call(t, U.SYS_clone, U.CLONE_THREAD_FLAGS, at, desc.length);
  return t.proc.threads.get(tid)!;
}

/**
 * A bystander, and a process of two threads (t, t2) with `bytes` mapped and populated at
 * `at`; shootdowns stop waiting after 1 ms.
 */
function twoThreads(bytes: number): { h: KernelHarness; by: Thread; t: Thread; t2: Thread; at: number } {
  const h = new KernelHarness({ validate: true });
  h.k.tlb.flusher.timeoutMs = 1;
  const by = h.spawn();
  const t = h.spawn();
  const t2 = thread(h, t);
  return { h, by, t, t2, at: h.call(t, U.SYS_mmap, 0, bytes, RW, ANON | U.MAP_POPULATE, -1, 0) };
}

describe('a corrupt slot', () => {
  it('a request left posted by a worker terminated as it posted is not served as the next thread\'s', () => {
    const h = new KernelHarness({ validate: true });
    const by = h.spawn();
    const t = h.spawn();
    killProcess(h.kernel, t.proc, U.SIGKILL, 'test');
    // The worker posts a syscall after the kernel asked the host to stop it; then it is gone.
    h.cb.f64[cpuF64Base(t.cpu) + CPU_ARGS] = 0;
    h.cb.i32[cpuI32Base(t.cpu) + CPU_SYSNO] = U.SYS_exit_group;
    Atomics.store(h.cb.i32, cpuI32Base(t.cpu) + CPU_REQ, REQ_SYSCALL);
    h.pump();
    const next = h.spawn();
    expect(next.cpu).toBe(t.cpu);
    expect(h.kernel.hasWork()).toBe(false);
    expect(h.kernel.serveCpu(next.cpu)).toBe(false);
    expect(next.proc.state).toBe('live');
    sound(h, by);
  });

  it('CPU_STATE that is no state counts as running guest code: the shootdown waits, never skips it', () => {
    const { h, by, t, t2, at } = twoThreads(P);
    const timeouts = () => h.cb.f64[h.cb.kernelCounterIndex(K_SHOOTDOWN_TIMEOUTS)];
    const before = timeouts();
    Atomics.store(h.cb.i32, cpuI32Base(t2.cpu) + CPU_STATE, 77);
    expect(h.call(t, U.SYS_munmap, at, P)).toBe(0);
    expect(timeouts()).toBe(before + 1);
    expect(h.k.tlb.deferred.length).toBe(1); // the page is held until t2's CPU acknowledges
    // An idle CPU is skipped, as before.
    const at2 = h.call(t, U.SYS_mmap, 0, P, RW, ANON | U.MAP_POPULATE, -1, 0);
    Atomics.store(h.cb.i32, cpuI32Base(t2.cpu) + CPU_STATE, CPU_IDLE);
    expect(h.call(t, U.SYS_munmap, at2, P)).toBe(0);
    expect(timeouts()).toBe(before + 1);
    sound(h, by);
  });

  it('an odd IPI_SEQ or G_PTE_SEQ (words only the kernel writes) does not stop the kernel', () => {
    const { h, by, t, t2, at } = twoThreads(2 * P);
    Atomics.store(h.cb.i32, cpuI32Base(t2.cpu) + IPI_SEQ, 12345);
    expect(h.call(t, U.SYS_munmap, at, P)).toBe(0);
    Atomics.store(h.cb.i32, G_PTE_SEQ, 7);
    expect(h.call(t, U.SYS_mprotect, at + P, P, U.PROT_READ | U.PROT_EXEC)).toBe(0); // NX is in the hi word: a seq section
    expect(Atomics.load(h.cb.i32, G_PTE_SEQ) % 2).toBe(0);
    sound(h, by);
  });

  it('garbage in every word of the slot, 300 seeds: the process dies or gets an answer, the kernel goes on', () => {
    const h = new KernelHarness({ validate: true, memBytes: 64 << 20 });
    h.k.tlb.flusher.timeoutMs = 0;
    const by = h.spawn();
    const kinds = new Map<string, number>();
    for (let seed = 1; seed <= 300; seed++) {
      const t = h.spawn();
      const t2 = thread(h, t);
      const at = h.call(t, U.SYS_mmap, 0, P, RW, ANON | U.MAP_POPULATE, -1, 0);
      const next = words(seed * 2654435761);
      const base = cpuI32Base(t2.cpu);
      for (let i = 0; i < CPU_BLOCK_BYTES / 4; i++) h.cb.i32[base + i] = next();
      // A request code now and then, so that garbage arguments reach the handlers too.
      if (seed % 3 === 0) h.cb.i32[base + CPU_REQ] = 1 + (seed % 2);
      h.call(t, U.SYS_munmap, at, P); // a shootdown reads t2's state, sequence and ack
      h.kernel.serveCpu(t2.cpu);
      h.pump();
      const e = exitOf(h, t.proc.pid);
      const kind = e === undefined ? 'alive' : /forged/.test(e.report) ? 'forged' : `status ${e.status}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      if (e !== undefined) for (const v of Object.values(e.counters)) expect(Number.isFinite(v)).toBe(true);
      if (t.proc.state === 'live') h.syscall(t, U.SYS_exit_group, 0);
    }
    expect(kinds.get('forged')).toBeGreaterThan(150);
    sound(h, by);
  });
});
