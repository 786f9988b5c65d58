// The modeled TLB hierarchy of one CPU: L1 dTLB arrays, STLB arrays, paging-structure
// caches, and the translation slow path that uses them with the walker.
//
// Lookup order (SDM 4.10.3.1): L1 (all arrays, every page size) -> STLB -> PDE cache ->
// PDPTE cache -> PML4E cache -> memory. An STLB hit fills L1; a walk fills the STLB, L1 and
// the paging-structure caches of the levels it read (non-inclusive, no back-invalidation).
// A TLB entry caches the ANDed RW/US, ORed NX, the leaf's D and G; a store through an entry
// with D = 0 re-walks to set D (SDM 4.8). A page fault drops the TLB entries of the page and
// the paging-structure-cache entries that translate the address (SDM 4.10.4.1).
//
// Page numbers travel as (vpnA, vpnB) (walker.ts), tags as (tagA, tagB) (tlbarray.ts).
// Threading: owned by one CPU worker. Counters go to that CPU's area of the control block.

import * as counters from './counters.ts';
import { FLUSH_ALL, FLUSH_NONGLOBAL, FLUSH_PCID, FLUSH_RANGE, type ControlBlock } from './layout.ts';
import type { PhysMem } from './physmem.ts';
import { sizeMask, type TlbArraySpec, type TlbConfig } from './tlbconfig.ts';
import { POLICY_BY_NAME, POLICY_LRU, TlbArray, type EvictListener } from './tlbarray.ts';
import * as walker from './walker.ts';

// Imported values are copied into module-local consts: under vitest (and CommonJS interop)
// every read of an imported binding is a getter call, and a miss reads dozens of them.
const {
  C_A_SETS, C_CR3_FLUSH, C_CR3_NOFLUSH, C_D_SETS, C_DIRTY_REWALKS, C_INVAL_ALL, C_INVAL_NONGLOBAL,
  C_INVAL_PAGE, C_INVAL_PCID, C_IPI_FLUSH_FULL, C_IPI_FLUSH_PAGES, C_INVAL_PSC_ENTRIES, C_INVAL_TLB_ENTRIES, C_LOAD_FAULTS,
  C_LOAD_STLB_HIT, C_LOAD_WALK, C_LOAD_WALK_4K, C_LOAD_WALK_FAULT, C_PAGE_FAULTS,
  C_PDE_CACHE_HIT, C_PDE_CACHE_MISS, C_PDPTE_CACHE_HIT, C_PML4_CACHE_HIT, C_PML4E_LOADS,
  C_WALK_FAULTS, C_WALK_RETRIES,
} = counters;
const {
  accessAllowed, PERM_D, PERM_G, PERM_START, SIZE_1G, SIZE_2M, SIZE_4K, VPN_A_MASK, Walker,
  X86_PF_PROT, X86_PF_WRITE,
} = walker;

/** Shift from a 4 KiB page number to the tag of each page size, and of each cache level. */
const SIZE_SHIFT = [0, 9, 18] as const;
const PSC_SHIFT = [0, 0, 9, 18, 27] as const;
/** Ranged invalidations up to this many steps look each step up; longer ones scan. */
const RANGE_STEPS_BY_LOOKUP = 64;

/** tagA of the page number (a, b) >> shift. */
export function tagA(a: number, b: number, shift: number): number {
  return shift === 0 ? a : ((a >>> shift) | (b << (30 - shift))) & VPN_A_MASK;
}

/** tagB of the page number (a, b) >> shift, for an entry of `size` (SIZE_*). */
export function tagB(b: number, shift: number, size: number): number {
  return ((b >>> shift) << 2) | size;
}

export class Tlb {
  readonly l1: TlbArray[];
  readonly stlb: TlbArray[];
  /** Paging-structure caches indexed by the level of the entry they cache: 4, 3, 2. */
  readonly psc: (TlbArray | null)[];
  /** All LRU stamps of the L1 arrays (the MMU's fast path writes them directly). */
  readonly l1Stamp: Int32Array;
  readonly l1Lru: boolean;
  /** For each L1 entry index (global numbering), the array that owns it. */
  readonly l1Owner: TlbArray[];
  readonly walker: walker.Walker;
  /** The array holding each page size (SIZE_* index) at each level, or null. */
  private readonly l1For: (TlbArray | null)[];
  private readonly stlbFor: (TlbArray | null)[];
  private readonly l1For4k: TlbArray | null;
  private readonly l1For2m: TlbArray | null;
  private readonly l1For1g: TlbArray | null;
  private readonly stlbFor4k: TlbArray | null;
  private readonly stlbFor2m: TlbArray | null;
  private readonly stlbFor1g: TlbArray | null;
  private readonly ctr: Float64Array;
  private readonly cb: number;
  private readonly hot: Int32Array;

  cr3Pfn = 0;
  pcid = 0;
  pcide = false;
  pge = true;

  /** Results of translate(): rights of the translation, and the L1 entry holding it. */
  perms = 0;
  /** Global index of the L1 entry now holding the translation, or -1. */
  l1Entry = -1;
  /** Fault details when translate() returns -1. */
  faultCode = 0;
  faultLevel = 0;

  /**
   * `counters[counterBase + C_*]` are the CPU's counters; `hot` its [HOT_CLOCK, HOT_STORES]
   * words, whose clock stamps LRU state; `listener` hears of L1 entries that leave. A trace
   * recorder or replayer passes its own Walker subclass as `walkerType`.
   */
  constructor(config: TlbConfig, mem: PhysMem, control: ControlBlock, counters: Float64Array,
    counterBase: number, hot: Int32Array, listener: EvictListener, walkerType: typeof walker.Walker = Walker) {
    const policy = POLICY_BY_NAME[config.policy];
    const g = config.geometry;
    this.ctr = counters;
    this.cb = counterBase;
    this.hot = hot;
    const l1Entries = g.l1.reduce((n, a) => n + a.entries, 0);
    this.l1Stamp = new Int32Array(l1Entries);
    this.l1Lru = policy === POLICY_LRU;
    let seed = config.seed;
    const make = (spec: TlbArraySpec, stamp: Int32Array, base: number) =>
      new TlbArray(spec.name, spec.entries, spec.ways, sizeMask(spec.sizes), policy, seed++, stamp, base);
    let base = 0;
    this.l1 = g.l1.map((spec) => {
      const arr = make(spec, this.l1Stamp.subarray(base, base + spec.entries), base);
      arr.listener = listener;
      base += spec.entries;
      return arr;
    });
    this.l1Owner = [];
    for (const arr of this.l1) for (let i = 0; i < arr.entries; i++) this.l1Owner.push(arr);
    this.stlb = g.stlb.map((spec) => make(spec, new Int32Array(spec.entries), 0));
    const psc = (name: string, c: { entries: number; ways: number }) => c.entries === 0 ? null
      : make({ name, entries: c.entries, ways: c.ways, sizes: ['4k'] }, new Int32Array(c.entries), 0);
    this.psc = [null, null, psc('pde-cache', g.pdeCache), psc('pdpte-cache', g.pdpteCache), psc('pml4-cache', g.pml4Cache)];
    const holder = (arrays: TlbArray[], size: number) => arrays.find((a) => (a.sizes & (1 << size)) !== 0) ?? null;
    this.l1For = [SIZE_4K, SIZE_2M, SIZE_1G].map((s) => holder(this.l1, s));
    this.stlbFor = [SIZE_4K, SIZE_2M, SIZE_1G].map((s) => holder(this.stlb, s));
    [this.l1For4k, this.l1For2m, this.l1For1g] = this.l1For as [TlbArray | null, TlbArray | null, TlbArray | null];
    [this.stlbFor4k, this.stlbFor2m, this.stlbFor1g] = this.stlbFor as [TlbArray | null, TlbArray | null, TlbArray | null];
    this.walker = new walkerType(mem, control, counters, counterBase + C_PML4E_LOADS,
      counterBase + C_A_SETS, counterBase + C_D_SETS, counterBase + C_WALK_RETRIES);
  }

  /** Every array (L1, STLB, caches), for folding and reports. */
  allArrays(): TlbArray[] {
    const out = [...this.l1, ...this.stlb];
    for (const p of this.psc) if (p !== null) out.push(p);
    return out;
  }

  private count(slot: number): void {
    this.ctr[this.cb + slot] += 1;
  }

  /**
   * Translate 4 KiB page (a, b) for `access` (ACC_* of walker.ts) through the hierarchy.
   * Returns the 4 KiB frame and sets perms/l1Entry, or returns -1 with faultCode and
   * faultLevel set and the SDM's page-fault invalidations done. Does not tick the clock.
   */
  translate(a: number, b: number, access: number): number {
    const pcid = this.pcid;
    const a2 = ((a >>> 9) | (b << 21)) & VPN_A_MASK;
    const a1 = ((a >>> 18) | (b << 12)) & VPN_A_MASK;
    const b4 = b << 2;
    const b2 = ((b >>> 9) << 2) | SIZE_2M;
    const b1 = ((b >>> 18) << 2) | SIZE_1G;
    // An array is looked up for a page size only while it holds an entry of that size.
    let arr = this.l1For4k;
    let e = arr === null || arr.live[SIZE_4K] === 0 ? -1 : arr.lookup(a, b4, pcid);
    if (e < 0) {
      arr = this.l1For2m;
      e = arr === null || arr.live[SIZE_2M] === 0 ? -1 : arr.lookup(a2, b2, pcid);
    }
    if (e < 0) {
      arr = this.l1For1g;
      e = arr === null || arr.live[SIZE_1G] === 0 ? -1 : arr.lookup(a1, b1, pcid);
    }
    if (e >= 0 && arr !== null) {
      arr.touch(e, this.hot[0]);
      return this.hit(arr, e, null, -1, a, b, access);
    }
    arr = this.stlbFor4k;
    e = arr === null || arr.live[SIZE_4K] === 0 ? -1 : arr.lookup(a, b4, pcid);
    if (e >= 0 && arr !== null) return this.stlbHit(arr, e, this.l1For4k, a, b, access);
    arr = this.stlbFor2m;
    e = arr === null || arr.live[SIZE_2M] === 0 ? -1 : arr.lookup(a2, b2, pcid);
    if (e >= 0 && arr !== null) return this.stlbHit(arr, e, this.l1For2m, a, b, access);
    arr = this.stlbFor1g;
    e = arr === null || arr.live[SIZE_1G] === 0 ? -1 : arr.lookup(a1, b1, pcid);
    if (e >= 0 && arr !== null) return this.stlbHit(arr, e, this.l1For1g, a, b, access);
    return this.missWalk(a, b, access);
  }

  /** STLB entry (arr, e) translates the page: count, fill L1 (array `l1`), then hit. */
  private stlbHit(arr: TlbArray, e: number, l1: TlbArray | null, a: number, b: number, access: number): number {
    if (!accessAllowed(arr.perms(e), access)) return this.fault(a, b, access | X86_PF_PROT, 0, access);
    this.count(C_LOAD_STLB_HIT + ((access & X86_PF_WRITE) >>> 1));
    const clock = this.hot[0];
    arr.touch(e, clock);
    if (l1 === null) return this.hit(arr, e, null, -1, a, b, access);
    const l1e = l1.fill(arr.tagA[e], arr.tagB[e], arr.pcidOf(e), arr.pfn[e], arr.perms(e), clock);
    return this.hit(l1, l1e, arr, e, a, b, access);
  }

  /** Every TLB level missed: walk, then fill. */
  private missWalk(a: number, b: number, access: number): number {
    const st = (access & X86_PF_WRITE) >>> 1;
    this.count(C_LOAD_WALK + st);
    if (!this.walkPsc(a, b, access)) {
      this.count(C_LOAD_WALK_FAULT + 4 * st);
      this.count(C_WALK_FAULTS);
      return this.fault(a, b, this.walker.errorCode, this.walker.faultLevel, access);
    }
    this.count(C_LOAD_WALK_4K + 4 * st + this.walker.size);
    return this.fillFromWalk(a, b);
  }

  /**
   * A TLB entry (arr, e) translates the page: check rights, re-walk for D if needed,
   * report. When it was just filled from the STLB, (stlbArr, stlbE) is the STLB copy.
   */
  private hit(arr: TlbArray, e: number, stlbArr: TlbArray | null, stlbE: number, a: number,
    b: number, access: number): number {
    let perms = arr.perms(e);
    if (!accessAllowed(perms, access)) return this.fault(a, b, access | X86_PF_PROT, 0, access);
    const size = arr.size(e);
    if ((access & X86_PF_WRITE) !== 0 && (perms & PERM_D) === 0) {
      this.count(C_DIRTY_REWALKS);
      if (!this.walkPsc(a, b, access)) {
        this.count(C_WALK_FAULTS);
        return this.fault(a, b, this.walker.errorCode, this.walker.faultLevel, access);
      }
      const w = this.walker;
      if (w.size !== size) {
        arr.invalidate(e);
        if (stlbArr !== null) stlbArr.invalidate(stlbE);
        return this.fillFromWalk(a, b);
      }
      perms = this.walkPerms();
      // The entry may have matched as a global entry of another PCID; it now holds this
      // context's walk, so it takes the current PCID (and the leaf's G).
      arr.update(e, this.pcid, w.basePfn, perms);
      if (stlbArr !== null) stlbArr.update(stlbE, this.pcid, w.basePfn, perms);
    }
    this.perms = perms;
    // Only L1 arrays have a listener (the MMU): their entries may back fast-cache slots.
    this.l1Entry = arr.listener !== null ? arr.base + e : -1;
    return arr.pfn[e] + (a & (size === SIZE_4K ? 0 : size === SIZE_2M ? 511 : 0x3ffff));
  }

  /** Install the walker's translation in the STLB and L1; report it. */
  private fillFromWalk(a: number, b: number): number {
    const w = this.walker;
    const size = w.size;
    const perms = this.walkPerms();
    const ta = tagA(a, b, SIZE_SHIFT[size]);
    const tb = tagB(b, SIZE_SHIFT[size], size);
    const clock = this.hot[0];
    const s = this.stlbFor[size];
    if (s !== null) s.fill(ta, tb, this.pcid, w.basePfn, perms, clock);
    const l1 = this.l1For[size];
    this.l1Entry = l1 === null ? -1 : l1.base + l1.fill(ta, tb, this.pcid, w.basePfn, perms, clock);
    this.perms = perms;
    return w.pfn;
  }

  /** The walker's rights as a TLB entry caches them: G counts only with CR4.PGE. */
  private walkPerms(): number {
    return this.pge ? this.walker.perms : this.walker.perms & ~PERM_G;
  }

  /**
   * Walk page (a, b) starting from the longest paging-structure-cache prefix that hits,
   * then fill the caches for the levels read. Returns the walker's verdict.
   */
  private walkPsc(a: number, b: number, access: number): boolean {
    let level = 4;
    let table = this.cr3Pfn;
    let perms = PERM_START;
    const clock = this.hot[0];
    for (let l = 2; l <= 4; l++) {
      const c = this.psc[l];
      if (c === null) continue;
      const e = c.live[SIZE_4K] === 0 ? -1 : c.lookup(tagA(a, b, PSC_SHIFT[l]), tagB(b, PSC_SHIFT[l], 0), this.pcid);
      if (l === 2 && e < 0) this.count(C_PDE_CACHE_MISS);
      if (e < 0) continue;
      this.count(l === 2 ? C_PDE_CACHE_HIT : l === 3 ? C_PDPTE_CACHE_HIT : C_PML4_CACHE_HIT);
      c.touch(e, clock);
      level = l - 1;
      table = c.pfn[e];
      perms = c.perms(e);
      break;
    }
    const w = this.walker;
    if (!w.walk(a, b, access, level, table, perms)) return false;
    for (let l = level; l >= w.tablesFrom; l--) {
      const c = this.psc[l];
      if (c !== null) c.fill(tagA(a, b, PSC_SHIFT[l]), tagB(b, PSC_SHIFT[l], 0), this.pcid, w.tables[l], w.tablePerms[l], clock);
    }
    return true;
  }

  /** Record a #PF of `access` and apply the SDM's invalidations for it. Returns -1. */
  private fault(a: number, b: number, errorCode: number, level: number, access: number): number {
    this.faultCode = errorCode;
    this.faultLevel = level;
    this.count(C_LOAD_FAULTS + ((access & X86_PF_WRITE) >>> 1));
    this.count(C_PAGE_FAULTS);
    this.dropPage(a, b, this.pcid, true);
    let n = 0;
    for (let l = 2; l <= 4; l++) {
      const c = this.psc[l];
      if (c !== null) n += c.invalidateTag(tagA(a, b, PSC_SHIFT[l]), tagB(b, PSC_SHIFT[l], 0), this.pcid, false);
    }
    this.ctr[this.cb + C_INVAL_PSC_ENTRIES] += n;
    this.l1Entry = -1;
    return -1;
  }

  /** Drop the TLB entries (all levels, sizes) whose page holds page (a, b), for pcid (+ global). */
  private dropPage(a: number, b: number, pcid: number, global: boolean): void {
    let n = 0;
    for (let size = SIZE_4K; size <= SIZE_1G; size++) {
      const ta = tagA(a, b, SIZE_SHIFT[size]);
      const tb = tagB(b, SIZE_SHIFT[size], size);
      const l1 = this.l1For[size];
      if (l1 !== null) n += l1.invalidateTag(ta, tb, pcid, global);
      const s = this.stlbFor[size];
      if (s !== null) n += s.invalidateTag(ta, tb, pcid, global);
    }
    this.ctr[this.cb + C_INVAL_TLB_ENTRIES] += n;
  }

  private dropPsc(pcid: number): void {
    let n = 0;
    for (const c of this.psc) if (c !== null) n += c.invalidateWhere(pcid, false);
    this.ctr[this.cb + C_INVAL_PSC_ENTRIES] += n;
  }

  private dropTlb(pcid: number, global: boolean): void {
    let n = 0;
    for (const arr of this.l1) n += arr.invalidateWhere(pcid, global);
    for (const arr of this.stlb) n += arr.invalidateWhere(pcid, global);
    this.ctr[this.cb + C_INVAL_TLB_ENTRIES] += n;
  }

  // --- invalidation instructions (va: a linear address as a number) --------------------

  /** INVLPG: va's entries for the current PCID and global ones; the PCID's caches. */
  invlpg(va: number): void {
    this.count(C_INVAL_PAGE);
    this.dropPage(Math.floor(va / 4096) & VPN_A_MASK, Math.floor(va / 2 ** 42), this.pcid, true);
    this.dropPsc(this.pcid);
  }

  /** INVPCID type 0: va's non-global entries for `pcid`; that PCID's caches. */
  invpcidAddr(pcid: number, va: number): void {
    this.count(C_INVAL_PAGE);
    this.dropPage(Math.floor(va / 4096) & VPN_A_MASK, Math.floor(va / 2 ** 42), pcid, false);
    this.dropPsc(pcid);
  }

  /** INVPCID type 1: all non-global entries and caches of `pcid`. */
  invpcidSingle(pcid: number): void {
    this.count(C_INVAL_PCID);
    this.dropTlb(pcid, false);
    this.dropPsc(pcid);
  }

  /** INVPCID type 2: everything, global entries included. */
  invpcidAll(): void {
    this.count(C_INVAL_ALL);
    this.dropTlb(-1, true);
    this.dropPsc(-1);
  }

  /** INVPCID type 3: everything except global entries. */
  invpcidNonGlobal(): void {
    this.count(C_INVAL_NONGLOBAL);
    this.dropTlb(-1, false);
    this.dropPsc(-1);
  }

  /**
   * MOV to CR3. With PCIDs off every load flushes all non-global entries; with PCIDs on,
   * a load flushes the new PCID unless `noflush` (bit 63) is set.
   */
  loadCr3(pml4Pfn: number, pcid: number, noflush: boolean): void {
    this.cr3Pfn = pml4Pfn;
    const p = this.pcide ? pcid & 0xfff : 0;
    this.pcid = p;
    if (!this.pcide) {
      this.count(C_CR3_FLUSH);
      this.count(C_INVAL_NONGLOBAL);
      this.dropTlb(-1, false);
      this.dropPsc(-1);
    } else if (!noflush) {
      this.count(C_CR3_FLUSH);
      this.count(C_INVAL_PCID);
      this.dropTlb(p, false);
      this.dropPsc(p);
    } else {
      this.count(C_CR3_NOFLUSH);
    }
  }

  /** MOV to CR4 changing PCIDE or PGE: flushes everything, as the SDM requires. */
  setCr4(pcide: boolean, pge: boolean): void {
    if (pcide === this.pcide && pge === this.pge) return;
    this.pcide = pcide;
    this.pge = pge;
    if (!pcide) this.pcid = 0;
    this.invpcidAll();
  }

  /**
   * Invalidate, for `pcid`, the non-global entries containing a stride step in [start, end)
   * (steps at start + k * 2^strideShift), as INVPCID type 0 would at each step, and the
   * PCID's caches. Returns the number of steps.
   */
  invalidateRange(pcid: number, start: number, end: number, strideShift: number): number {
    const stride = 2 ** strideShift;
    const steps = Math.max(0, Math.ceil((end - start) / stride));
    if (steps === 0) return 0;
    this.ctr[this.cb + C_INVAL_PAGE] += steps;
    if (steps <= RANGE_STEPS_BY_LOOKUP) {
      for (let k = 0; k < steps; k++) {
        const va = start + k * stride;
        this.dropPage(Math.floor(va / 4096) & VPN_A_MASK, Math.floor(va / 2 ** 42), pcid, false);
      }
    } else {
      let n = 0;
      for (const arr of this.l1) n += arr.invalidateSteps(pcid, start, end, stride);
      for (const arr of this.stlb) n += arr.invalidateSteps(pcid, start, end, stride);
      this.ctr[this.cb + C_INVAL_TLB_ENTRIES] += n;
    }
    this.dropPsc(pcid);
    return steps;
  }

  /** A shootdown request of `kind` (FLUSH_* of layout.ts) taken from the IPI mailbox. */
  applyFlush(kind: number, pcid: number, start: number, end: number, shift: number): void {
    if (kind === FLUSH_RANGE) {
      this.ctr[this.cb + C_IPI_FLUSH_PAGES] += this.invalidateRange(pcid, start, end, shift);
      return;
    }
    this.ctr[this.cb + C_IPI_FLUSH_FULL] += 1;
    if (kind === FLUSH_PCID) this.invpcidSingle(pcid);
    else if (kind === FLUSH_NONGLOBAL) this.invpcidNonGlobal();
    else if (kind === FLUSH_ALL) this.invpcidAll();
  }
}
