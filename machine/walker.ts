// The hardware page walker: 4-level x86-64 paging as the Intel SDM (Vol. 3A ch. 4)
// describes it.
//
// - Accessed is set in every entry used; Dirty only in the leaf (PTE, or PDE/PDPTE with
//   PS=1) and only for writes. Both with a locked read-modify-write (compare-and-swap on
//   the `lo` word). The leaf's A and D are set only when the access is allowed; the
//   upper levels' A is set as the walk passes them (SDM 4.8, and the Pentium 4 rule that
//   a faulting access touches the PDE's A but not the PTE's).
// - Rights: RW and US are ANDed and NX is ORed over the levels. CR0.WP is 1, so writes need
//   RW at every level even in supervisor mode. SMEP/SMAP/PKE are off.
// - A present entry with a reserved bit set (PS in a PML4E, address bits above MAXPHYADDR,
//   non-zero bits inside a huge leaf's frame field), or one pointing outside physical
//   memory (a table, or any part of a leaf's page), faults with X86_PF_RSVD. So no TLB entry
//   ever reaches past the end of RAM.
//
// Compare the walk in QEMU target/i386/tcg/sysemu/excp_helper.c (mmu_translate).
//
// Threading: runs on any thread; entries are read with plain loads and A/D set with
// Atomics.compareExchange. A walk restarts if a compare-and-swap loses or G_PTE_SEQ moved
// (see pgtable.ts for the writer's half of the contract).
// The walker allocates nothing: results go into its own preallocated fields.

import * as layout from './layout.ts';
import type { ControlBlock } from './layout.ts';
import * as physmem from './physmem.ts';
import type { PhysMem } from './physmem.ts';
import * as pte from './pte.ts';

// Imported values are copied into module-local consts: under vitest (and CommonJS interop)
// every read of an imported binding is a getter call, and every walk reads these.
const { G_PTE_SEQ } = layout;
const { pfnToWord } = physmem;
const {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX_HI, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW,
  _PAGE_USER, FRAME_MASK_HI, PMD_FRAME_MASK_LO, PUD_FRAME_MASK_LO, RSVD_MASK_HI,
  RSVD_MASK_LO_1G, RSVD_MASK_LO_2M,
} = pte;

/** #PF error-code bits (arch/x86/include/asm/trap_pf.h). Also used to describe an access. */
export const X86_PF_PROT = 1 << 0;
export const X86_PF_WRITE = 1 << 1;
export const X86_PF_USER = 1 << 2;
export const X86_PF_RSVD = 1 << 3;
export const X86_PF_INSTR = 1 << 4;

/** Access kinds passed to walk(): the error-code bits an access would report. */
export const ACC_READ = 0;
export const ACC_WRITE = X86_PF_WRITE;
export const ACC_FETCH = X86_PF_INSTR;
export const ACC_USER_READ = X86_PF_USER;
export const ACC_USER_WRITE = X86_PF_USER | X86_PF_WRITE;
export const ACC_USER_FETCH = X86_PF_USER | X86_PF_INSTR;

/** Page sizes, as indices. */
export const SIZE_4K = 0;
export const SIZE_2M = 1;
export const SIZE_1G = 2;
/** Frames per page of each size. */
export const SIZE_FRAMES = [1, 512, 512 * 512] as const;
/** Bytes per page of each size. */
export const SIZE_BYTES = [2 ** 12, 2 ** 21, 2 ** 30] as const;

/** Page number of `va` in units of page size `size` (SIZE_*). */
export function vpnOf(va: number, size: number): number {
  return Math.floor(va / SIZE_BYTES[size]);
}

/** Packed rights of a translation (also the flag bits of TLB entries). */
export const PERM_W = 1;
export const PERM_U = 2;
export const PERM_NX = 4;
/** The leaf's D bit as the walk left it. */
export const PERM_D = 8;
/** The leaf's G bit. */
export const PERM_G = 16;

/** Rights before any entry is read: everything allowed. */
export const PERM_START = PERM_W | PERM_U;

/*
 * Page numbers cross calls split in two small integers, vpnA = bits 0..29 and vpnB = bits
 * 30.. (at most 6 bits for a 48-bit address): both always fit V8's 31-bit small integers,
 * so no call on the translation path boxes a number.
 */
export const VPN_A_BITS = 30;
export const VPN_A_MASK = 0x3fffffff;

/** Low part (bits 0..29) of the 4 KiB page number of va. */
export function vpnA(va: number): number {
  return Math.floor(va / 4096) & VPN_A_MASK;
}

/** High part (bits 30..) of the 4 KiB page number of va. */
export function vpnB(va: number): number {
  return Math.floor(va / 2 ** 42);
}

/** Index (0..511) of the entry for 4 KiB page (vpnA, vpnB) in its table at `level`. */
export function vpnIndex(a: number, b: number, level: number): number {
  if (level === 1) return a & 511;
  if (level === 2) return (a >>> 9) & 511;
  if (level === 3) return (a >>> 18) & 511;
  return ((a >>> 27) | (b << 3)) & 511;
}

/**
 * Walker state and results. One per CPU (or per kernel user); reuse it for every walk.
 * Addresses come in as the 4 KiB page number split as (vpnA, vpnB) (see above).
 * After walk() returns true: `pfn` is the 4 KiB frame holding the page, `basePfn` the first
 * frame of the (possibly huge) page, `size` its SIZE_*, `perms` its PERM_* bits. After it
 * returns false: `errorCode` and `faultLevel` describe the #PF. Either way `tables[l]` and
 * `tablePerms[l]` hold, for each non-leaf level l the walk passed (from its start level
 * down to `tablesFrom`; tablesFrom = 5 if none), the frame of the next-level table and the
 * rights accumulated through level l: what the paging-structure caches keep.
 */
export class Walker {
  readonly mem: PhysMem;
  private readonly i32: Int32Array;
  private readonly ctl: Int32Array;
  private readonly nrFrames: number;
  protected readonly counters: Float64Array;
  protected readonly refsBase: number;
  protected readonly aSetsSlot: number;
  protected readonly dSetsSlot: number;
  protected readonly retriesSlot: number;

  pfn = 0;
  basePfn = 0;
  size = SIZE_4K;
  perms = 0;
  /** Int32Array index of the leaf entry's `lo` word (success), or the faulting entry's. */
  leafWord = 0;
  errorCode = 0;
  faultLevel = 0;
  readonly tables = new Int32Array(5);
  readonly tablePerms = new Int32Array(5);
  tablesFrom = 5;

  /**
   * `counters` receives: [refsBase + 0..3] = PML4E, PDPTE, PDE, PTE reads; [aSetsSlot],
   * [dSetsSlot], [retriesSlot]. Pass a private scratch array to walk without counting.
   */
  constructor(mem: PhysMem, cb: ControlBlock, counters: Float64Array, refsBase: number,
    aSetsSlot: number, dSetsSlot: number, retriesSlot: number) {
    this.mem = mem;
    this.i32 = mem.i32;
    this.ctl = cb.i32;
    this.nrFrames = mem.nrFrames;
    this.counters = counters;
    this.refsBase = refsBase;
    this.aSetsSlot = aSetsSlot;
    this.dSetsSlot = dSetsSlot;
    this.retriesSlot = retriesSlot;
  }

  /** A walker that counts into a private array (kernel software walks, tests). */
  static uncounted(mem: PhysMem, cb: ControlBlock): Walker {
    return new Walker(mem, cb, new Float64Array(8), 0, 4, 5, 6);
  }

  /** walk() for a linear address given as a number: a full walk from `cr3Pfn`. */
  walkVa(cr3Pfn: number, va: number, access: number): boolean {
    return this.walk(vpnA(va), vpnB(va), access, 4, cr3Pfn, PERM_START);
  }

  /**
   * Translate 4 KiB page (vpnA, vpnB) = (a, b) for `access` (ACC_*), starting at `level` in the
   * table in frame `tablePfn` with rights `perms` accumulated above it (a full walk: level
   * 4, CR3's frame, PERM_START). Returns true with the translation, or false with the fault.
   */
  walk(a: number, b: number, access: number, level: number, tablePfn: number, perms: number): boolean {
    for (;;) {
      const seq = this.ctl[G_PTE_SEQ];
      const r = (seq & 1) === 0 ? this.walkOnce(a, b, access, level, tablePfn, perms) : -1;
      if (r !== -1 && this.ctl[G_PTE_SEQ] === seq) return r === 1;
      this.counters[this.retriesSlot] += 1;
    }
  }

  /** One attempt: 1 = translated, 0 = fault, -1 = an entry changed under us, retry. */
  private walkOnce(a: number, b: number, access: number, level: number, tablePfn: number,
    perms: number): number {
    const i32 = this.i32;
    this.tablesFrom = 5;
    let table = tablePfn;
    for (;;) {
      const w = pfnToWord(table) + vpnIndex(a, b, level) * 2;
      const lo = i32[w];
      this.counters[this.refsBase + 4 - level] += 1;
      this.leafWord = w;
      if ((lo & _PAGE_PRESENT) === 0) return this.fault(access, level);
      const hi = i32[w + 1];
      if ((hi & RSVD_MASK_HI) !== 0) return this.fault(access | X86_PF_PROT | X86_PF_RSVD, level);
      perms &= ((lo & _PAGE_RW) !== 0 ? PERM_W : 0) | ((lo & _PAGE_USER) !== 0 ? PERM_U : 0) | PERM_NX;
      if ((hi & _PAGE_NX_HI) !== 0) perms |= PERM_NX;
      if (level === 1 || (lo & _PAGE_PSE) !== 0) return this.leaf(a, access, level, w, lo, hi, perms);
      if ((lo & _PAGE_ACCESSED) === 0) {
        if (Atomics.compareExchange(i32, w, lo, lo | _PAGE_ACCESSED) !== lo) return -1;
        this.counters[this.aSetsSlot] += 1;
      }
      table = (lo >>> 12) + (hi & FRAME_MASK_HI) * 0x100000;
      if (table >= this.nrFrames) return this.fault(access | X86_PF_PROT | X86_PF_RSVD, level);
      this.tables[level] = table;
      this.tablePerms[level] = perms;
      this.tablesFrom = level;
      level--;
    }
  }

  /** The walk reached a leaf at `level`: check reserved bits and rights, set A/D, report. */
  private leaf(a: number, access: number, level: number, w: number, lo: number, hi: number,
    perms: number): number {
    let base: number;
    let pfn: number;
    if (level === 4) return this.fault(access | X86_PF_PROT | X86_PF_RSVD, level);
    if (level === 3) {
      if ((lo & RSVD_MASK_LO_1G) !== 0) return this.fault(access | X86_PF_PROT | X86_PF_RSVD, level);
      base = ((lo & PUD_FRAME_MASK_LO) >>> 12) + (hi & FRAME_MASK_HI) * 0x100000;
      pfn = base + (a & 0x3ffff);
      this.size = SIZE_1G;
    } else if (level === 2) {
      if ((lo & RSVD_MASK_LO_2M) !== 0) return this.fault(access | X86_PF_PROT | X86_PF_RSVD, level);
      base = ((lo & PMD_FRAME_MASK_LO) >>> 12) + (hi & FRAME_MASK_HI) * 0x100000;
      pfn = base + (a & 511);
      this.size = SIZE_2M;
    } else {
      base = (lo >>> 12) + (hi & FRAME_MASK_HI) * 0x100000;
      pfn = base;
      this.size = SIZE_4K;
    }
    if (base + SIZE_FRAMES[this.size] > this.nrFrames) return this.fault(access | X86_PF_PROT | X86_PF_RSVD, level);
    if (!accessAllowed(perms, access)) return this.fault(access | X86_PF_PROT, level);
    const want = (access & X86_PF_WRITE) !== 0 ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED;
    if ((lo & want) !== want) {
      if (Atomics.compareExchange(this.i32, w, lo, lo | want) !== lo) return -1;
      if ((lo & _PAGE_ACCESSED) === 0) this.counters[this.aSetsSlot] += 1;
      if ((want & ~lo & _PAGE_DIRTY) !== 0) this.counters[this.dSetsSlot] += 1;
      lo |= want;
    }
    this.pfn = pfn;
    this.basePfn = base;
    this.perms = perms | ((lo & _PAGE_DIRTY) !== 0 ? PERM_D : 0) | ((lo & _PAGE_GLOBAL) !== 0 ? PERM_G : 0);
    return 1;
  }

  private fault(errorCode: number, level: number): number {
    this.errorCode = errorCode;
    this.faultLevel = level;
    return 0;
  }
}

/**
 * True if rights `perms` (PERM_*) allow `access` (ACC_*). Supervisor accesses ignore US
 * (SMAP off) but not RW (CR0.WP = 1); fetches need NX clear.
 */
export function accessAllowed(perms: number, access: number): boolean {
  if ((access & X86_PF_USER) !== 0 && (perms & PERM_U) === 0) return false;
  if ((access & X86_PF_WRITE) !== 0 && (perms & PERM_W) === 0) return false;
  if ((access & X86_PF_INSTR) !== 0 && (perms & PERM_NX) !== 0) return false;
  return true;
}
