// Reclaim, swap and workingset through the kernel without workers (KernelHarness): the
// x86-64 swap PTE bit for bit, swap-out and swap-in with exact counters, second chance,
// folio_referenced's early stop, tmpfs under pressure, swap full, the watermarks and
// kswapd, and no frame or swap slot left behind.
import { afterEach, describe, expect, it } from 'vitest';
import {
  _PAGE_ACCESSED, CPU_OFFLINE, CPU_STATE, CPU_USER, cpuI32Base, readKernelCounters, X86_PF_USER, X86_PF_WRITE,
} from '../../../machine/index.ts';
import { releaseDeferred } from '../../../kernel/mm/mmu_gather.ts';
import { procMeminfo, procSwaps, procSysVm, procZoneinfo } from '../../../kernel/fs/proc/meminfo.ts';
import type { Mm } from '../../../kernel/mm/mm.ts';
import { LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, PG_ACTIVE, PG_ANON, PG_LRU, PG_MLOCKED, PG_REFERENCED, Watermarks } from '../../../kernel/mm/page_alloc.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { isSwapPte, swpOffset, swpPteHi, swpPteLo, swpType } from '../../../kernel/mm/swapfile.ts';
import { addToSwapCache, deleteFromSwapCache } from '../../../kernel/mm/swap_state.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import { folioReferenced } from '../../../kernel/mm/rmap.ts';
import { kswapdStep, reclaimPages } from '../../../kernel/mm/vmscan.ts';
import { pteWord } from '../../../kernel/mm/memory.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, smapsRecord } from '../../harness/kernel.ts';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const P = 4096;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
  expect(h.k.swap?.inuse ?? 0).toBe(0);
});

function boot(memBytes = 16 << 20, swapBytes = 64 << 20): Thread {
  h = new KernelHarness({ memBytes, swapBytes });
  return h.spawn();
}

const mmap = (t: Thread, len: number, flags = ANON, fd = -1): number => h.call(t, U.SYS_mmap, 0, len, RW, flags, fd, 0);
const write = (t: Thread, va: number) => expect(h.fault(t, va, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
const read = (t: Thread, va: number) => expect(h.fault(t, va, X86_PF_USER)).toEqual({ kind: 'return', value: 0 });
const madvise = (t: Thread, va: number, len: number, advice: number) => h.call(t, U.SYS_madvise, va, len, advice);

/** Write a word at va as the guest would (fault first if need be). */
function poke(t: Thread, va: number, v: number): void {
  if (leafWord(h.k, t.proc.mm, va) === null) write(t, va);
  const w = pteWord(h.k, t.proc.mm, va, false);
  if ((h.k.ops.lo(w) & 2) === 0) write(t, va);
  expect(copyToUser(h.k, t.proc.mm, va, new Uint8Array(new Uint32Array([v]).buffer), -1)).toBe(0);
}

/** Read the word at va as the guest would (a fault first if it is not mapped). */
function peek(t: Thread, va: number): number {
  if (leafWord(h.k, t.proc.mm, va) === null) read(t, va);
  const b = copyFromUser(h.k, t.proc.mm, va, 4, -1) as Uint8Array;
  return new Uint32Array(b.slice().buffer)[0];
}

/** The PTE at va: a swap entry's slot, or -1 if it is not one. */
function swapSlot(mm: Mm, va: number): number {
  const w = pteWord(h.k, mm, va, false);
  if (w < 0) return -1;
  const lo = h.k.ops.lo(w);
  return isSwapPte(lo) ? swpOffset(lo, h.k.ops.hi(w)) : -1;
}

/** A child of t by fork (its main thread). */
function forkOf(t: Thread): Thread {
  const desc = mmap(t, P, U.MAP_SHARED | U.MAP_ANONYMOUS);
  const json = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'c', arg: null }));
  copyToUser(h.k, t.proc.mm, desc, json, -1);
  const pid = h.call(t, U.SYS_clone, U.FORK_FLAGS, desc, json.length);
  return h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
}

const ev = () => h.k.reclaim.ev;
const kc = () => readKernelCounters(h.k.cb);
const majflt = () => kc().pgmajfault;

const smapsOf = (mm: Mm, va: number): Record<string, number> => smapsRecord(h.k, mm, va);

describe('the x86-64 swap PTE', () => {
  it('encodes type and inverted offset bit for bit (the reference vectors)', () => {
    boot();
    const word = (type: number, off: number) => (BigInt(swpPteHi(type, off)) << 32n) | BigInt(swpPteLo(off, false, false));
    expect(word(0, 0)).toBe(0x07fffffffffffe00n);
    expect(word(0, 1)).toBe(0x07fffffffffffc00n);
    expect(word(1, 0x1234)).toBe(0x0fffffffffdb9600n);
    expect(word(31, 2 ** 50 - 1)).toBe(0xf800000000000000n);
    expect(word(2, 0x3ffff)).toBe(0x17fffffff8000000n);
    // The exclusive bit is bit 3, soft-dirty bit 1; present, PROT_NONE (G) and PSE stay clear.
    const lo = swpPteLo(0x1234, true, true);
    expect(lo & 0x1ff).toBe(0b1010);
    expect(swpOffset(lo, swpPteHi(1, 0x1234))).toBe(0x1234);
    expect(swpType(swpPteHi(1, 0x1234))).toBe(1);
    expect(isSwapPte(lo)).toBe(true);
    expect(isSwapPte(0)).toBe(false);
  });
});

describe('swap-out and swap-in', () => {
  it('MADV_PAGEOUT writes private pages to swap; touching them reads them back (major), exact counters', () => {
    const t = boot();
    const a = mmap(t, 4 * P);
    for (let i = 0; i < 4; i++) poke(t, a + i * P, 0x1000 + i);
    const mm = t.proc.mm;
    expect(madvise(t, a, 4 * P, U.MADV_PAGEOUT)).toBe(0);
    expect(kc().pswpout).toBe(4);
    for (let i = 0; i < 4; i++) expect(swapSlot(mm, a + i * P)).toBeGreaterThan(0);
    expect(mm.swapents).toBe(4);
    expect(mm.rssAnon).toBe(0);
    expect(smapsOf(mm, a)).toMatchObject({ Rss: 0, Swap: 16, SwapPss: 16 });
    expect(h.k.swap!.inuse).toBe(4);
    // Page 2 first: a lone fault reads one page (no readahead window yet).
    const maj = majflt();
    expect(peek(t, a + 2 * P)).toBe(0x1002);
    expect(majflt() - maj).toBe(1);
    expect(kc().pswpin).toBe(1);
    // Page 3 next to it: a window of two, page 3 and (readahead) nothing past the VMA.
    expect(peek(t, a + 3 * P)).toBe(0x1003);
    expect(kc().pswpin).toBe(2);
    // Page 0, then 1: page 1 is read ahead with page 0's fault... or on its own; either way
    // every word comes back and the counters add up.
    expect(peek(t, a)).toBe(0x1000);
    expect(peek(t, a + P)).toBe(0x1001);
    expect(kc().pswpin).toBe(4);
    expect(majflt() - maj + ev().swapRaHit).toBe(4);
    expect(mm.swapents).toBe(0);
    expect(mm.rssAnon).toBe(4);
  });

  it('a swapped page shared by fork is read once: a major fault in one process, a minor one in the other', () => {
    const t = boot();
    const a = mmap(t, P);
    poke(t, a, 77);
    const desc = mmap(t, P, U.MAP_SHARED | U.MAP_ANONYMOUS);
    const json = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'c', arg: null }));
    copyToUser(h.k, t.proc.mm, desc, json, -1);
    const pid = h.call(t, U.SYS_clone, U.FORK_FLAGS, desc, json.length);
    const c = h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
    expect(madvise(t, a, P, U.MADV_PAGEOUT)).toBe(0);
    // Shared (mapcount 2): MADV_PAGEOUT leaves pages other mappings use.
    expect(kc().pswpout).toBe(0);
    expect(reclaimPages(h.k, [leafWord(h.k, t.proc.mm, a)!.pfn])).toBe(1);
    const slot = swapSlot(t.proc.mm, a);
    expect(slot).toBeGreaterThan(0);
    expect(swapSlot(c.proc.mm, a)).toBe(slot);
    expect(h.k.swap!.map[slot]).toBe(2);
    expect(smapsOf(c.proc.mm, a)).toMatchObject({ Swap: 4, SwapPss: 2 });
    const maj = majflt();
    expect(peek(c, a)).toBe(77);
    expect(majflt() - maj).toBe(1);
    expect(h.k.swap!.cachePfn.has(slot)).toBe(true); // the parent's entry still refers to it
    expect(peek(t, a)).toBe(77);
    expect(majflt() - maj).toBe(1); // a swap-cache hit
    const pfn = leafWord(h.k, t.proc.mm, a)!.pfn;
    expect(leafWord(h.k, c.proc.mm, a)!.pfn).toBe(pfn);
    // Neither entry was exclusive: both map it read-only, and a write copies.
    const cows = h.k.events.cowFaults;
    write(c, a);
    expect(leafWord(h.k, c.proc.mm, a)!.pfn).not.toBe(pfn);
    expect(h.k.events.cowFaults - cows).toBe(1);
    // The parent is now the page's only user besides the swap cache, and no swap entry refers
    // to its slot: its write frees the slot and reuses the page (wp_can_reuse_anon_folio),
    // rather than copying and leaving the page in the swap cache with no user.
    write(t, a);
    expect(leafWord(h.k, t.proc.mm, a)!.pfn).toBe(pfn);
    expect(h.k.events.cowFaults - cows).toBe(1);
    expect(h.k.swap!.used(slot)).toBe(false);
    expect(h.k.swap!.cachePfn.has(slot)).toBe(false);
    expect(peek(t, a)).toBe(77);
  });

  it('a copy-on-write of a swap-cache page that was its last mapping frees the page from the swap cache', () => {
    const t = boot();
    const a = mmap(t, P);
    poke(t, a, 9);
    const c = forkOf(t);
    expect(reclaimPages(h.k, [leafWord(h.k, t.proc.mm, a)!.pfn])).toBe(1);
    const slot = swapSlot(t.proc.mm, a);
    expect(peek(c, a)).toBe(9);
    expect(peek(t, a)).toBe(9);
    const pfn = leafWord(h.k, t.proc.mm, a)!.pfn;
    expect(h.k.swap!.map[slot]).toBe(0);
    // A reference beyond the mappings and the swap cache (reclaim's isolation, a pin) makes
    // both writes copy (wp_page_copy); the second copy leaves the page mapped nowhere, and
    // free_swap_cache takes it out of the cache with its slot.
    h.k.pages.refcount[pfn]++;
    write(c, a);
    write(t, a);
    expect(h.k.pages.mapcount[pfn]).toBe(0);
    expect(h.k.swap!.cachePfn.has(slot)).toBe(false);
    expect(h.k.swap!.used(slot)).toBe(false);
    expect(h.k.pages.refcount[pfn]).toBe(1);
    h.k.pages.putPage(pfn);
    expect([peek(t, a), peek(c, a)]).toEqual([9, 9]);
  });

  it('a huge PMD mapping pages split from their folio frees those in the swap cache when it is zapped', () => {
    const t = boot(32 << 20);
    const a = mmap(t, 4 << 20);
    const huge = a + (2 << 20) - (a % (2 << 20));
    expect(madvise(t, huge, 2 << 20, U.MADV_HUGEPAGE)).toBe(0);
    write(t, huge);
    expect(leafWord(h.k, t.proc.mm, huge)!.huge).toBe(true);
    const c = forkOf(t);
    // The parent's mprotect of one page splits its PMD and the folio; the child's PMD still
    // maps the 512 pages, each now counted on its own.
    expect(h.call(t, U.SYS_mprotect, huge, P, U.PROT_READ)).toBe(0);
    const pfn = leafWord(h.k, t.proc.mm, huge + 5 * P)!.pfn;
    expect(leafWord(h.k, c.proc.mm, huge + 5 * P)!.huge).toBe(true);
    expect(h.k.pages.mapcount[pfn]).toBe(2);
    // Reclaim gave the page a slot and then could not unmap it (try_to_unmap stopped at a
    // locked VMA): it stays in the swap cache, mapped, no swap entry referring to its slot.
    expect(addToSwapCache(h.k, pfn)).toBe(true);
    const slot = h.k.swap!.slotOf.get(pfn)!;
    expect(h.call(t, U.SYS_munmap, huge, 2 << 20)).toBe(0);
    expect(h.k.swap!.used(slot)).toBe(true);
    // The child's munmap zaps the huge PMD, the page's last mapping: out of the cache.
    expect(h.call(c, U.SYS_munmap, huge, 2 << 20)).toBe(0);
    expect(h.k.swap!.used(slot)).toBe(false);
    expect(h.k.swap!.cachePfn.has(slot)).toBe(false);
  });

  it('a zapped page whose release waits for a shootdown, taken by reclaim meanwhile, leaves the swap cache when released', () => {
    const t = boot();
    const t2 = h.thread(t);
    const a = mmap(t, P);
    poke(t, a, 4);
    const pfn = leafWord(h.k, t.proc.mm, a)!.pfn;
    // t2 computes without touching memory: munmap's shootdown is not acknowledged, and the
    // page waits in the deferred list, unmapped but still on the LRU.
    h.k.tlb.flusher.timeoutMs = 1;
    Atomics.store(h.cb.i32, cpuI32Base(t2.cpu) + CPU_STATE, CPU_USER);
    expect(h.call(t, U.SYS_munmap, a, P)).toBe(0);
    expect(h.k.tlb.deferred.length).toBe(1);
    // Reclaim finds it, gives it a slot (anonymous and not in the swap cache) and, the
    // shootdown still outstanding, keeps it.
    expect(reclaimPages(h.k, [pfn])).toBe(0);
    const slot = h.k.swap!.slotOf.get(pfn)!;
    expect(h.k.swap!.used(slot)).toBe(true);
    // t2 acknowledges: the release frees the page and its slot (free_pages_and_swap_cache).
    Atomics.store(h.cb.i32, cpuI32Base(t2.cpu) + CPU_STATE, CPU_OFFLINE);
    releaseDeferred(h.k);
    expect(h.k.tlb.deferred.length).toBe(0);
    expect(h.k.swap!.used(slot)).toBe(false);
    expect(h.k.pages.refcount[pfn]).toBe(0);
  });

  it('a zapped THP whose release waits for a shootdown, taken by reclaim meanwhile: not split (the gather pins it, as can_split_folio refuses), no kernel bug, freed whole at the release (fuzz seed 1, after 397,294 calls)', () => {
    const t = boot(64 << 20);
    const t2 = h.thread(t);
    h.k.thp.policy = 'always';
    const r = mmap(t, 4 << 20);
    const a = r + ((2 << 20) - (r % (2 << 20)));
    write(t, a);
    const w = leafWord(h.k, t.proc.mm, a)!;
    expect(w.huge).toBe(true);
    const pfn = w.pfn;
    h.k.tlb.flusher.timeoutMs = 1;
    Atomics.store(h.cb.i32, cpuI32Base(t2.cpu) + CPU_STATE, CPU_USER);
    expect(h.call(t, U.SYS_munmap, a, 2 << 20)).toBe(0);
    expect(h.k.tlb.deferred.length).toBe(1);
    expect(h.k.pages.mapcount[pfn]).toBe(0);
    // Reclaim isolates the folio, mapped by nothing but held by the gather: it cannot split
    // it, and puts it back.
    expect(reclaimPages(h.k, [pfn])).toBe(0);
    expect(h.k.pages.orderOf(pfn)).toBe(9);
    expect(h.k.swap!.inuse).toBe(0);
    Atomics.store(h.cb.i32, cpuI32Base(t2.cpu) + CPU_STATE, CPU_OFFLINE);
    releaseDeferred(h.k);
    expect(h.k.tlb.deferred.length).toBe(0);
    for (let i = 0; i < 512; i += 73) expect(h.k.pages.refcount[pfn + i]).toBe(0);
    validateMm(h.k, t.proc.mm);
  });

  it('validateMm fails on a page left in the swap cache that nothing maps or refers to', () => {
    const t = boot();
    validateMm(h.k, t.proc.mm);
    const pfn = h.k.pages.takeBlock(0);
    h.k.pages.flags[pfn] |= PG_ANON;
    expect(addToSwapCache(h.k, pfn)).toBe(true);
    validateMm(h.k, t.proc.mm); // its allocation's reference: still someone's
    h.k.pages.putPage(pfn);
    expect(() => validateMm(h.k, t.proc.mm)).toThrow(/mapped nowhere and referred to by nothing/);
    deleteFromSwapCache(h.k, pfn);
  });

  it('a write fault on an exclusive swapped page reuses it and frees its slot', () => {
    const t = boot();
    const a = mmap(t, P);
    poke(t, a, 5);
    expect(madvise(t, a, P, U.MADV_PAGEOUT)).toBe(0);
    const slot = swapSlot(t.proc.mm, a);
    write(t, a);
    expect(peek(t, a)).toBe(5);
    expect(h.k.swap!.used(slot)).toBe(false);
    expect(h.k.events.cowFaults).toBe(0);
  });
});

describe('second chance', () => {
  it('a page referenced once is kept for another trip; twice, or in two VMAs, activated', () => {
    const t = boot();
    const a = mmap(t, 2 * P);
    poke(t, a, 1);
    const pfn = leafWord(h.k, t.proc.mm, a)!.pfn;
    const k = h.k;
    expect(k.pages.flags[pfn] & (PG_LRU | PG_ACTIVE)).toBe(PG_LRU);
    // folio_check_references: one young PTE, no PG_referenced: keep, PG_referenced set.
    const w = pteWord(k, t.proc.mm, a, false);
    expect(k.ops.lo(w) & _PAGE_ACCESSED).not.toBe(0);
    const r1 = folioReferenced(k, pfn);
    expect(r1.referenced).toBe(1);
    expect(k.ops.lo(w) & _PAGE_ACCESSED).toBe(0);
    expect(folioReferenced(k, pfn).referenced).toBe(0);
    // Through the reclaim path: young once -> kept with PG_referenced.
    k.ops.ptepSetBits(w, _PAGE_ACCESSED);
    expect(reclaimOne(pfn)).toBe('kept');
    expect(k.pages.flags[pfn] & PG_REFERENCED).not.toBe(0);
    // Young again on the next trip: activated.
    k.ops.ptepSetBits(w, _PAGE_ACCESSED);
    expect(reclaimOne(pfn)).toBe('active');
    // Not referenced since: it goes (from the inactive list, where aging put it).
    k.pages.lruDel(pfn);
    k.pages.flags[pfn] &= ~(PG_ACTIVE | PG_REFERENCED);
    k.pages.lruAdd(pfn);
    expect(reclaimOne(pfn)).toBe('reclaimed');
    expect(swapSlot(t.proc.mm, a)).toBeGreaterThan(0);
  });
});

/** Run kswapd-like reclaim on the inactive anon list until pfn's fate is known. */
function reclaimOne(pfn: number): 'kept' | 'active' | 'reclaimed' {
  const k = h.k;
  // Put it at the tail of the inactive list alone: isolate everything else first.
  const others: number[] = [];
  for (let p = k.pages.lruTailOf(LRU_INACTIVE_ANON); p !== 0; p = k.pages.lruTailOf(LRU_INACTIVE_ANON)) {
    k.pages.lruDel(p);
    if (p !== pfn) others.push(p);
  }
  if ((k.pages.flags[pfn] & PG_LRU) === 0) k.pages.lruAdd(pfn);
  const before = k.reclaim.ev.pgstealKswapd;
  const activated = k.reclaim.ev.pgactivate;
  k.pages.wmark.high = k.pages.nrFree + 1;
  k.reclaim.kswapdWoken = true;
  k.reclaim.kswapdPriority = 0;
  kswapdStep(k);
  for (const p of others) k.pages.lruAdd(p);
  if (k.reclaim.ev.pgstealKswapd > before) return 'reclaimed';
  // An activated page may be aged again at once (the inactive list is low: shrink_lruvec
  // deactivates from the active one), so the count tells, not the flag.
  return k.reclaim.ev.pgactivate > activated ? 'active' : 'kept';
}

describe('folio_referenced', () => {
  it('stops once it has seen every mapping (mapcount), and visits false aliases until then', () => {
    const t = boot();
    const a = mmap(t, P);
    poke(t, a, 9);
    const kids: Thread[] = [];
    const desc = mmap(t, P, U.MAP_SHARED | U.MAP_ANONYMOUS);
    const json = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'c', arg: null }));
    copyToUser(h.k, t.proc.mm, desc, json, -1);
    for (let i = 0; i < 3; i++) {
      const pid = h.call(t, U.SYS_clone, U.FORK_FLAGS, desc, json.length);
      kids.push(h.kernel.tasks.procs.get(pid)!.threads.get(pid)!);
    }
    const pfn = leafWord(h.k, t.proc.mm, a)!.pfn;
    expect(h.k.pages.mapcount[pfn]).toBe(4);
    // The last child copies the page: 4 VMAs in the anon_vma, 3 mappings; the walk visits
    // parent, child 1 and child 2 and stops.
    write(kids[2], a);
    let before = kc().rmap_vma_visits;
    folioReferenced(h.k, pfn);
    expect(kc().rmap_vma_visits - before).toBe(3);
    // The first child copies instead (the walk order is the anon_vma's: parent, children):
    // its VMA is a false alias the walk must look at before it has seen three mappings.
    write(kids[0], a);
    expect(h.k.pages.mapcount[pfn]).toBe(2);
    before = kc().rmap_vma_visits;
    folioReferenced(h.k, pfn);
    expect(kc().rmap_vma_visits - before).toBe(3);
  });
});

describe('memory pressure', () => {
  it('faults past memory size swap anonymous pages out through kswapd and direct reclaim; every word reads back', () => {
    const t = boot(8 << 20, 64 << 20);
    const pages = 4096; // 16 MiB of data on an 8 MiB machine
    const a = mmap(t, pages * P);
    for (let i = 0; i < pages; i++) {
      poke(t, a + i * P, i * 7 + 1);
      if (i % 64 === 0) h.kernel.tick(); // kswapd's turns between requests
    }
    expect(kc().pswpout).toBeGreaterThan(pages / 2);
    expect(ev().pgstealKswapd + ev().pgstealDirect).toBeGreaterThan(pages / 2);
    for (let i = 0; i < pages; i++) expect(peek(t, a + i * P)).toBe(i * 7 + 1);
    expect(kc().pswpin).toBeGreaterThan(0);
  });

  it('tmpfs pages go to swap and come back, through a mapping and through read(2)', () => {
    const t = boot(8 << 20, 64 << 20);
    const name = mmap(t, P, U.MAP_SHARED | U.MAP_ANONYMOUS);
    copyToUser(h.k, t.proc.mm, name, new TextEncoder().encode('big\0'), -1);
    const fd = h.call(t, U.SYS_memfd_create, name, 0);
    const pages = 3000;
    expect(h.call(t, U.SYS_ftruncate, fd, pages * P)).toBe(0);
    const a = mmap(t, pages * P, U.MAP_SHARED, fd);
    for (let i = 0; i < pages; i++) {
      poke(t, a + i * P, i + 100);
      if (i % 64 === 0) h.kernel.tick();
    }
    expect(kc().pswpout).toBeGreaterThan(0);
    for (let i = 0; i < pages; i += 7) expect(peek(t, a + i * P)).toBe(i + 100);
    // read(2) of a page that is in swap.
    expect(madvise(t, a, pages * P, U.MADV_PAGEOUT)).toBe(0);
    const buf = mmap(t, P);
    write(t, buf);
    expect(h.call(t, U.SYS_pread64, fd, buf, 4, 1234 * P)).toBe(4);
    expect(peek(t, buf)).toBe(1334);
  });

  it('with swap full, anonymous pages stay (activated) and the OOM killer ends a process', () => {
    const t = boot(8 << 20, 1 << 20); // 255 slots
    const pages = 4096;
    const a = mmap(t, pages * P);
    let killed = false;
    for (let i = 0; i < pages && !killed; i++) {
      const r = h.fault(t, a + i * P, X86_PF_USER | X86_PF_WRITE);
      if (r.kind !== 'return') killed = true;
      if (t.proc.state !== 'live') killed = true;
      if (i % 64 === 0) h.kernel.tick();
    }
    expect(killed).toBe(true);
    // Every slot was used before the OOM killer ran (its reaper then freed them).
    expect(kc().pswpout).toBe(h.k.swap!.pages);
    expect(ev().pgactivate).toBeGreaterThan(0);
    const log = h.messages.filter((m) => m.t === 'klog').map((m) => (m as { text: string }).text);
    expect(log.some((l) => /^Out of memory: Killed process \d+ \(guest\)/.test(l))).toBe(true);
  });

  it('mlocked pages are unevictable: never scanned into swap', () => {
    const t = boot(8 << 20, 64 << 20);
    const a = mmap(t, 64 * P);
    expect(h.call(t, U.SYS_mlock, a, 64 * P)).toBe(0);
    const pfn = leafWord(h.k, t.proc.mm, a)!.pfn;
    expect(h.k.pages.flags[pfn] & PG_MLOCKED).not.toBe(0);
    expect(h.k.pages.mlocked).toBe(64);
    expect(madvise(t, a, 64 * P, U.MADV_PAGEOUT)).toBe(-U.EINVAL);
    expect(reclaimPages(h.k, [pfn])).toBe(0);
    expect(h.call(t, U.SYS_munlock, a, 64 * P)).toBe(0);
    expect(h.k.pages.mlocked).toBe(0);
    expect(h.k.pages.flags[pfn] & PG_MLOCKED).toBe(0);
  });
});

describe('a reclaim pass flushes once (TTU_BATCH_FLUSH)', () => {
  it('mlockall populating a droppable mapping larger than memory: one shootdown per direct reclaim, not one per priority', () => {
    // mlock leaves droppable memory unlocked but populates it: every SWAP_CLUSTER_MAX pages
    // faulted in take memory below min, and direct reclaim drops the clean lazily freed
    // pages just populated. The fuzzer found a 16 GiB one: 1.8 million shootdowns, when
    // each priority of each pass shot down what it had unmapped (a handful of pages each).
    const t = boot(16 << 20, 4 << 20);
    const pages = 8000;
    mmap(t, pages * P, U.MAP_DROPPABLE | U.MAP_ANONYMOUS);
    const c0 = kc();
    expect(h.call(t, U.SYS_mlockall, U.MCL_CURRENT | U.MCL_FUTURE)).toBe(0);
    const c1 = kc();
    const stalls = c1.allocstall - c0.allocstall;
    const shootdowns = c1.shootdowns - c0.shootdowns;
    const steal = c1.pgsteal - c0.pgsteal;
    expect(stalls).toBeGreaterThan(50);
    expect(ev().pglazyfreed).toBe(steal);
    expect(c1.pswpout - c0.pswpout).toBe(0);
    // One mm: one shootdown per pass, and at least SWAP_CLUSTER_MAX pages freed for each.
    expect(shootdowns).toBe(stalls);
    expect(steal).toBeGreaterThanOrEqual(32 * shootdowns);
    expect(t.proc.state).toBe('live');
  });
});

describe('should_reclaim_retry', () => {
  it('memory mostly mlocked and no swap: the allocation goes to the OOM killer after one round of reclaim, not sixteen', () => {
    const t = boot(16 << 20, 0);
    const locker = h.spawn('/locker.ts');
    const free = h.k.pages.nrFree;
    const a = mmap(locker, (free - 400) * P);
    expect(h.call(locker, U.SYS_mlock, a, (free - 400) * P)).toBe(0);
    // The rest goes to anonymous memory that cannot be swapped: nothing is reclaimable.
    const b = mmap(t, 1000 * P);
    const c0 = kc();
    let i = 0;
    while (h.k.events.oomKill === 0 && i < 1000) write(t, b + i++ * P);
    expect(h.k.events.oomKill).toBe(1);
    expect(locker.proc.state).not.toBe('live');
    // One stall: the allocation that found free memory at min, and reclaim found nothing it could free.
    expect(kc().allocstall - c0.allocstall).toBe(1);
    expect(kc().shootdowns - c0.shootdowns).toBe(1); // the reaper's
  });
});

describe('watermarks', () => {
  it('follow min_free_kbytes and watermark_scale_factor as Linux computes them', () => {
    // 1 GiB of managed pages: int_sqrt(1048576 * 16) = 4096 KiB; min 1024 pages; delta =
    // max(256, 262144 * 10 / 10000 = 262).
    expect(Watermarks.defaultMinFreeKbytes(262144)).toBe(4096);
    const w = new Watermarks();
    w.minFreeKbytes = 4096;
    w.setup(262144);
    expect([w.min, w.low, w.high]).toEqual([1024, 1286, 1548]);
    // Small machines clamp at 128 KiB; large ones at 256 MiB.
    expect(Watermarks.defaultMinFreeKbytes(1000)).toBe(252);
    expect(Watermarks.defaultMinFreeKbytes(256)).toBe(128);
  });

  it('kswapd wakes below low and reclaims until free memory is above high', () => {
    const t = boot(8 << 20, 64 << 20);
    const wm = h.k.pages.wmark;
    const a = mmap(t, 2048 * P);
    let i = 0;
    while (h.k.pages.nrFree >= wm.low) poke(t, a + i++ * P, i);
    expect(h.k.reclaim.kswapdWoken).toBe(true);
    for (let n = 0; n < 100 && h.k.reclaim.kswapdWoken; n++) h.kernel.tick();
    expect(h.k.reclaim.kswapdWoken).toBe(false);
    expect(h.k.pages.nrFree).toBeGreaterThanOrEqual(wm.high);
    expect(ev().pgscanKswapd).toBeGreaterThan(0);
    expect(kc().allocstall).toBe(0);
    expect(h.k.pages.lruPages[LRU_ACTIVE_ANON] + h.k.pages.lruPages[LRU_INACTIVE_ANON]).toBeGreaterThan(0);
  });
});

describe('madvise and the LRU', () => {
  it('MADV_COLD moves pages mapped only here to the inactive list, their accessed bits cleared', () => {
    const t = boot();
    const a = mmap(t, 4 * P);
    for (let i = 0; i < 4; i++) poke(t, a + i * P, i);
    const k = h.k;
    const pfn = leafWord(k, t.proc.mm, a)!.pfn;
    k.pages.lruDel(pfn);
    k.pages.flags[pfn] |= PG_ACTIVE | PG_REFERENCED;
    k.pages.lruAdd(pfn);
    expect(madvise(t, a, 4 * P, U.MADV_COLD)).toBe(0);
    expect(k.pages.flags[pfn] & (PG_ACTIVE | PG_REFERENCED)).toBe(0);
    expect(k.ops.lo(pteWord(k, t.proc.mm, a, false)) & _PAGE_ACCESSED).toBe(0);
    expect(ev().pgdeactivate).toBe(1);
    expect(kc().pswpout).toBe(0);
  });

  it('MADV_FREE pages are dropped by reclaim while clean, kept once written again; their swap entries go at once', () => {
    const t = boot();
    const a = mmap(t, 3 * P);
    for (let i = 0; i < 3; i++) poke(t, a + i * P, 40 + i);
    // Page 2 to swap first: MADV_FREE drops its entry.
    expect(madvise(t, a + 2 * P, P, U.MADV_PAGEOUT)).toBe(0);
    expect(t.proc.mm.swapents).toBe(1);
    expect(madvise(t, a, 3 * P, U.MADV_FREE)).toBe(0);
    expect(t.proc.mm.swapents).toBe(0);
    expect(h.k.swap!.inuse).toBe(0);
    expect(ev().pglazyfree).toBe(2);
    expect(smapsOf(t.proc.mm, a)).toMatchObject({ LazyFree: 8 });
    poke(t, a + P, 99); // written again: no longer lazily freed
    const pfns = [leafWord(h.k, t.proc.mm, a)!.pfn, leafWord(h.k, t.proc.mm, a + P)!.pfn];
    expect(reclaimPages(h.k, pfns)).toBe(1);
    expect(ev().pglazyfreed).toBe(1);
    expect(peek(t, a)).toBe(0); // dropped: a fresh zero page
    expect(peek(t, a + P)).toBe(99);
    expect(kc().pswpout).toBe(1);
  });
});

describe('workingset', () => {
  it('a refault whose distance fits in the active lists starts active; one that does not, inactive', () => {
    const t = boot();
    const a = mmap(t, 8 * P);
    for (let i = 0; i < 8; i++) poke(t, a + i * P, i);
    expect(madvise(t, a, 8 * P, U.MADV_PAGEOUT)).toBe(0);
    // Page 5 was evicted fifth of eight: refault distance 3; the active lists are empty, so
    // the workingset it competes with is 0 pages: a refault, not activated.
    expect(peek(t, a + 5 * P)).toBe(5);
    expect(ev().workingsetRefaultAnon).toBe(1);
    expect(ev().workingsetActivateAnon).toBe(0);
    expect(h.k.pages.flags[leafWord(h.k, t.proc.mm, a + 5 * P)!.pfn] & PG_ACTIVE).toBe(0);
    // With 16 active pages, page 6 (distance 2 + the one refault's activation age) fits.
    const b = mmap(t, 16 * P);
    for (let i = 0; i < 16; i++) {
      poke(t, b + i * P, i);
      const pfn = leafWord(h.k, t.proc.mm, b + i * P)!.pfn;
      h.k.pages.lruDel(pfn);
      h.k.pages.flags[pfn] |= PG_ACTIVE;
      h.k.pages.lruAdd(pfn);
    }
    expect(peek(t, a + 6 * P)).toBe(6);
    expect(ev().workingsetRefaultAnon).toBe(2);
    expect(ev().workingsetActivateAnon).toBe(1);
    expect(h.k.pages.flags[leafWord(h.k, t.proc.mm, a + 6 * P)!.pfn] & PG_ACTIVE).not.toBe(0);
  });
});

describe('/proc', () => {
  it('/proc/swaps, the vm sysctls and zoneinfo show the swap area and the watermarks', () => {
    boot(16 << 20, 8 << 20);
    expect(procSwaps(h.k)).toBe('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/swap0                              partition\t8188\t\t0\t\t-2\n');
    const mfk = procSysVm(h.k, 'min_free_kbytes')!;
    expect(mfk.read()).toBe(`${h.k.pages.wmark.minFreeKbytes}\n`);
    expect(mfk.write(new TextEncoder().encode('4096\n'))).toBe(5);
    expect(h.k.pages.wmark.min).toBe(1024);
    expect(procZoneinfo(h.k)).toContain(`        min      1024\n        low      ${h.k.pages.wmark.low}\n`);
    const sw = procSysVm(h.k, 'swappiness')!;
    expect(sw.write(new TextEncoder().encode('201'))).toBe(-U.EINVAL);
    expect(sw.write(new TextEncoder().encode('x'))).toBe(-U.EINVAL);
    expect(sw.write(new TextEncoder().encode('100'))).toBe(3);
    expect(h.k.reclaim.swappiness).toBe(100);
    expect(procSysVm(h.k, 'nonexistent')).toBeNull();
  });
});

describe('/proc/meminfo after memory is freed', () => {
  it('every field is back to its boot value once a written memfd, anonymous memory and swap are gone', () => {
    const t = boot(16 << 20, 16 << 20);
    const fields = (): Record<string, number> => Object.fromEntries([...procMeminfo(h.kernel).matchAll(/^(\S+):\s+(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
    const atBoot = fields();
    const name = mmap(t, P, U.MAP_SHARED | U.MAP_ANONYMOUS);
    copyToUser(h.k, t.proc.mm, name, new TextEncoder().encode('m\0'), -1);
    const fd = h.call(t, U.SYS_memfd_create, name, 0);
    expect(h.call(t, U.SYS_ftruncate, fd, 1024 * P)).toBe(0);
    const a = mmap(t, 1024 * P, U.MAP_SHARED, fd);
    const b = mmap(t, 512 * P);
    for (let i = 0; i < 1024; i++) poke(t, a + i * P, i);
    for (let i = 0; i < 512; i++) poke(t, b + i * P, i);
    expect(madvise(t, a, 256 * P, U.MADV_PAGEOUT)).toBe(0);
    expect(madvise(t, b, 256 * P, U.MADV_PAGEOUT)).toBe(0);
    const busy = fields();
    expect(busy.Shmem).toBe((768 + 1) * 4); // and the page holding the name: shared anonymous memory is shmem
    expect(busy.SwapFree).toBe(atBoot.SwapFree - 512 * 4);
    h.call(t, U.SYS_munmap, a, 1024 * P);
    h.call(t, U.SYS_munmap, b, 512 * P);
    h.call(t, U.SYS_munmap, name, P);
    h.call(t, U.SYS_close, fd);
    h.kernel.tick();
    // But for two page-table pages: the mappings were made below mmap_base, in the same
    // 1 GiB (one page directory) and 512 GiB (one page directory pointer table) as the
    // stack, so munmap's free_pgtables keeps those two, as Linux's does (its ceiling is the
    // stack VMA's start).
    const kept = 2 * 4;
    expect(fields()).toEqual({ ...atBoot, PageTables: atBoot.PageTables + kept, MemFree: atBoot.MemFree - kept, MemAvailable: atBoot.MemAvailable - kept });
  });
});
