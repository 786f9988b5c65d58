// The main thread's [stack] VMA (fs/exec.c setup_arg_pages, mm/mmap.c expand_downwards,
// arch/x86/mm/mmap.c mmap_base). The expectations are the host kernel's (Linux
// 6.18.44-fc, no soft-dirty), from small C programs run under `setarch -R` (no
// randomization, as ptlab has none), with `ulimit -s` set for the limits:
//   a fresh process:  7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0  [stack], Size 132 kB,
//                     "VmFlags: rd wr mr mw me gd ac", VmStk 132 kB, THPeligible 0
//   ulimit -s 64:     7ffffffef000-7ffffffff000 (64 kB); ulimit -s 200: 132 kB again
//   mmap_base:        0x7ffff7fff000 (8 MiB), 0x7fffeda07000 (300000 KiB), 0x155555556000
//                     (unlimited): the first mmap lands below it
//   a write one page below the stack grows it (136 kB), one 1 MiB below too (to
//   7fffffedd000, VmStk 1160 kB); with an accessible mapping 512 KiB below it, a write just
//   below it is SIGSEGV (SEGV_MAPERR) and nothing grows; a PROT_NONE mapping there does not
//   stop it; past RLIMIT_STACK: SIGSEGV (SEGV_MAPERR); pread into the page below the stack
//   grows it (copy_to_user faults); MADV_POPULATE_WRITE and mlock there are ENOMEM and grow
//   nothing (GUP does not grow stacks).
import { describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { procRead } from '../../../kernel/fs/index.ts';
import { procMaps, procSmaps } from '../../../kernel/fs/proc/task_mmu.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { spawn } from '../../../kernel/task/fork.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const TOP = 0x7ffffffff000;
const WRITE = X86_PF_USER | X86_PF_WRITE;

const stackLine = (t: Thread): string => procMaps(t.proc.mm).split('\n').find((l) => l.endsWith('[stack]')) ?? '';
const stackLow = (t: Thread): number => parseInt(stackLine(t).split('-')[0], 16);
const vmStk = (h: KernelHarness, t: Thread): string => /^VmStk:\s+(\d+ kB)$/m.exec(procRead(h.kernel, t.proc, 'status'))?.[1] ?? '';

/** A child of t's process started after t set RLIMIT_STACK to `bytes` (Infinity: unlimited). */
function childWithStackLimit(h: KernelHarness, t: Thread, bytes: number): Thread {
  const rl = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  const v = bytes === Infinity ? 0xffff_ffff_ffff_ffffn : BigInt(bytes);
  dv.setBigUint64(0, v, true);
  dv.setBigUint64(8, 0xffff_ffff_ffff_ffffn, true);
  copyToUser(h.k, t.proc.mm, rl, b, -1);
  expect(h.call(t, U.SYS_setrlimit, U.RLIMIT_STACK, rl)).toBe(0);
  const pid = spawn(h.kernel, t.proc.pid, '/child.ts', []);
  h.pump();
  return h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
}

describe('the main thread\'s stack', () => {
  it('is a 132 KiB VM_GROWSDOWN VMA at the top, [stack] in maps, VmFlags rd wr mr mw me gd ac, VmStk 132 kB', () => {
    const h = new KernelHarness({ memBytes: 16 << 20, softDirty: false });
    const t = h.spawn();
    expect(stackLine(t)).toBe('7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]');
    const smaps = procSmaps(h.k, t.proc.mm).split(/\n(?=[0-9a-f]+-)/).find((r) => r.includes('[stack]'))!;
    expect(smaps).toMatch(/^Size: +132 kB$/m);
    expect(smaps).toMatch(/^Rss: +0 kB$/m); // ptlab copies no argument strings there
    expect(smaps).toMatch(/^THPeligible: +0$/m);
    expect(smaps).toMatch(/^VmFlags: rd wr mr mw me gd ac $/m);
    expect(vmStk(h, t)).toBe('132 kB');
    expect(procRead(h.kernel, t.proc, 'status')).toMatch(/^VmSize:\s+132 kB$/m);
    // mmap_base is 128 MiB below the top (8 MiB of stack limit and the 1 MiB gap, raised to
    // the minimum): a first mapping ends there.
    expect(h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0)).toBe(0x7ffff7fff000 - P);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('is VM_SOFTDIRTY with soft-dirty tracking, as __bprm_mm_init makes it', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    expect(procSmaps(h.k, t.proc.mm)).toMatch(/\[stack\]\n(?:.*\n)*?VmFlags: rd wr mr mw me gd ac sd \n/);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('takes its size and mmap_base from RLIMIT_STACK at spawn', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const small = childWithStackLimit(h, t, 64 << 10);
    expect(stackLine(small)).toMatch(/^7ffffffef000-7ffffffff000 .*\[stack\]$/);
    expect(vmStk(h, small)).toBe('64 kB');
    expect(small.proc.mm.mmapBase).toBe(0x7ffff7fff000);
    const mid = childWithStackLimit(h, t, 200 << 10);
    expect(stackLine(mid)).toMatch(/^7ffffffde000-7ffffffff000 /);
    const big = childWithStackLimit(h, t, 300000 << 10);
    expect(stackLine(big)).toMatch(/^7ffffffde000-7ffffffff000 /);
    expect(big.proc.mm.mmapBase).toBe(0x7fffeda07000);
    expect(h.call(big, U.SYS_mmap, 0, P, RW, ANON, -1, 0)).toBe(0x7fffeda07000 - P);
    const unlimited = childWithStackLimit(h, t, Infinity);
    expect(stackLine(unlimited)).toMatch(/^7ffffffde000-7ffffffff000 /);
    expect(unlimited.proc.mm.mmapBase).toBe(0x155555556000);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('grows on a fault below it, down to any distance within RLIMIT_STACK, but not into the guard gap of a mapping below', () => {
    const h = new KernelHarness({ memBytes: 16 << 20, validate: true });
    const t = h.spawn();
    expect(h.call(t, U.SYS_rt_sigaction, U.SIGSEGV, 2)).toBe(U.SIG_DFL); // a handler: the fault answers with the signal
    let lo = stackLow(t);
    expect(lo).toBe(TOP - 132 * 1024);
    expect(h.fault(t, lo - P, WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(stackLow(t)).toBe(0x7ffffffdd000);
    expect(vmStk(h, t)).toBe('136 kB');
    lo = stackLow(t);
    expect(h.fault(t, lo - (1 << 20), WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(stackLow(t)).toBe(0x7fffffedd000);
    expect(vmStk(h, t)).toBe('1160 kB');
    lo = stackLow(t);
    // An accessible mapping 512 KiB below: within the 1 MiB guard gap.
    const g = h.call(t, U.SYS_mmap, lo - (512 << 10), P, RW, ANON | U.MAP_FIXED_NOREPLACE, -1, 0);
    expect(g).toBe(lo - (512 << 10));
    expect(h.fault(t, lo - P, WRITE)).toEqual({ kind: 'signal', signo: U.SIGSEGV, code: U.SEGV_MAPERR, addr: lo - P });
    expect(stackLow(t)).toBe(lo);
    // A PROT_NONE one does not keep the gap.
    expect(h.call(t, U.SYS_mprotect, g, P, U.PROT_NONE)).toBe(0);
    expect(h.fault(t, lo - P, WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(vmStk(h, t)).toBe('1164 kB');
    expect(h.call(t, U.SYS_munmap, g, P)).toBe(0);
    // Past RLIMIT_STACK (8 MiB from the top).
    lo = stackLow(t);
    const past = TOP - (8 << 20) - 4 * P;
    expect(h.fault(t, past, WRITE)).toEqual({ kind: 'signal', signo: U.SIGSEGV, code: U.SEGV_MAPERR, addr: past });
    expect(stackLow(t)).toBe(lo);
    // Exactly at the limit it still grows.
    expect(h.fault(t, TOP - (8 << 20), WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(vmStk(h, t)).toBe('8192 kB');
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('grows for copy_to_user below it, not for MADV_POPULATE_WRITE or mlock (GUP does not grow stacks)', () => {
    const h = new KernelHarness({ memBytes: 16 << 20, validate: true });
    const t = h.spawn();
    const name = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    copyToUser(h.k, t.proc.mm, name, new TextEncoder().encode('/proc/self/status\0'), -1);
    const fd = h.call(t, U.SYS_open, name, U.O_RDONLY, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    const lo = stackLow(t);
    expect(h.call(t, U.SYS_pread64, fd, lo - 2 * P, 100, 0)).toBe(100);
    expect(stackLow(t)).toBe(lo - 2 * P);
    expect(h.call(t, U.SYS_madvise, lo - 3 * P, P, U.MADV_POPULATE_WRITE)).toBe(-U.ENOMEM);
    expect(h.call(t, U.SYS_mlock, lo - 3 * P, P)).toBe(-U.ENOMEM);
    expect(stackLow(t)).toBe(lo - 2 * P);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('is copied by fork with its pages, and stays [stack] in the child', () => {
    const h = new KernelHarness({ memBytes: 16 << 20, validate: true });
    const t = h.spawn();
    expect(h.fault(t, TOP - P, WRITE)).toEqual({ kind: 'return', value: 0 });
    const desc = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'default', arg: null }));
    const at = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    copyToUser(h.k, t.proc.mm, at, desc, -1);
    const pid = h.call(t, U.SYS_clone, U.FORK_FLAGS, at, desc.length);
    const c = h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
    expect(stackLine(c)).toBe(stackLine(t));
    expect(vmStk(h, c)).toBe('132 kB');
    expect(procSmaps(h.k, c.proc.mm)).toMatch(/\[stack\]\n(?:.*\n)*?Rss: +4 kB\n/);
    // The start message gives the child's main thread the stack pointer and what lies below it.
    const start = h.messages.filter((m) => m.t === 'start').at(-1)!;
    expect(start).toMatchObject({ pid, sp: c.proc.mm.startStack - (c.proc.mm.startStack % 16), stackRoom: 128 << 10 });
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});
