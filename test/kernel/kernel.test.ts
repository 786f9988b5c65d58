// The kernel's entry: dispatch through the syscall table, the per-process syscall counts,
// and what a kernel bug does (an oops kills the caller; corrupt state stops the machine).
import { describe, expect, it } from 'vitest';
import { KernelBug } from '../../kernel/bug.ts';
import { copyToUser } from '../../kernel/mm/uaccess.ts';
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

describe('two kernels in one host', () => {
  it('share no state: pids, inode numbers, anon_vma ids and files are each kernel\'s own', () => {
    const [a, b] = [new KernelHarness(), new KernelHarness()];
    const ta = a.spawn();
    const inoA = [a.k.nextIno(), a.k.nextIno()];
    const avA = a.k.rmap.newAnonVma().id;
    const tb = b.spawn();
    expect(tb.proc.pid).toBe(ta.proc.pid);
    expect([b.k.nextIno(), b.k.nextIno()]).toEqual(inoA);
    expect(b.k.rmap.newAnonVma().id).toBe(avA);
    // A file one kernel creates is not there in the other.
    const path = new TextEncoder().encode('/tmp/only-in-a\0');
    const at = userBytes(a, ta, path);
    expect(a.call(ta, U.SYS_open, at, U.O_CREAT | U.O_RDWR, 0o600)).toBeGreaterThanOrEqual(0);
    const bt = userBytes(b, tb, path);
    expect(b.call(tb, U.SYS_open, bt, U.O_RDWR, 0)).toBe(-U.ENOENT);
    a.killAll();
    b.killAll();
    expect([a.leakedFrames(), b.leakedFrames()]).toEqual([0, 0]);
  });
});

/** Put bytes in a fresh anonymous page of t's memory; their address. */
function userBytes(h: KernelHarness, t: ReturnType<KernelHarness['spawn']>, bytes: Uint8Array): number {
  const va = h.call(t, U.SYS_mmap, 0, 4096, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  expect(copyToUser(h.k, t.proc.mm, va, bytes, -1)).toBe(0);
  return va;
}
