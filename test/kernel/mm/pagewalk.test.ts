// The page-table walker and the dirty helpers (reference dirty-pagewalk.md, tests T1-T7, T9).
import { describe, expect, it } from 'vitest';
import { type Bo, METHOD_MKWRITE, METHOD_PAGETABLE } from '../../../kernel/drivers/vbuf.ts';
import { FdTable } from '../../../kernel/fs/file.ts';
import { InodeFile, Vfs } from '../../../kernel/fs/vfs.ts';
import { FAULT_DONE, FAULT_SIGBUS, handleMmFault } from '../../../kernel/mm/fault.ts';
import { finish } from '../../../kernel/mm/slice.ts';
import { truncateSliced } from '../../../kernel/mm/truncate.ts';
import { Kmm } from '../../../kernel/mm/kmm.ts';
import { cleanRecordSharedMappingRange, wpSharedMappingRange } from '../../../kernel/mm/mapping_dirty_helpers.ts';
import { pteWord } from '../../../kernel/mm/memory.ts';
import { type Mm } from '../../../kernel/mm/mm.ts';
import { sysMmap } from '../../../kernel/mm/mmap.ts';
import { sysMremap } from '../../../kernel/mm/mremap.ts';
import { PG_PGTABLE } from '../../../kernel/mm/page_alloc.ts';
import { ACTION_AGAIN, ACTION_CONTINUE, type MmWalkOps, walkPageRange, walkPageVma } from '../../../kernel/mm/pagewalk.ts';
import { pmdWord } from '../../../kernel/mm/pgtable.ts';
import { folioReferenced, rmapWalk } from '../../../kernel/mm/rmap.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import * as U from '../../../kernel/uapi.ts';
import {
    _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_USER,
    entryWord, mkPteHi, mkPteLo,
    Mmu,
    ptePfn, X86_PF_USER, X86_PF_WRITE
} from '../../../machine/index.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const SHARED = U.MAP_SHARED | U.MAP_FIXED;

function world(pages = 256) {
  const k = memoryWorld(32 << 20, 1).k;
  const vfs = new Vfs(k);
  const file = vfs.open(['tmp', 'buf'], U.O_CREAT | U.O_RDWR, 0o600, -1) as InodeFile;
  const mapping = file.inode.mapping!;
  finish(k, truncateSliced(k, mapping, pages * P, -1));
  const ro = vfs.open(['tmp', 'buf'], U.O_RDONLY, 0, -1) as InodeFile;
  const fds = new FdTable();
  const fd = fds.install(file, false, 100);
  const rofd = fds.install(ro, false, 100);
  const process = () => {
    const mm = newMm(k);
    const map = (addr: number, pages: number, pgoff: number, flags = SHARED, prot = RW, useFd = fd) =>
      sysMmap(k, mm, addr, pages * P, prot, flags, useFd, pgoff * P, -1, fds);
    const touch = (va: number, write: boolean) => expect(handleMmFault(k, mm, va, X86_PF_USER | (write ? X86_PF_WRITE : 0), -1)).toBe(FAULT_DONE);
    const lo = (va: number) => k.ops.lo(pteWord(k, mm, va, false));
    return { mm, map, touch, lo };
  };
  return { k, mapping, process, rofd };
}

const bits = (bm: Uint8Array) => [...bm].flatMap((b, i) => [0, 1, 2, 3, 4, 5, 6, 7].filter((j) => (b >> j) & 1).map((j) => i * 8 + j));

describe('dirty helpers', () => {
  it('T1: write-protect counts writable PTEs, then none', () => {
    const { k, mapping, process } = world();
    const a = process();
    const base = 0x10000000;
    expect(a.map(base, 16, 0)).toBe(base);
    for (let i = 0; i < 16; i++) a.touch(base + i * P, true);
    expect(wpSharedMappingRange(k, mapping, 0, 16, -1)).toBe(16);
    for (let i = 0; i < 16; i++) expect(a.lo(base + i * P) & _PAGE_RW).toBe(0);
    expect(wpSharedMappingRange(k, mapping, 0, 16, -1)).toBe(0);
    validateMm(k, a.mm);
  });

  it('T3, T4: clean+record sets bits and bounds, keeps write access, and leaves sentinels when nothing is dirty', () => {
    const { k, mapping, process } = world();
    const a = process();
    const base = 0x10000000;
    a.map(base, 16, 0);
    for (let i = 0; i < 16; i++) a.touch(base + i * P, i === 3 || i === 7);
    const bm = new Uint8Array(2);
    const range = { start: 0, end: 0 };
    expect(cleanRecordSharedMappingRange(k, mapping, 0, 16, 0, bm, range, -1)).toBe(2);
    expect(bits(bm)).toEqual([3, 7]);
    expect(range).toEqual({ start: 3, end: 8 });
    for (const i of [3, 7]) expect(a.lo(base + i * P) & (_PAGE_RW | _PAGE_DIRTY)).toBe(_PAGE_RW);
    expect(cleanRecordSharedMappingRange(k, mapping, 0, 16, 0, bm, range, -1)).toBe(0);
    expect(bits(bm)).toEqual([3, 7]);
    expect(range).toEqual({ start: 3, end: 8 });
    const empty = { start: 5, end: 5 };
    expect(cleanRecordSharedMappingRange(k, mapping, 0, 16, 0, new Uint8Array(2), empty, -1)).toBe(0);
    expect(empty).toEqual({ start: 16, end: 0 });
  });

  it('T5: bitmap_pgoff and the clip to [first, first + nr)', () => {
    const { k, mapping, process } = world();
    const a = process();
    const base = 0x10003000; // an odd address for file page 100
    a.map(base, 16, 100);
    for (let i = 0; i < 16; i++) a.touch(base + i * P, true);
    const bm = new Uint8Array(4);
    const range = { start: 0, end: 0 };
    expect(cleanRecordSharedMappingRange(k, mapping, 104, 4, 100, bm, range, -1)).toBe(4);
    expect(bits(bm)).toEqual([4, 5, 6, 7]);
    expect(range).toEqual({ start: 4, end: 8 });
    for (let i = 0; i < 16; i++) expect((a.lo(base + i * P) & _PAGE_DIRTY) !== 0).toBe(i < 4 || i >= 8);
  });

  it('T6: two processes dirtying one page: one bit, two PTEs cleaned', () => {
    const { k, mapping, process } = world();
    const a = process();
    const b = process();
    a.map(0x10000000, 16, 0);
    b.map(0x20000000, 16, 0);
    a.touch(0x10000000 + 5 * P, true);
    b.touch(0x20000000 + 5 * P, true);
    const bm = new Uint8Array(2);
    expect(cleanRecordSharedMappingRange(k, mapping, 0, 16, 0, bm, { start: 0, end: 0 }, -1)).toBe(2);
    expect(bits(bm)).toEqual([5]);
    expect(a.lo(0x10000000 + 5 * P) & _PAGE_DIRTY).toBe(0);
    expect(b.lo(0x20000000 + 5 * P) & _PAGE_DIRTY).toBe(0);
  });

  it('T7: private and read-only shared mappings are never touched; a private one first does not stop the walk', () => {
    const { k, mapping, process, rofd } = world();
    const a = process();
    a.map(0x10000000, 4, 0, U.MAP_PRIVATE | U.MAP_FIXED); // pgoff 0: first in i_mmap order
    a.map(0x20000000, 4, 0, SHARED, U.PROT_READ, rofd); // no VM_MAYWRITE
    a.map(0x30000000, 4, 0);
    for (const base of [0x10000000, 0x20000000, 0x30000000]) for (let i = 0; i < 4; i++) a.touch(base + i * P, base !== 0x20000000);
    expect(wpSharedMappingRange(k, mapping, 0, 4, -1)).toBe(4); // only the shared writable one
    for (let i = 0; i < 4; i++) expect(a.lo(0x10000000 + i * P) & _PAGE_RW).toBe(_PAGE_RW); // the private copies
    validateMm(k, a.mm);
  });
});

describe('the walker', () => {
  it('T9: AGAIN, CONTINUE, positive stops, testWalk, preVma/postVma, hole depths, empty PTE slots', () => {
    const { k, process } = world();
    const a = process();
    a.map(0x10000000, 4, 0);
    a.map(0x10200000, 2, 0); // under another PMD entry, a gap between them
    a.touch(0x10000000, true);
    a.touch(0x10200000, true);
    const calls: string[] = [];
    let again = 1;
    const ops: MmWalkOps<null> = {
      pmdEntry: (_w, addr, _n, walk) => {
        calls.push(`pmd ${addr.toString(16)}`);
        if (again-- > 0) walk.action = ACTION_AGAIN;
        else if (addr === 0x10200000) walk.action = ACTION_CONTINUE;
        return 0;
      },
      pteEntry: () => 0,
      pteHole: (addr, next, depth) => {
        calls.push(`hole ${addr.toString(16)}-${next.toString(16)} ${depth}`);
        return 0;
      },
      preVma: (start) => {
        calls.push(`pre ${start.toString(16)}`);
        return 0;
      },
      postVma: () => void calls.push('post'),
    };
    expect(walkPageRange(k, a.mm, 0x0fffe000, 0x10202000, ops, null)).toBe(0);
    expect(calls).toEqual([
      'hole fffe000-10000000 -1',
      'pre 10000000', 'pmd 10000000', 'pmd 10000000', 'post',
      'hole 10004000-10200000 -1',
      'pre 10200000', 'pmd 10200000', 'post',
    ]);
    // pteEntry sees empty slots too: 4 pages mapped, one faulted, four calls.
    let ptes = 0;
    walkPageVma(k, a.mm.vmas.find(0x10000000)!, { pteEntry: () => (ptes++, 0) }, null);
    expect(ptes).toBe(4);
    // A positive return stops the walk and comes back; postVma still runs after a failure.
    const seen: string[] = [];
    expect(walkPageRange(k, a.mm, 0x10000000, 0x10202000, { pteEntry: (_w, addr) => (addr === 0x10001000 ? 7 : 0), postVma: () => void seen.push('post') }, null)).toBe(7);
    expect(seen).toEqual(['post']);
    // A preVma error: no walk, no postVma.
    expect(walkPageRange(k, a.mm, 0x10000000, 0x10001000, { preVma: () => -U.EINVAL, postVma: () => void seen.push('post2'), pteEntry: () => 99 }, null)).toBe(-U.EINVAL);
    expect(seen).toEqual(['post']);
    // testWalk: 1 skips the VMA, a negative value aborts.
    expect(walkPageRange(k, a.mm, 0x10000000, 0x10202000, { testWalk: () => 1, pteEntry: () => 5 }, null)).toBe(0);
    expect(walkPageRange(k, a.mm, 0x10000000, 0x10202000, { testWalk: () => -U.EINVAL }, null)).toBe(-U.EINVAL);
    expect(walkPageRange(k, a.mm, 5, 5, {}, null)).toBe(-U.EINVAL);
  });

  it('T9: hole depths inside a VMA: 0 for an empty PML4 (folded P4D) slot, 2 for a PDPT one, 3 for a PD one', () => {
    const { k, process } = world();
    const a = process();
    const base = 2 ** 39 - 2 ** 30; // the last GiB under the first PML4 entry
    const M2 = 2 ** 21;
    a.map(base - 2 * M2, (2 * M2 + 2 ** 30 + M2) / P, 0, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, RW, -1);
    a.touch(base - P, true); // a PDPT, a PD and one page table, in the GiB below base
    const depths: string[] = [];
    walkPageRange(k, a.mm, base - 2 * M2, base + 2 ** 30 + M2, {
      pteEntry: () => 0,
      pteHole: (addr, _n, depth) => (depths.push(`${addr / M2}:${depth}`), 0),
    }, null);
    // An empty PD slot (depth 3), then the empty PDPT slot of the next GiB (2), then the
    // empty PML4 slot above 512 GiB, reported at the folded P4D level (0).
    expect(depths).toEqual([`${(base - 2 * M2) / M2}:3`, `${base / M2}:2`, `${2 ** 39 / M2}:0`]);
  });
});

describe('entries that are not present but not none (swap entries to come)', () => {
  it('reach their level\'s callback and are never descended into; none entries are holes', () => {
    const { k, process } = world();
    const a = process();
    const base = 0x10000000;
    const ANON_FIXED = U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED;
    a.map(base, 4, 0, ANON_FIXED, RW, -1);
    a.map(base + 2 ** 21, 4, 0, ANON_FIXED, RW, -1);
    a.touch(base, true);
    // A PTE and a PMD entry with P clear and another bit set (a swap entry's shape).
    const pte = pteWord(k, a.mm, base + P, false);
    k.ops.setPte(pte, _PAGE_USER, 0);
    const pmd = pmdWord(k, a.mm, base + 2 ** 21, true);
    k.ops.setPte(pmd, _PAGE_USER, 0);
    const seen: string[] = [];
    const at = (addr: number) => (addr - base) / P;
    const ops: MmWalkOps<null> = {
      pmdEntry: (w, addr) => {
        if ((k.ops.lo(w) & _PAGE_PRESENT) === 0) seen.push(`pmd ${at(addr)}`);
        return 0;
      },
      pteEntry: (w, addr) => {
        const lo = k.ops.lo(w);
        if (lo !== 0) seen.push(`pte ${at(addr)} ${(lo & _PAGE_PRESENT) !== 0 ? 'present' : 'not present'}`);
        return 0;
      },
      pteHole: (addr, _next, depth) => {
        seen.push(`hole ${at(addr)} depth ${depth}`);
        return 0;
      },
    };
    expect(walkPageRange(k, a.mm, base, base + 2 ** 21 + 4 * P, ops, null)).toBe(0);
    expect(seen).toEqual(['pte 0 present', 'pte 1 not present', 'hole 4 depth -1', 'pmd 512']);
    k.ops.ptepGetAndClear(pte);
    k.ops.ptepGetAndClear(pmd);
    validateMm(k, a.mm);
  });
});

describe('write-notified mappings and the vbuf device (vmwgfx model)', () => {
  function device() {
    const k = memoryWorld(32 << 20, 1).k;
    const vfs = new Vfs(k);
    const fds = new FdTable();
    const fd = fds.install(vfs.open(['dev', 'vbuf'], U.O_RDWR, 0, -1) as InodeFile, false, 100);
    const mm = newMm(k);
    const map = (bo: Bo, at: number) => sysMmap(k, mm, at, bo.pages * P, RW, SHARED, fd, bo.offset * P, -1, fds);
    const touch = (va: number, write: boolean) => expect(handleMmFault(k, mm, va, X86_PF_USER | (write ? X86_PF_WRITE : 0), -1)).toBe(FAULT_DONE);
    const lo = (va: number) => k.ops.lo(pteWord(k, mm, va, false));
    return { k, vfs, mm, map, touch, lo };
  }

  it('T2: after write-protect, a write faults into mkwrite once, which records the page; the PTE comes back RW|D', () => {
    const { k, vfs, mm, map, touch, lo } = device();
    const bo = vfs.vbuf.create(600, -1) as Bo; // >= 512 pages: MKWRITE
    expect(bo.method).toBe(METHOD_MKWRITE);
    const base = 0x40000000;
    expect(map(bo, base)).toBe(base);
    touch(base + 3 * P, false);
    expect(lo(base + 3 * P) & _PAGE_RW).toBe(0); // write-notified: read-only
    touch(base + 3 * P, true); // the write fault: pageMkwrite records page 3
    expect(bits(bo.bitmap)).toEqual([3]);
    expect(lo(base + 3 * P) & (_PAGE_RW | _PAGE_DIRTY)).toBe(_PAGE_RW | _PAGE_DIRTY);
    touch(base + 9 * P, true); // a first write to an unmapped page records it too
    expect(bits(bo.bitmap)).toEqual([3, 9]);
    expect([bo.start, bo.end]).toEqual([3, 10]);
    // A harvest re-protects the recorded span and hands the bits over.
    expect(bits(vfs.vbuf.harvest(bo, -1))).toEqual([3, 9]);
    expect(lo(base + 3 * P) & _PAGE_RW).toBe(0);
    expect(bits(bo.bitmap)).toEqual([]);
    validateMm(k, mm);
  });

  it('T12: PAGETABLE below 512 pages; three empty scans switch to MKWRITE; three heavy MKWRITE scans switch back', () => {
    const { vfs, map, touch, lo } = device();
    const bo = vfs.vbuf.create(100, -1) as Bo;
    expect(bo.method).toBe(METHOD_PAGETABLE);
    const base = 0x40000000;
    map(bo, base);
    for (const i of [1, 5, 50]) touch(base + i * P, true);
    expect(lo(base + P) & _PAGE_RW).toBe(_PAGE_RW); // PAGETABLE: mapped writable
    expect(bits(vfs.vbuf.harvest(bo, -1))).toEqual([1, 5, 50]);
    for (let i = 0; i < 3; i++) expect(bits(vfs.vbuf.harvest(bo, -1))).toEqual([]);
    expect(bo.method).toBe(METHOD_MKWRITE);
    expect(bo.switches).toBe(1);
    expect(lo(base + P) & _PAGE_RW).toBe(0); // write-protected on the switch
    // MKWRITE: writes to 20 of 100 pages fault and are recorded; each scan re-protects 20%.
    for (let round = 0; round < 3; round++) {
      for (let i = 10; i < 30; i++) touch(base + i * P, true);
      if (round < 2) expect(bits(vfs.vbuf.harvest(bo, -1))).toHaveLength(20);
    }
    vfs.vbuf.scan(bo, -1);
    expect(bo.method).toBe(METHOD_PAGETABLE);
    expect(bo.switches).toBe(2);
    // The bitmap is set over the whole previous span, conservatively.
    expect(bits(bo.bitmap)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
  });

  it('destroying a PAGETABLE BO records its dirty pages first and unmaps it everywhere', () => {
    const { k, vfs, mm, map, touch } = device();
    const free0 = k.pages.nrFree;
    const bo = vfs.vbuf.create(8, -1) as Bo;
    map(bo, 0x40000000);
    touch(0x40000000 + 2 * P, true);
    vfs.vbuf.destroy(bo, -1);
    expect(bits(bo.bitmap)).toEqual([2]);
    expect(mm.rssShmem).toBe(0);
    expect(handleMmFault(k, mm, 0x40000000, X86_PF_USER, -1)).toBe(FAULT_SIGBUS);
    validateMm(k, mm);
    expect(k.pages.nrFree).toBe(free0 - mm.ptePages);
  });
});

describe('the TLB and cleaned dirty bits (T10)', () => {
  it('a cached D=1 translation hides a clean done without a flush; clean+record flushes, so the next write dirties again', () => {
    const { k, mapping, process } = world();
    const a = process();
    const base = 0x10000000;
    a.map(base, 4, 0);
    a.mm.cpus.add(0);
    const mmu = new Mmu(k.mem, k.cb, 0);
    mmu.loadCr3(a.mm.pml4);
    mmu.onPageFault = (va, code) => expect(handleMmFault(k, a.mm, va, code, 0)).toBe(FAULT_DONE);
    const store = (va: number, v: number) => mmu.store32(va, v);
    store(base, 1); // faults in, D set; the TLB now caches a dirty translation
    const w = pteWord(k, a.mm, base, false);
    expect(k.ops.lo(w) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    k.ops.ptepTestAndClearDirty(w); // cleaned behind the TLB's back, no flush
    store(base, 2);
    expect(k.ops.lo(w) & _PAGE_DIRTY).toBe(0); // hardware-faithful: the write went unseen
    // clean_record flushes what it cleans: the next write walks again and sets D.
    k.ops.ptepSetBits(w, _PAGE_DIRTY);
    expect(cleanRecordSharedMappingRange(k, mapping, 0, 4, 0, new Uint8Array(1), { start: 0, end: 0 }, -1)).toBe(1);
    store(base, 3);
    expect(k.ops.lo(w) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    // The same for write protection: without a flush the write still goes through.
    k.ops.ptepSetWrprotect(w);
    store(base, 4);
    expect(mmu.load32(base)).toBe(4);
    expect(wpSharedMappingRange(k, mapping, 0, 4, -1)).toBe(0); // already read-only in memory
  });
});

describe('reverse mapping', () => {
  it('folioReferenced finds a page-cache page in every process that maps it and clears each accessed bit once', () => {
    const { k, mapping, process } = world();
    const a = process();
    const b = process();
    a.map(0x10000000, 8, 0);
    b.map(0x20005000, 8, 4); // file pages 4..11 at an odd address
    a.touch(0x10000000 + 6 * P, false);
    b.touch(0x20005000 + 2 * P, false); // file page 6 again
    const pfn = mapping.pages.load(6);
    const seen: number[] = [];
    rmapWalk(k, pfn, (_mm, _w, va) => seen.push(va));
    expect(seen.sort()).toEqual([0x10000000 + 6 * P, 0x20005000 + 2 * P]);
    expect(folioReferenced(k, pfn).referenced).toBe(2);
    expect(folioReferenced(k, pfn).referenced).toBe(0);
    a.touch(0x10000000 + 6 * P, false); // no fault needed: A is set again by the next access
    k.ops.ptepSetBits(pteWord(k, a.mm, 0x10000000 + 6 * P, false), 0x20);
    expect(folioReferenced(k, pfn).referenced).toBe(1);
  });

  it('finds an anonymous page after mremap moved it, and a private copy of a file page as anonymous', () => {
    const { k, process } = world();
    const a = process();
    const anon = U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED;
    a.map(0x30000000, 4, 0, anon, RW, -1);
    a.touch(0x30000000 + P, true);
    const pfn = ptePfnAt(k, a.mm, 0x30000000 + P);
    expect(sysMremap(k, a.mm, 0x30000000, 4 * P, 4 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, 0x50000000, -1)).toBe(0x50000000);
    const seen: number[] = [];
    rmapWalk(k, pfn, (_mm, _w, va) => seen.push(va));
    expect(seen).toEqual([0x50000000 + P]);
    expect(folioReferenced(k, pfn).referenced).toBe(1);
    a.map(0x60000000, 2, 0, U.MAP_PRIVATE | U.MAP_FIXED);
    a.touch(0x60000000, true); // a copy-on-write copy of file page 0
    const copy = ptePfnAt(k, a.mm, 0x60000000);
    const where: number[] = [];
    rmapWalk(k, copy, (_mm, _w, va) => where.push(va));
    expect(where).toEqual([0x60000000]);
    validateMm(k, a.mm);
  });
});

function ptePfnAt(k: Kmm, mm: Mm, va: number): number {
  const w = pteWord(k, mm, va, false);
  return ptePfn(k.ops.lo(w), k.ops.hi(w));
}

describe('huge entries (T8), with a 2 MiB leaf planted by hand in a shared file mapping (tmpfs has no huge pages)', () => {
  it('the dirty helpers skip a writable, dirty leaf with a warning; a walker with only a pteEntry splits it', () => {
    const { k, mapping, process } = world(1024);
    const a = process();
    const base = 0x40000000; // 2 MiB aligned: PD slots 0 and 1 of this GiB
    a.map(base, 1024, 0);
    a.touch(base, true);
    // Plant a 2 MiB leaf for the second 2 MiB (as a tmpfs huge page would map; the helpers
    // must leave such an entry alone).
    const block = k.pages.takeBlock(9);
    const slot = pdeWordOf(k, a.mm, base) + 2; // the next PD entry (two words per entry)
    k.ops.setPte(slot, mkPteLo(block, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_PSE | _PAGE_DIRTY), mkPteHi(block, true));
    const warnings = k.events.hugeDirtyWarnings;
    expect(wpSharedMappingRange(k, mapping, 0, 1024, -1)).toBe(1); // the one 4 KiB page
    expect(k.events.hugeDirtyWarnings).toBe(warnings + 1);
    expect(k.ops.lo(slot) & (_PAGE_RW | _PAGE_DIRTY)).toBe(_PAGE_RW | _PAGE_DIRTY); // untouched
    expect(cleanRecordSharedMappingRange(k, mapping, 0, 1024, 0, new Uint8Array(128), { start: 0, end: 0 }, -1)).toBe(1);
    expect(k.events.hugeDirtyWarnings).toBe(warnings + 2);
    // A walker with a pmdEntry sees the leaf itself.
    const leaves: number[] = [];
    walkPageRange(k, a.mm, base, base + 1024 * P, { pmdEntry: (w, addr) => ((k.ops.lo(w) & _PAGE_PSE) !== 0 && leaves.push(addr), 0) }, null);
    expect(leaves).toEqual([base + 2 ** 21]);
    // A walker with only a pteEntry splits it: 512 PTEs for the block's frames, same rights,
    // the leaf's A/D bits; the PD entry points at the new table.
    const tables = a.mm.ptePages;
    const seen: number[] = [];
    walkPageRange(k, a.mm, base + 2 ** 21, base + 2 ** 21 + 8 * P, {
      pteEntry: (w) => (seen.push(ptePfn(k.ops.lo(w), k.ops.hi(w)) - block), 0),
    }, null);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(k.ops.lo(slot) & _PAGE_PSE).toBe(0);
    expect(a.mm.ptePages).toBe(tables + 1);
    const pte = pteWord(k, a.mm, base + 2 ** 21 + 5 * P, false);
    expect(k.ops.lo(pte) & (_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY | _PAGE_PSE)).toBe(_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY);
    // Take the hand-made mapping down again (its frames were never accounted as mapped).
    const pt = ptePfn(k.ops.lo(slot), k.ops.hi(slot));
    for (let i = 0; i < 512; i++) k.ops.ptepGetAndClear(entryWord(pt, i));
    k.ops.ptepGetAndClear(slot);
    k.pages.flags[pt] &= ~PG_PGTABLE;
    k.pages.putPage(pt);
    a.mm.ptePages--;
    k.pages.freePages(block, 9);
    validateMm(k, a.mm);
  });
});

/** The word of the page-directory entry for va (the PDPT and PD must exist). */
function pdeWordOf(k: Kmm, mm: Mm, va: number): number {
  let table = mm.pml4;
  for (const level of [4, 3]) {
    const w = entryWord(table, Math.floor(va / 2 ** (12 + 9 * (level - 1))) % 512);
    table = ptePfn(k.ops.lo(w), k.ops.hi(w));
  }
  return entryWord(table, Math.floor(va / 2 ** 21) % 512);
}
