// Soft-dirty on shared file mappings (the kernel selftest's test_mprotect_file): once
// clear_refs 4 has cleared a VMA's VM_SOFTDIRTY, a shared writable mapping is write-notified,
// so the next write to a page faults and sets its soft-dirty bit (pagemap bit 55), whether
// the PTE was write-protected by clear_refs, by an mprotect to read-only and back, or mapped
// read-only by a read fault.
import { describe, expect, it } from 'vitest';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { clearRefs, pagemapRead } from '../../../kernel/fs/proc/task_mmu.ts';
import { pteWord } from '../../../kernel/mm/memory.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;

describe('soft-dirty on a shared file mapping', () => {
  it('a write after clear_refs 4 sets bit 55 again, after an mprotect to read-only and back too, and after a read fault', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const k = h.k;
    const mm = t.proc.mm;
    const name = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    copyToUser(k, mm, name, new TextEncoder().encode('f\0'), -1);
    const fd = h.call(t, U.SYS_memfd_create, name, 0);
    expect(h.call(t, U.SYS_ftruncate, fd, 4 * P)).toBe(0);
    const a = h.call(t, U.SYS_mmap, 0, 4 * P, RW, U.MAP_SHARED, fd, 0);
    /** A store as the CPU makes it: through a writable PTE it only sets A and D; else it faults first. */
    const store = (th: Thread, va: number): void => {
      const w = pteWord(k, th.proc.mm, va, false);
      const lo = w < 0 ? 0 : k.ops.lo(w);
      if ((lo & (_PAGE_PRESENT | _PAGE_RW)) !== (_PAGE_PRESENT | _PAGE_RW)) expect(h.fault(th, va, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
      k.ops.ptepSetBits(pteWord(k, th.proc.mm, va, false), _PAGE_ACCESSED | _PAGE_DIRTY);
    };
    const softDirty = (va: number): boolean => {
      const b = pagemapRead(k, mm, 8, (va / P) * 8, false) as Uint8Array;
      return (new DataView(b.buffer).getBigUint64(0, true) & (1n << 55n)) !== 0n;
    };
    store(t, a);
    expect(clearRefs(k, mm, '4')).toBe(0);
    expect(softDirty(a)).toBe(false);
    store(t, a);
    expect(softDirty(a)).toBe(true);
    // mprotect to read-only and back must not make the clean PTE writable again.
    expect(clearRefs(k, mm, '4')).toBe(0);
    expect(h.call(t, U.SYS_mprotect, a, 4 * P, U.PROT_READ)).toBe(0);
    expect(h.call(t, U.SYS_mprotect, a, 4 * P, RW)).toBe(0);
    expect(softDirty(a)).toBe(false);
    store(t, a);
    expect(softDirty(a)).toBe(true);
    // A page first read after clear_refs is mapped read-only: its first write faults too.
    expect(h.fault(t, a + 2 * P, X86_PF_USER)).toEqual({ kind: 'return', value: 0 });
    expect(k.ops.lo(pteWord(k, mm, a + 2 * P, false)) & _PAGE_RW).toBe(0);
    store(t, a + 2 * P);
    expect(softDirty(a + 2 * P)).toBe(true);
    // A dirty, soft-dirty PTE may be made writable by mprotect (can_change_pte_writable).
    expect(h.call(t, U.SYS_mprotect, a, 4 * P, U.PROT_READ)).toBe(0);
    expect(h.call(t, U.SYS_mprotect, a, 4 * P, RW)).toBe(0);
    expect(k.ops.lo(pteWord(k, mm, a, false)) & _PAGE_RW).not.toBe(0);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});
