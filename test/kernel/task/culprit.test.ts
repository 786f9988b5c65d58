// A thread killed by its own request (a fatal fault, a kernel bug met serving it) is
// answered REQ_DIE, and the host is told to let its worker end by itself: the worker reports
// where the guest was with its exit, and the kernel puts that in the kernel log's segfault
// line and under the death's report. The CPU's and host's sides are played by hand here.
import { expect, it } from 'vitest';
import { CPU_ARGS, CPU_REQ, CPU_SYSNO, cpuF64Base, cpuI32Base, REQ_DIE, REQ_TRAP, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

it('a fatal write fault: REQ_DIE, a terminate that waits for the worker, then the segfault line and the frames', () => {
  const h = new KernelHarness();
  const t = h.spawn('/g.ts');
  const other = h.spawn('/other.ts');
  // The CPU posts the fault; nobody plays the host yet.
  h.cb.f64[cpuF64Base(t.cpu) + CPU_ARGS] = 0x10;
  h.cb.i32[cpuI32Base(t.cpu) + CPU_SYSNO] = X86_PF_USER | X86_PF_WRITE;
  Atomics.store(h.cb.i32, cpuI32Base(t.cpu) + CPU_REQ, REQ_TRAP);
  expect(h.kernel.serveCpu(t.cpu)).toBe(true);
  expect(Atomics.load(h.cb.i32, cpuI32Base(t.cpu) + CPU_REQ)).toBe(REQ_DIE);
  // The worker says where it was as it ends.
  h.kernel.hostMessage({ t: 'exited', cpu: t.cpu, frames: ['poke (/g.ts:4:3)', 'main (/g.ts:9:3)'], at: '/g.ts:4:3' });
  h.pump();
  expect(h.messages.find((m) => m.t === 'terminate' && m.cpu === t.cpu)).toEqual({ t: 'terminate', cpu: t.cpu, dying: true });
  expect(h.messages.filter((m) => m.t === 'klog')).toEqual([{ t: 'klog', text: `g[${t.tid}]: segfault at 10 ip /g.ts:4:3 error 6` }]);
  const exit = h.messages.find((m) => m.t === 'procexit');
  expect(exit?.t === 'procexit' && exit.report).toBe('Segmentation fault at 0x10 (SEGV_MAPERR)\n    at poke (/g.ts:4:3)\n    at main (/g.ts:9:3)');
  // Killed by another (kill(2)): no culprit, a plain terminate, no segfault line.
  expect(h.syscall(other, U.SYS_kill, other.proc.pid, U.SIGSEGV)).toEqual({ kind: 'exit' });
  expect(h.messages.find((m) => m.t === 'terminate' && m.cpu === other.cpu)).toEqual({ t: 'terminate', cpu: other.cpu });
  expect(h.messages.filter((m) => m.t === 'klog')).toHaveLength(1);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('a worker that could not say where it was: the segfault line has ip ?, the report no frames', () => {
  const h = new KernelHarness();
  const t = h.spawn('/g.ts');
  expect(h.fault(t, 0x2000, X86_PF_USER)).toEqual({ kind: 'exit' });
  expect(h.messages.filter((m) => m.t === 'klog')).toEqual([{ t: 'klog', text: `g[${t.tid}]: segfault at 2000 ip ? error 4` }]);
  const exit = h.messages.find((m) => m.t === 'procexit');
  expect(exit?.t === 'procexit' && exit.report).toBe('Segmentation fault at 0x2000 (SEGV_MAPERR)');
  expect(h.leakedFrames()).toBe(0);
});

it('segfault lines are rate limited as printk_ratelimit: 10, then the rest counted', () => {
  const h = new KernelHarness();
  // Twelve deaths within a few milliseconds (no workers here): one burst of the 5 s interval.
  for (let i = 0; i < 12; i++) expect(h.fault(h.spawn(`/g${i}.ts`), 0x2000, X86_PF_USER)).toEqual({ kind: 'exit' });
  const lines = h.messages.filter((m) => m.t === 'klog').map((m) => m.t === 'klog' ? m.text : '');
  expect(lines.filter((l) => l.includes('segfault at'))).toHaveLength(10);
  expect(h.kernel.printkRs.missed).toBe(2);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});
