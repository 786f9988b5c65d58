// The VMA layer (kernel/mm/vma.ts, Linux's mm/vma.c) driven alone, as tools/testing/vma
// drives Linux's: VMAs are built by hand with a recording backing (its vm_operations log
// what the layer asks of them), so no page table, fault or system call takes part. Each
// case draws the address space as an ASCII map, one character per page: '.' a hole, a
// letter per VMA in address order.
import { describe, expect, it } from 'vitest';
import { anonVmaPrepare } from '../../../kernel/mm/anon_vma.ts';
import { AddressSpace } from '../../../kernel/mm/filemap.ts';
import { Vma, VM_READ, VM_SOFTDIRTY, VM_SPECIAL, VM_WRITE, type VmOperations } from '../../../kernel/mm/mm_types.ts';
import { canMerge, linkVma, modifyFlags, rangeSplitError, releaseVma, splitError, splitVma, vmaMerge } from '../../../kernel/mm/vma.ts';
import * as U from '../../../kernel/uapi.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';

const P = 4096;
const B = 0x4000_0000;
const RW = VM_READ | VM_WRITE;

/** A backing that records each call the VMA layer makes, and refuses splits at `refuse`. */
function recorder(name = 'test') {
  const log: string[] = [];
  const refuse = new Set<number>();
  const ops: VmOperations = {
    name,
    split: (_k, vma, addr) => log.push(`split ${(vma.start - B) / P}@${(addr - B) / P}`),
    open: (vma) => log.push(`open ${(vma.start - B) / P}`),
    close: (_k, vma) => log.push(`close ${(vma.start - B) / P}`),
    maySplit: (_vma, addr) => (refuse.has((addr - B) / P) ? -U.EINVAL : 0),
  };
  return { ops, log, refuse };
}

function world() {
  const k = memoryWorld(4 << 20, 1).k;
  const mm = newMm(k);
  const rec = recorder();
  /** A VMA of pages [page, page + pages) from B, linked into mm as mmap_region does. */
  const add = (page: number, pages: number, flags = RW, o: { ops?: VmOperations; mapping?: AddressSpace; pgoff?: number } = {}): Vma => {
    const start = B + page * P;
    const v = new Vma(start, start + pages * P, flags, o.pgoff ?? start / P, o.ops ?? rec.ops, o.mapping ?? null);
    mm.vmas.insert(v);
    linkVma(mm, v);
    return v;
  };
  const draw = (pages = 12): string => {
    const vmas = mm.vmas.intersecting(B, B + pages * P);
    mm.vmas.validate();
    let out = '';
    for (let i = 0; i < pages; i++) {
      const n = vmas.findIndex((v) => v.start <= B + i * P && B + i * P < v.end);
      out += n < 0 ? '.' : String.fromCharCode(97 + n);
    }
    return out;
  };
  return { k, mm, rec, add, draw };
}

describe('canMerge (is_mergeable_vma, is_mergeable_anon_vma)', () => {
  it('joins touching VMAs with the same flags, backing and continuing offsets; soft-dirty does not count', () => {
    const { add } = world();
    const a = add(0, 2);
    const b = add(2, 2, RW | VM_SOFTDIRTY);
    expect(canMerge(a, b)).toBe(true);
    expect(canMerge(b, a)).toBe(false); // order matters: the first must end where the second starts
  });

  it('refuses a gap, other flags, another backing, a pgoff jump, sealing or droppability that differ', () => {
    const { add } = world();
    const other = recorder('other').ops;
    const a = add(0, 2);
    expect(canMerge(a, add(3, 1))).toBe(false); // a hole between
    expect(canMerge(a, add(2, 1, VM_READ))).toBe(false);
    const { add: add2 } = world();
    const c = add2(0, 2);
    expect(canMerge(c, add2(2, 1, RW, { ops: other }))).toBe(false);
    const { add: add3 } = world();
    const d = add3(0, 2);
    expect(canMerge(d, add3(2, 1, RW, { pgoff: 7 }))).toBe(false);
    const { add: add4 } = world();
    const e = add4(0, 2);
    const f = add4(2, 1);
    f.sealed = true;
    expect(canMerge(e, f)).toBe(false);
    f.sealed = false;
    f.droppable = true;
    expect(canMerge(e, f)).toBe(false);
    f.droppable = false;
    expect(canMerge(e, f)).toBe(true);
  });

  it('never merges VM_SPECIAL VMAs (hugetlb, mshare, PFN maps), even identical ones', () => {
    const { add } = world();
    for (const bit of [0x400, 0x4000, 0x10000000, 0x40000]) {
      expect(VM_SPECIAL & bit).toBe(bit);
    }
    const a = add(0, 2, RW | 0x400);
    const b = add(2, 2, RW | 0x400);
    expect(canMerge(a, b)).toBe(false);
  });

  it('file VMAs merge only over the same file at continuing file offsets', () => {
    const { k, add } = world();
    const f1 = new AddressSpace(k.nextIno(), 16 * P, '/tmp/one');
    const f2 = new AddressSpace(k.nextIno(), 16 * P, '/tmp/two');
    const a = add(0, 2, RW, { mapping: f1, pgoff: 4 });
    expect(canMerge(a, add(2, 2, RW, { mapping: f1, pgoff: 6 }))).toBe(true);
    for (const [mapping, pgoff] of [[f2, 6], [f1, 7]] as const) {
      const { add: addB } = world();
      const c = addB(0, 2, RW, { mapping: f1, pgoff: 4 });
      expect(canMerge(c, addB(2, 2, RW, { mapping, pgoff }))).toBe(false);
    }
  });

  it('anon_vmas: none and none, none and an unshared one, the same one merge; two different ones do not', () => {
    const { k, add } = world();
    const a = add(0, 2);
    const b = add(2, 2);
    expect(canMerge(a, b)).toBe(true);
    anonVmaPrepare(k, b, null, null);
    expect(canMerge(a, b)).toBe(true); // a has none; b's is shared with no parent
    anonVmaPrepare(k, a, null, null);
    expect(a.anonVma).not.toBe(b.anonVma);
    expect(canMerge(a, b)).toBe(false);
    // A chain of more than one anon_vma (a fork's child) cannot pass to a VMA without one.
    const { k: k2, add: add2 } = world();
    const c = add2(0, 2);
    const d = add2(2, 2);
    anonVmaPrepare(k2, d, null, null);
    const parent = k2.rmap.newAnonVma();
    d.anonVmaChain.push(parent);
    parent.vmas.add(d);
    expect(canMerge(c, d)).toBe(false);
  });

  it('anon_vma_prepare reuses a compatible neighbour\'s anon_vma, so the two can still merge', () => {
    const { k, add } = world();
    const a = add(0, 2);
    const b = add(2, 2, VM_READ); // differs only in access bits: anon_vma_compatible
    anonVmaPrepare(k, a, null, null);
    anonVmaPrepare(k, b, a, null);
    expect(b.anonVma).toBe(a.anonVma);
    const c = add(4, 2, VM_READ | 0x100 /* VM_GROWSDOWN */);
    anonVmaPrepare(k, c, b, null);
    expect(c.anonVma).not.toBe(a.anonVma);
  });
});

describe('splitVma and vmaMerge (__split_vma, vma_merge)', () => {
  it('splits with the backing asked first, the new part opened, offsets carried, i_mmap keyed right', () => {
    const { k, mm, rec, add, draw } = world();
    const file = new AddressSpace(k.nextIno(), 16 * P, '/tmp/f');
    const v = add(0, 6, RW, { mapping: file, pgoff: 10 });
    anonVmaPrepare(k, v, null, null);
    const upper = splitVma(mm, v, B + 4 * P);
    expect(draw(8)).toBe('aaaabb..');
    expect(rec.log).toEqual(['split 0@4', 'open 4']);
    expect([v.end, upper.start, upper.end, upper.pgoff]).toEqual([B + 4 * P, B + 4 * P, B + 6 * P, 14]);
    expect(upper.anonVma).toBe(v.anonVma);
    expect([...v.anonVma!.vmas]).toEqual([v, upper]);
    file.mappers.validate();
    expect([...file.mappers.overlapping(14, 14)]).toEqual([upper]);
    expect([...file.mappers.overlapping(10, 13)]).toEqual([v]);
    // Merging back: the upper part is absorbed and closed; one VMA, one anon_vma user.
    expect(vmaMerge(mm, upper)).toBe(v);
    expect(draw(8)).toBe('aaaaaa..');
    expect(rec.log.at(-1)).toBe('close 4');
    expect([...v.anonVma!.vmas]).toEqual([v]);
    expect([...file.mappers]).toEqual([v]);
    file.mappers.validate();
  });

  it('merges with both neighbours at once and keeps the soft-dirty bit of any part', () => {
    const { mm, add, draw } = world();
    add(0, 2);
    const mid = add(2, 2, RW | VM_SOFTDIRTY);
    add(4, 2);
    expect(draw(8)).toBe('aabbcc..');
    const v = vmaMerge(mm, mid);
    expect(draw(8)).toBe('aaaaaa..');
    expect([v.start, v.end, v.flags & VM_SOFTDIRTY]).toEqual([B, B + 6 * P, VM_SOFTDIRTY]);
    expect(mm.vmas.count).toBe(1);
  });
});

describe('split refusals (vm_ops->may_split) and modifyFlags (vma_modify_flags)', () => {
  it('asks the VMAs a range cuts, at each end, before anything changes', () => {
    const { mm, rec, add } = world();
    const v = add(0, 8);
    expect(rangeSplitError(mm, B + 2 * P, B + 6 * P)).toBe(0);
    rec.refuse.add(6);
    expect(splitError(v, B + 6 * P)).toBe(-U.EINVAL);
    expect(rangeSplitError(mm, B + 2 * P, B + 6 * P)).toBe(-U.EINVAL);
    expect(rangeSplitError(mm, B + 2 * P, B + 8 * P)).toBe(0); // the end cuts nothing
    rec.refuse.add(2);
    expect(rangeSplitError(mm, B + 2 * P, B + 8 * P)).toBe(-U.EINVAL);
    expect(rangeSplitError(mm, B, B + 8 * P)).toBe(0);
  });

  it('changes the middle of a VMA into three, and back into one', () => {
    const { mm, rec, add, draw } = world();
    const v = add(0, 8);
    const mid = modifyFlags(mm, v, B + 2 * P, B + 5 * P, (f) => f & ~VM_WRITE)!;
    expect(draw(10)).toBe('aabbbccc..');
    expect([mid.start, mid.end, mid.flags]).toEqual([B + 2 * P, B + 5 * P, VM_READ]);
    const back = modifyFlags(mm, mid, B + 2 * P, B + 5 * P, (f) => f | VM_WRITE)!;
    expect(draw(10)).toBe('aaaaaaaa..');
    expect([back.start, back.end, back.flags]).toEqual([B, B + 8 * P, RW]);
    expect(rec.log).toEqual(['split 0@2', 'open 2', 'split 2@5', 'open 5', 'close 2', 'close 5']);
  });

  it('returns the VMA untouched when the flags do not change, and null at vm.max_map_count', () => {
    const { k, mm, rec, add, draw } = world();
    const v = add(0, 8);
    expect(modifyFlags(mm, v, B + 2 * P, B + 5 * P, (f) => f)).toBe(v);
    expect(rec.log).toEqual([]);
    k.vm.maxMapCount = 1;
    expect(modifyFlags(mm, v, B + 2 * P, B + 5 * P, (f) => f & ~VM_WRITE)).toBe(null);
    expect(draw(10)).toBe('aaaaaaaa..');
    k.vm.maxMapCount = 2;
    expect(modifyFlags(mm, v, B + 2 * P, B + 5 * P, (f) => f & ~VM_WRITE)).toBe(null); // the second split fails
    expect(draw(10)).toBe('aabbbbbb..'); // as in Linux, the first split stays
  });
});

describe('releaseVma (remove_vma)', () => {
  it('closes the backing, leaves i_mmap, and drops an anon_vma with its last VMA', () => {
    const { k, mm, rec, add } = world();
    const file = new AddressSpace(k.nextIno(), 16 * P, '/tmp/f');
    const v = add(0, 4, RW, { mapping: file, pgoff: 0 });
    anonVmaPrepare(k, v, null, null);
    const upper = splitVma(mm, v, B + 2 * P);
    const id = v.anonVma!.id;
    mm.vmas.remove(upper);
    releaseVma(k, upper);
    expect(rec.log.at(-1)).toBe('close 2');
    expect([...file.mappers]).toEqual([v]);
    expect(k.rmap.anonVmas.has(id)).toBe(true); // v still holds it
    mm.vmas.remove(v);
    releaseVma(k, v);
    expect(file.mappers.size).toBe(0);
    expect(k.rmap.anonVmas.has(id)).toBe(false);
    expect(v.anonVmaChain).toEqual([]);
  });
});
