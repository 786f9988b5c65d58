// The MMU of one CPU: guest loads and stores through the modeled TLB.
//
// Hit path (QEMU softmmu style, fastpath.ts): a direct-mapped host-side fast cache holds
// only translations resident in the modeled L1 dTLB for user access; a hit costs a compare,
// a clock tick and the L1 LRU update, so the model stays exact without leaving the fast
// path. This file holds the rest: the slow paths (model lookups, walks, faults, unaligned
// and page-crossing accesses), fast-cache upkeep, IPI handling, control registers and the
// folding of the int32 access clock. The memory-access path allocates nothing.
//
// Values: load8/load16 return unsigned (Uint8Array/Uint16Array), load32 a signed int32
// (Int32Array: use >>> 0 for unsigned), loadF64 a float64 and load64 a BigInt64; stores
// truncate as typed arrays do. Memory is little-endian. An access that crosses a page is
// split in two translations, both made before any byte moves.
//
// Faults: a failed translation raises #PF: the MMU calls `onPageFault(va, errorCode)`, which
// must resolve it and return (the access is retried) or throw. Without a handler it throws
// PageFaultError. An address that is not an integer in [0, 2^48) raises FAULT_GP instead.
//
// Threading: an Mmu belongs to the CPU worker that created it. The kernel reaches it only
// through the IPI mailbox of the control block (ipi.ts).

import * as counters from './counters.ts';
import { makeFastPaths, type FastPaths, type SlowPaths } from './fastpath.ts';
import * as fastpath from './fastpath.ts';
import type { ControlBlock } from './layout.ts';
import * as layout from './layout.ts';
import type { PhysMem } from './physmem.ts';
import { Tlb } from './tlb.ts';
import { latenciesOf, tlbConfig, type TlbConfig } from './tlbconfig.ts';
import { writeLatencies } from './timing.ts';
import type { TlbArray } from './tlbarray.ts';
import * as walker from './walker.ts';

// Imported values are copied into module-local consts: under vitest (and CommonJS interop)
// every read of an imported binding is a getter call, and the slow path reads these.
const {
  C_EMU_SLOW_PATH, C_LOAD_FAULTS, C_IPIS, C_LOOKUPS_FOLDED,
  C_SPLIT_ACCESSES, C_STORES_FOLDED, CPU_COUNTER_SLOTS,
} = counters;
const { FAST_MASK, FAST_SLOTS, FOLD_AT } = fastpath;
const {
  CPU_COUNTERS_F64, CPU_CR3_PFN, CPU_IDLE, CPU_PCID, CPU_STATE, CPU_USER, cpuF64Base, cpuI32Base,
  HOT_CLOCK, HOT_STORES, IPI_ACK, IPI_END, IPI_KIND, IPI_PCID,
  IPI_PENDING, IPI_SEQ, IPI_START, IPI_STRIDE_SHIFT,
} = layout;
const {
  ACC_USER_READ, ACC_USER_WRITE, PERM_D, PERM_U, PERM_W, SIZE_4K, VPN_A_MASK, X86_PF_USER,
  X86_PF_WRITE,
} = walker;

export { FAST_SLOTS, FOLD_AT } from './fastpath.ts';
const EMPTY = -1;
/** Clock value after a fold (above every rank, ways <= 32). */
export const CLOCK_BASE = 32;
/** Pseudo error code for a non-canonical or non-integer address (#GP, not #PF). */
export const FAULT_GP = 1 << 16;
const VA_LIMIT = 2 ** 48;

/**
 * Fold a CPU's access clock (its `hot` words) into its counters (`ctr[cb + C_*]`) and re-rank
 * its TLB's LRU stamps so the clock can restart; returns the new clock, CLOCK_BASE.
 */
export function foldClock(tlb: Tlb, ctr: Float64Array, cb: number, hot: Int32Array): number {
  ctr[cb + C_LOOKUPS_FOLDED] += hot[0] - CLOCK_BASE;
  ctr[cb + C_STORES_FOLDED] += hot[1];
  hot[1] = 0;
  for (const arr of tlb.allArrays()) arr.rankStamps();
  hot[0] = CLOCK_BASE;
  return CLOCK_BASE;
}

/** A page fault that no handler resolved. */
export class PageFaultError extends Error {
  readonly va: number;
  readonly errorCode: number;
  readonly level: number;
  constructor(va: number, errorCode: number, level: number) {
    super(`page fault at 0x${va.toString(16)} (error code 0x${errorCode.toString(16)}, level ${level})`);
    this.name = 'PageFaultError';
    this.va = va;
    this.errorCode = errorCode;
    this.level = level;
  }
}

export type PageFaultHandler = (va: number, errorCode: number) => void;

export interface MmuOptions {
  tlb?: TlbConfig;
  /** CR4.PCIDE (default false). */
  pcide?: boolean;
  /** CR4.PGE (default true). */
  pge?: boolean;
  /** The Walker class of the TLB (a trace recorder's subclass). */
  walkerType?: typeof walker.Walker;
}

export class Mmu implements SlowPaths {
  readonly cpu: number;
  readonly mem: PhysMem;
  readonly tlb: Tlb;
  onPageFault: PageFaultHandler | null = null;
  /** Called when the CPU leaves idle (see idle()), before it takes its mailbox. */
  onWake: (() => void) | null = null;
  /** Last fault raised (also passed to onPageFault). */
  faultVa = 0;
  faultCode = 0;
  faultLevel = 0;

  readonly load8: FastPaths['load8'];
  readonly load16: FastPaths['load16'];
  readonly load32: FastPaths['load32'];
  readonly loadF64: FastPaths['loadF64'];
  readonly store8: FastPaths['store8'];
  readonly store16: FastPaths['store16'];
  readonly store32: FastPaths['store32'];
  readonly storeF64: FastPaths['storeF64'];

  private readonly m8: Uint8Array;
  private readonly m16: Uint16Array;
  private readonly m32: Int32Array;
  private readonly mf64: Float64Array;
  private readonly fTag = new Float64Array(FAST_SLOTS).fill(EMPTY);
  private readonly fWTag = new Float64Array(FAST_SLOTS).fill(EMPTY);
  private readonly fWord = new Int32Array(FAST_SLOTS);
  private readonly fEnt = new Int32Array(FAST_SLOTS);
  private readonly fastCount: Int32Array;
  /** Slow-path arguments: [va, value]. */
  private readonly box = new Float64Array(2);
  private readonly hot: Int32Array;
  protected readonly pend: Int32Array;
  private readonly ctl: Int32Array;
  private readonly ctlF64: Float64Array;
  private readonly i32Base: number;
  private readonly f64Base: number;
  private readonly ctr: Float64Array;
  private readonly cb: number;
  private ipiAcked = 0;
  /** Between idle() and the next takeIpis. */
  private idling = false;
  private faults = 0;
  private splitPa = 0;
  private readonly scratch = new ArrayBuffer(8);
  private readonly s8 = new Uint8Array(this.scratch);
  private readonly s16 = new Uint16Array(this.scratch);
  private readonly s32 = new Int32Array(this.scratch);
  private readonly sf64 = new Float64Array(this.scratch);
  private readonly s64 = new BigInt64Array(this.scratch);

  /**
   * An MMU for CPU `cpu` of the machine (mem, control block). Resets that CPU's counters,
   * publishes its preset's latencies for the modeled clock (timing.ts) and acknowledges any
   * IPI already posted to it (it has no TLB state to flush yet).
   */
  constructor(mem: PhysMem, control: ControlBlock, cpu: number, options: MmuOptions = {}) {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= control.nrCpus) throw new RangeError(`no CPU ${cpu}`);
    this.cpu = cpu;
    this.mem = mem;
    this.m8 = mem.u8;
    this.m16 = mem.u16;
    this.m32 = mem.i32;
    this.mf64 = mem.f64;
    this.ctl = control.i32;
    this.ctlF64 = control.f64;
    this.i32Base = cpuI32Base(cpu);
    this.f64Base = cpuF64Base(cpu);
    this.hot = control.i32.subarray(this.i32Base + HOT_CLOCK, this.i32Base + HOT_STORES + 1);
    this.pend = control.i32.subarray(this.i32Base + IPI_PENDING, this.i32Base + IPI_PENDING + 1);
    this.ctr = control.f64;
    this.cb = this.f64Base + CPU_COUNTERS_F64;
    this.ctr.fill(0, this.cb, this.cb + CPU_COUNTER_SLOTS);
    this.hot[0] = CLOCK_BASE;
    this.hot[1] = 0;
    this.ipiAcked = Atomics.load(this.ctl, this.i32Base + IPI_SEQ) & ~1;
    Atomics.store(this.ctl, this.i32Base + IPI_ACK, this.ipiAcked);
    Atomics.store(this.pend, 0, 0);
    const config = options.tlb ?? tlbConfig();
    writeLatencies(control, latenciesOf(config.geometry));
    this.tlb = new Tlb(config, mem, control, this.ctr, this.cb, this.hot, this, options.walkerType);
    this.tlb.pcide = options.pcide ?? false;
    this.tlb.pge = options.pge ?? true;
    this.fastCount = new Int32Array(this.tlb.l1Stamp.length);
    const fast = makeFastPaths({
      m8: this.m8, m16: this.m16, m32: this.m32, mf64: this.mf64, fTag: this.fTag,
      fWTag: this.fWTag, fWord: this.fWord, fEnt: this.fEnt, l1Stamp: this.tlb.l1Stamp,
      hot: this.hot, pend: this.pend, box: this.box, lru: this.tlb.l1Lru,
    }, this);
    this.load8 = fast.load8;
    this.load16 = fast.load16;
    this.load32 = fast.load32;
    this.loadF64 = fast.loadF64;
    this.store8 = fast.store8;
    this.store16 = fast.store16;
    this.store32 = fast.store32;
    this.storeF64 = fast.storeF64;
  }

  /** 64-bit load as a BigInt64 (allocates the bigint it returns; always the slow path). */
  load64(va: number): bigint {
    this.readScratch(va, 8);
    return this.s64[0];
  }

  store64(va: number, v: bigint): void {
    this.s64[0] = v;
    this.writeScratch(va, 8);
  }

  // --- slow paths (SlowPaths: arguments in box) -------------------------------------------

  load8Slow(): number {
    return this.m8[this.translateUser(this.box[0], ACC_USER_READ)];
  }

  load16Slow(): number {
    const va = this.box[0];
    if ((va & 1) === 0) return this.m16[this.translateUser(va, ACC_USER_READ) / 2];
    this.readScratch(va, 2);
    return this.s16[0];
  }

  load32Slow(): number {
    const va = this.box[0];
    if ((va & 3) === 0) return this.m32[this.translateUser(va, ACC_USER_READ) / 4];
    this.readScratch(va, 4);
    return this.s32[0];
  }

  loadF64Slow(): number {
    const va = this.box[0];
    if ((va & 7) === 0) return this.mf64[this.translateUser(va, ACC_USER_READ) / 8];
    this.readScratch(va, 8);
    return this.sf64[0];
  }

  store8Slow(): void {
    this.m8[this.translateUser(this.box[0], ACC_USER_WRITE)] = this.box[1];
  }

  store16Slow(): void {
    const va = this.box[0];
    if ((va & 1) === 0) {
      this.m16[this.translateUser(va, ACC_USER_WRITE) / 2] = this.box[1];
      return;
    }
    this.s16[0] = this.box[1];
    this.writeScratch(va, 2);
  }

  store32Slow(): void {
    const va = this.box[0];
    if ((va & 3) === 0) {
      this.m32[this.translateUser(va, ACC_USER_WRITE) / 4] = this.box[1];
      return;
    }
    this.s32[0] = this.box[1];
    this.writeScratch(va, 4);
  }

  storeF64Slow(): void {
    const va = this.box[0];
    if ((va & 7) === 0) {
      this.mf64[this.translateUser(va, ACC_USER_WRITE) / 8] = this.box[1];
      return;
    }
    this.sf64[0] = this.box[1];
    this.writeScratch(va, 8);
  }

  /** Copy `width` bytes at va (any alignment, may cross a page) into the scratch buffer. */
  private readScratch(va: number, width: number): void {
    const first = Math.min(width, 4096 - (va & 4095));
    const pa0 = this.translateParts(va, width, ACC_USER_READ);
    for (let i = 0; i < first; i++) this.s8[i] = this.m8[pa0 + i];
    for (let i = first; i < width; i++) this.s8[i] = this.m8[this.splitPa + i - first];
  }

  /** Copy `width` bytes from the scratch buffer to va (any alignment, may cross a page). */
  private writeScratch(va: number, width: number): void {
    const first = Math.min(width, 4096 - (va & 4095));
    const pa0 = this.translateParts(va, width, ACC_USER_WRITE);
    for (let i = 0; i < first; i++) this.m8[pa0 + i] = this.s8[i];
    for (let i = first; i < width; i++) this.m8[this.splitPa + i - first] = this.s8[i];
  }

  /**
   * Translate both pages of an access that may cross a page boundary; the second page's
   * address goes to splitPa. Both are translated before any byte moves (x86 does not
   * half-complete an access that faults on its second page).
   */
  protected translateParts(va: number, width: number, access: number): number {
    if ((va & 4095) + width <= 4096) return this.translateUser(va, access);
    this.ctr[this.cb + C_SPLIT_ACCESSES] += 1;
    const next = va - (va & 4095) + 4096;
    for (;;) {
      const f = this.faults;
      const pa0 = this.translateUser(va, access);
      this.splitPa = this.translateUser(next, access);
      if (this.faults === f) return pa0;
    }
  }

  /**
   * Translate a user access (ACC_USER_*) of va: its physical address. Raises page faults
   * until the handler resolves them (or throws). Each attempt is one lookup.
   */
  translateUser(va: number, access: number): number {
    for (;;) {
      const pfn = this.translatePfn(va, access);
      if (pfn >= 0) return pfn * 4096 + (va & 4095);
      this.raise(va);
    }
  }

  /**
   * One translation attempt of va for `access` (ACC_*): the physical address, or -1 with
   * faultVa/faultCode/faultLevel set (no handler is called). Counts as one lookup.
   */
  translate(va: number, access: number): number {
    const pfn = this.translatePfn(va, access);
    return pfn < 0 ? -1 : pfn * 4096 + (va & 4095);
  }

  /** One translation attempt: the 4 KiB frame of va, or -1 (fault recorded). */
  private translatePfn(va: number, access: number): number {
    if (this.pend[0] !== 0) this.takeIpis();
    this.attempted(va, access);
    if ((access & X86_PF_WRITE) !== 0) this.hot[1] = (this.hot[1] + 1) | 0;
    const c = (this.hot[0] + 1) | 0;
    this.hot[0] = c;
    if (c >= FOLD_AT) this.fold();
    this.ctr[this.cb + C_EMU_SLOW_PATH] += 1;
    if (!(va >= 0 && va < VA_LIMIT && Number.isInteger(va))) {
      this.ctr[this.cb + C_LOAD_FAULTS + ((access & X86_PF_WRITE) !== 0 ? 1 : 0)] += 1;
      return this.recordFault(va, FAULT_GP | access, 0);
    }
    const tlb = this.tlb;
    const pfn = tlb.translate(Math.floor(va / 4096) & VPN_A_MASK, Math.floor(va / 2 ** 42), access);
    if (pfn < 0) return this.recordFault(va, tlb.faultCode, tlb.faultLevel);
    if (tlb.l1Entry >= 0 && (access & X86_PF_USER) !== 0 && (tlb.perms & PERM_U) !== 0) {
      this.installFast(va, tlb.l1Entry, pfn, tlb.perms);
    }
    return pfn;
  }

  /** Each translation attempt, after pending shootdowns: a trace recorder's hook. */
  protected attempted(_va: number, _access: number): void {}

  private recordFault(va: number, code: number, level: number): number {
    this.faultVa = va;
    this.faultCode = code;
    this.faultLevel = level;
    this.faults++;
    return -1;
  }

  private raise(va: number): void {
    const handler = this.onPageFault;
    if (handler === null) throw new PageFaultError(va, this.faultCode, this.faultLevel);
    handler(va, this.faultCode);
  }

  // --- fast cache -------------------------------------------------------------------------

  private installFast(va: number, g: number, pfn4k: number, perms: number): void {
    const s = (va >>> 12) & FAST_MASK;
    if (this.fTag[s] !== EMPTY) this.fastCount[this.fEnt[s]]--;
    const base = va - (va & 4095);
    this.fTag[s] = base;
    this.fWTag[s] = (perms & (PERM_W | PERM_D)) === (PERM_W | PERM_D) ? base : EMPTY;
    this.fWord[s] = pfn4k << 10;
    this.fEnt[s] = g;
    this.fastCount[g]++;
  }

  private clearSlot(s: number): void {
    this.fTag[s] = EMPTY;
    this.fWTag[s] = EMPTY;
    this.fastCount[this.fEnt[s]]--;
  }

  /** EvictListener: an L1 entry left or changed; drop the fast slots derived from it. */
  evicted(arr: TlbArray, i: number): void {
    const g = arr.base + i;
    if (this.fastCount[g] === 0) return;
    if (arr.size(i) === SIZE_4K) {
      const s = arr.tagA[i] & FAST_MASK;
      if (this.fTag[s] !== EMPTY && this.fEnt[s] === g) this.clearSlot(s);
      return;
    }
    for (let s = 0; s < FAST_SLOTS && this.fastCount[g] > 0; s++) {
      if (this.fTag[s] !== EMPTY && this.fEnt[s] === g) this.clearSlot(s);
    }
  }

  private clearFast(): void {
    this.fTag.fill(EMPTY);
    this.fWTag.fill(EMPTY);
    this.fastCount.fill(0);
  }

  touchL1(g: number, clock: number): void {
    const arr = this.tlb.l1Owner[g];
    arr.touch(g - arr.base, clock);
  }

  /** The access clock reached FOLD_AT: fold it (foldClock). Returns the new clock. */
  fold(): number {
    return foldClock(this.tlb, this.ctr, this.cb, this.hot);
  }

  // --- control registers and invalidation -------------------------------------------------

  /** MOV to CR3 (see Tlb.loadCr3). Publishes CR3 and PCID in the control block. */
  loadCr3(pml4Pfn: number, pcid = 0, noflush = false): void {
    this.tlb.loadCr3(pml4Pfn, pcid, noflush);
    this.clearFast();
    this.ctl[this.i32Base + CPU_CR3_PFN] = pml4Pfn;
    this.ctl[this.i32Base + CPU_PCID] = this.tlb.pcid;
  }

  /** MOV to CR4 changing PCIDE / PGE: flushes everything. */
  setCr4(pcide: boolean, pge: boolean): void {
    this.tlb.setCr4(pcide, pge);
    this.clearFast();
  }

  invlpg(va: number): void {
    this.tlb.invlpg(va);
  }

  /** INVPCID of `type` 0..3 (type 0 needs va). */
  invpcid(type: number, pcid: number, va = 0): void {
    if (type === 0) this.tlb.invpcidAddr(pcid & 0xfff, va);
    else if (type === 1) this.tlb.invpcidSingle(pcid & 0xfff);
    else if (type === 2) this.tlb.invpcidAll();
    else if (type === 3) this.tlb.invpcidNonGlobal();
    else throw new RangeError(`invpcid: bad type ${type}`);
  }

  // --- IPIs -------------------------------------------------------------------------------

  /** True if a shootdown is posted and not yet taken. */
  ipiPending(): boolean {
    return this.pend[0] !== 0;
  }

  /**
   * The guest's JavaScript stack is empty (its thread waits in the event loop): CPU_STATE
   * goes from CPU_USER to CPU_IDLE, so shootdowns post to this CPU without waiting for it,
   * and IPI_PENDING is set so that the next access takes the slow path, where takeIpis
   * makes the CPU busy again before it reads the mailbox. Nothing may translate between
   * that and this call but through takeIpis (translatePfn does).
   */
  idle(): void {
    if (this.idling) return;
    Atomics.store(this.pend, 0, 1);
    this.idling = Atomics.compareExchange(this.ctl, this.i32Base + CPU_STATE, CPU_USER, CPU_IDLE) === CPU_USER;
  }

  /**
   * Take every posted shootdown: apply it, then acknowledge its sequence number. Called
   * before the first translation after IPI_PENDING is set, and at kernel entry. An idle
   * CPU first goes back to CPU_USER with a compare-exchange (a full fence) and only then
   * reads IPI_SEQ: a shooter that saw CPU_IDLE had posted before that exchange, so the
   * read below finds its request (README.md, "Idle CPUs").
   */
  takeIpis(): void {
    const ctl = this.ctl;
    const b = this.i32Base;
    if (this.idling) {
      this.idling = false;
      Atomics.compareExchange(ctl, b + CPU_STATE, CPU_IDLE, CPU_USER);
      if (this.onWake !== null) this.onWake();
    }
    Atomics.store(ctl, b + IPI_PENDING, 0);
    for (;;) {
      const seq = Atomics.load(ctl, b + IPI_SEQ);
      if ((seq & 1) !== 0) continue;
      if (seq === this.ipiAcked) return;
      const kind = ctl[b + IPI_KIND];
      const pcid = ctl[b + IPI_PCID];
      const shift = ctl[b + IPI_STRIDE_SHIFT];
      const start = this.ctlF64[this.f64Base + IPI_START];
      const end = this.ctlF64[this.f64Base + IPI_END];
      if (Atomics.load(ctl, b + IPI_SEQ) !== seq) continue;
      this.applyFlush(kind, pcid, start, end, shift);
      this.ipiAcked = seq;
      Atomics.store(ctl, b + IPI_ACK, seq);
      Atomics.notify(ctl, b + IPI_ACK);
      this.ctr[this.cb + C_IPIS] += 1;
    }
  }

  /** Apply one shootdown request (a trace recorder's hook). */
  protected applyFlush(kind: number, pcid: number, start: number, end: number, shift: number): void {
    this.tlb.applyFlush(kind, pcid, start, end, shift);
  }

}
