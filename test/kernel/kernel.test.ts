// The kernel's entry: dispatch through the syscall table, the per-process syscall counts,
// and what a kernel bug does (an oops kills the caller; corrupt state stops the machine).
import { describe, expect, it } from 'vitest';
import { KernelBug } from '../../kernel/bug.ts';
import type { Syscall } from '../../kernel/syscalls/table.ts';
import * as U from '../../kernel/uapi.ts';
import { KernelHarness } from '../harness/kernel.ts';

/** Replace the handler of syscall nr in h's kernel (tests only: the table is private). */
function patch(h: KernelHarness, nr: number, handler: Syscall['handler']): void {
  (h.kernel as unknown as { syscalls: Syscall[] }).syscalls[nr] = { nr, name: 'patched', handler };
}

describe('dispatch', () => {
  it('serves table rows, answers ENOSYS for anything else, and counts calls and errors by name', () => {
    const h = new KernelHarness();
    const t = h.spawn();
    expect(h.call(t, U.SYS_getpid)).toBe(t.proc.pid);
    expect(h.call(t, U.SYS_getpid)).toBe(t.proc.pid);
    expect(h.call(t, U.SYS_close, 99)).toBe(-U.EBADF);
    expect(h.call(t, 9999)).toBe(-U.ENOSYS);
    expect(h.call(t, 1025 + 7)).toBe(-U.ENOSYS);
    expect(h.kernel.syscallCounts(t.proc)).toEqual({ getpid: [2, 0], close: [1, 1] });
    h.killAll();
    const exit = h.messages.find((m) => m.t === 'procexit');
    expect(exit?.t === 'procexit' && exit.syscalls).toEqual({ getpid: [2, 0], close: [1, 1] });
    expect(h.leakedFrames()).toBe(0);
  });
});

describe('a kernel bug', () => {
  it('met with state intact kills the caller with a report; the machine goes on', () => {
    const h = new KernelHarness();
    const victim = h.spawn();
    const other = h.spawn();
    expect(h.call(victim, U.SYS_mmap, 0, 8 * 4096, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_POPULATE, -1, 0)).toBeGreaterThan(0);
    patch(h, U.SYS_getpid, () => {
      throw new KernelBug('getpid: a broken invariant');
    });
    expect(h.syscall(victim, U.SYS_getpid)).toEqual({ kind: 'exit' });
    const exit = h.messages.find((m) => m.t === 'procexit');
    expect(exit?.t === 'procexit' && exit.pid).toBe(victim.proc.pid);
    expect(exit?.t === 'procexit' && exit.report).toMatch(/kernel bug \(oops\): KernelBug: getpid: a broken invariant; the machine's state validated/);
    expect(h.call(other, U.SYS_gettid)).toBe(other.tid);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('that left an address space inconsistent stops the kernel, saying so', () => {
    const h = new KernelHarness();
    const t = h.spawn();
    patch(h, U.SYS_getpid, (_kn, th) => {
      th.proc.mm.totalVm += 1; // a counter that no longer matches the VMAs
      throw new KernelBug('getpid: halfway through');
    });
    expect(() => h.syscall(t, U.SYS_getpid)).toThrow(/getpid: halfway through \(kernel state corrupt: pid \d+: validateMm: totalVm/);
  });
});
