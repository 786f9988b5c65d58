// The x86-64 paging-structure entry format, as pure functions on its two 32-bit words.
//
// Compare arch/x86/include/asm/pgtable_types.h and pgtable.h. An entry is 64 bits, stored
// little-endian as two Int32 words: `lo` (bits 0-31) at the even word index and `hi`
// (bits 32-63) at the odd one. Everything the walker and the kernel update concurrently
// (P, RW, US, A, D, PS, the software bits) is in `lo`, so one 32-bit Atomic covers it.
//
//   lo: 31                          12 11 10  9  8  7   6  5  4   3   2   1  0
//      +------------------------------+--+--+--+--+---+--+--+---+---+---+--+--+
//      | frame address bits 31..12    |SD|UW|SP| G|PS/| D| A|PCD|PWT|U/S|RW| P|
//      |  (bit 12 is PAT on huge)     |  |  |  |  |PAT|  |  |   |   |   |  |  |
//      +------------------------------+--+--+--+--+---+--+--+---+---+---+--+--+
//   hi: 31  30..27  26  25  24..20  19..0
//      +---+------+---+---+-------+----------------------------+
//      |NX | PKEY |SvD|SW4| ignored| frame address bits 51..32 |
//      +---+------+---+---+-------+----------------------------+
//   SP = SPECIAL (bit 9), UW = UFFD_WP (10), SD = SOFT_DIRTY (11), SW4 = bit 57,
//   SvD = SAVED_DIRTY (58). Bit 7 is PAT in a 4 KiB PTE and PS in a PDE/PDPTE; a 2 MiB or
//   1 GiB leaf carries PAT in bit 12 instead (PAT_LARGE).
//
// Helpers take and return the `lo` word unless their name says otherwise (the NX helpers
// act on `hi`). Words are handled as int32 (Int32Array values); compare flags with `& X`.

export const _PAGE_PRESENT = 1 << 0;
export const _PAGE_RW = 1 << 1;
export const _PAGE_USER = 1 << 2;
export const _PAGE_PWT = 1 << 3;
export const _PAGE_PCD = 1 << 4;
export const _PAGE_ACCESSED = 1 << 5;
export const _PAGE_DIRTY = 1 << 6;
/** Bit 7 in a PDE or PDPTE: this entry maps a 2 MiB / 1 GiB page. */
export const _PAGE_PSE = 1 << 7;
/** Bit 7 in a 4 KiB PTE: PAT index bit. */
export const _PAGE_PAT = 1 << 7;
export const _PAGE_GLOBAL = 1 << 8;
export const _PAGE_SPECIAL = 1 << 9;
export const _PAGE_UFFD_WP = 1 << 10;
export const _PAGE_SOFT_DIRTY = 1 << 11;
/** Bit 12 in a 2 MiB / 1 GiB leaf: PAT index bit. */
export const _PAGE_PAT_LARGE = 1 << 12;
/** In `hi`: bit 63, execute-disable. */
export const _PAGE_NX_HI = 1 << 31;
/** In `hi`: bit 57 (SOFTW4) and bit 58 (SAVED_DIRTY, shadow-stack "dirty but read-only"). */
export const _PAGE_SOFTW4_HI = 1 << 25;
export const _PAGE_SAVED_DIRTY_HI = 1 << 26;
/** In `hi`: protection-key bits 59..62 (ignored: CR4.PKE is off in this machine). */
export const _PAGE_PKEY_HI_MASK = 0xf << 27;

/** Linux _PAGE_TABLE: what a non-leaf entry carries besides the table address. */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

/** Frame-address bits of `lo` for each leaf size (4 KiB PTE, 2 MiB PDE, 1 GiB PDPTE). */
export const PTE_FRAME_MASK_LO = 0xfffff000 | 0;
export const PMD_FRAME_MASK_LO = 0xffe00000 | 0;
export const PUD_FRAME_MASK_LO = 0xc0000000 | 0;
/** Frame-address bits 51..32 in `hi`. */
export const FRAME_MASK_HI = 0x000fffff;

/** The machine reports 46 physical address bits, as many Intel server parts do. */
export const MAXPHYADDR = 46;
/** Bits of `hi` that must be zero in a present entry: address bits MAXPHYADDR..51. */
export const RSVD_MASK_HI = (FRAME_MASK_HI & ~((1 << (MAXPHYADDR - 32)) - 1)) | 0;
/** Reserved `lo` bits in a 2 MiB leaf (13..20) and a 1 GiB leaf (13..29). */
export const RSVD_MASK_LO_2M = 0x001fe000;
export const RSVD_MASK_LO_1G = 0x3fffe000;

// --- building entries --------------------------------------------------------------------

/** `lo` word of an entry pointing at frame `pfn` with flags `flagsLo` (bits 0..11, or 12). */
export function mkPteLo(pfn: number, flagsLo: number): number {
  return ((pfn & 0xfffff) << 12) | flagsLo;
}

/** `hi` word of an entry pointing at frame `pfn`, execute-disabled when `nx`. */
export function mkPteHi(pfn: number, nx: boolean): number {
  return Math.floor(pfn / 0x100000) | (nx ? _PAGE_NX_HI : 0);
}

// --- reading entries ---------------------------------------------------------------------

/** pte_none: the whole entry is zero. */
export function pteNone(lo: number, hi: number): boolean {
  return lo === 0 && hi === 0;
}

export function ptePresent(lo: number): boolean {
  return (lo & _PAGE_PRESENT) !== 0;
}

/** pmd_leaf / pud_leaf: a PDE or PDPTE that maps a page (PS set and present). */
export function pteLeaf(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PSE)) === (_PAGE_PRESENT | _PAGE_PSE);
}

/** Frame number of a 4 KiB PTE, or of the table a non-leaf entry points at. */
export function ptePfn(lo: number, hi: number): number {
  return (lo >>> 12) + (hi & FRAME_MASK_HI) * 0x100000;
}

/** First frame of a 2 MiB leaf (PAT_LARGE and the reserved bits masked off). */
export function pmdPfn(lo: number, hi: number): number {
  return ((lo & PMD_FRAME_MASK_LO) >>> 12) + (hi & FRAME_MASK_HI) * 0x100000;
}

/** First frame of a 1 GiB leaf. */
export function pudPfn(lo: number, hi: number): number {
  return ((lo & PUD_FRAME_MASK_LO) >>> 12) + (hi & FRAME_MASK_HI) * 0x100000;
}

export function pteWrite(lo: number): boolean {
  return (lo & _PAGE_RW) !== 0;
}
export function pteUser(lo: number): boolean {
  return (lo & _PAGE_USER) !== 0;
}
export function pteYoung(lo: number): boolean {
  return (lo & _PAGE_ACCESSED) !== 0;
}
export function pteDirty(lo: number): boolean {
  return (lo & _PAGE_DIRTY) !== 0;
}
export function pteGlobal(lo: number): boolean {
  return (lo & _PAGE_GLOBAL) !== 0;
}
export function pteSpecial(lo: number): boolean {
  return (lo & _PAGE_SPECIAL) !== 0;
}
export function pteUffdWp(lo: number): boolean {
  return (lo & _PAGE_UFFD_WP) !== 0;
}
export function pteSoftDirty(lo: number): boolean {
  return (lo & _PAGE_SOFT_DIRTY) !== 0;
}
/** pte_exec, on the `hi` word. */
export function pteExec(hi: number): boolean {
  return (hi & _PAGE_NX_HI) === 0;
}

// --- modifying entries (pure: return the new word) ----------------------------------------

export function pteMkwrite(lo: number): number {
  return lo | _PAGE_RW;
}
export function pteWrprotect(lo: number): number {
  return lo & ~_PAGE_RW;
}
export function pteMkclean(lo: number): number {
  return lo & ~_PAGE_DIRTY;
}
/** As in Linux, making an entry dirty also marks it soft-dirty. */
export function pteMkdirty(lo: number): number {
  return lo | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
}
export function pteMkold(lo: number): number {
  return lo & ~_PAGE_ACCESSED;
}
export function pteMkyoung(lo: number): number {
  return lo | _PAGE_ACCESSED;
}
export function pteMkspecial(lo: number): number {
  return lo | _PAGE_SPECIAL;
}
export function pteMkglobal(lo: number): number {
  return lo | _PAGE_GLOBAL;
}
export function pteMkuffdWp(lo: number): number {
  return lo | _PAGE_UFFD_WP;
}
export function pteClearUffdWp(lo: number): number {
  return lo & ~_PAGE_UFFD_WP;
}
export function pteMksoftDirty(lo: number): number {
  return lo | _PAGE_SOFT_DIRTY;
}
export function pteClearSoftDirty(lo: number): number {
  return lo & ~_PAGE_SOFT_DIRTY;
}
/** pmd_mkhuge / pud_mkhuge: set PS. */
export function pteMkhuge(lo: number): number {
  return lo | _PAGE_PSE;
}
/** pte_mkexec, on the `hi` word: clear NX. */
export function pteMkexec(hi: number): number {
  return hi & ~_PAGE_NX_HI;
}
/** pte_exprotect, on the `hi` word: set NX. */
export function pteExprotect(hi: number): number {
  return hi | _PAGE_NX_HI;
}

/**
 * protval_4k_2_large: move the PAT bit from bit 7 (4 KiB PTE) to bit 12 (huge leaf).
 * The caller then sets PS with pteMkhuge.
 */
export function pgprot4kToLarge(flagsLo: number): number {
  const pat = (flagsLo & _PAGE_PAT) !== 0 ? _PAGE_PAT_LARGE : 0;
  return (flagsLo & ~_PAGE_PAT) | pat;
}

/** protval_large_2_4k: move the PAT bit from bit 12 back to bit 7, dropping PS. */
export function pgprotLargeTo4k(flagsLo: number): number {
  const pat = (flagsLo & _PAGE_PAT_LARGE) !== 0 ? _PAGE_PAT : 0;
  return (flagsLo & ~(_PAGE_PAT_LARGE | _PAGE_PSE)) | pat;
}

// --- decoding for tests, traces and error messages (allocates) ----------------------------

/** Paging-structure levels, numbered as the SDM does: 4 = PML4 ... 1 = page table. */
export const LEVEL_PML4 = 4;
export const LEVEL_PDPT = 3;
export const LEVEL_PD = 2;
export const LEVEL_PT = 1;

export interface DecodedPte {
  present: boolean;
  rw: boolean;
  user: boolean;
  pwt: boolean;
  pcd: boolean;
  accessed: boolean;
  dirty: boolean;
  /** PS at levels 2 and 3; always false at level 1 (bit 7 is PAT there). */
  huge: boolean;
  pat: boolean;
  global: boolean;
  special: boolean;
  uffdWp: boolean;
  softDirty: boolean;
  nx: boolean;
  /** Frame of the page (leaf) or of the next table (non-leaf). */
  pfn: number;
}

/** Decode an entry found at `level`. */
export function decodePte(lo: number, hi: number, level: number): DecodedPte {
  const huge = level !== LEVEL_PT && (lo & _PAGE_PSE) !== 0;
  let pfn = ptePfn(lo, hi);
  if (huge) pfn = level === LEVEL_PD ? pmdPfn(lo, hi) : pudPfn(lo, hi);
  return {
    present: (lo & _PAGE_PRESENT) !== 0,
    rw: (lo & _PAGE_RW) !== 0,
    user: (lo & _PAGE_USER) !== 0,
    pwt: (lo & _PAGE_PWT) !== 0,
    pcd: (lo & _PAGE_PCD) !== 0,
    accessed: (lo & _PAGE_ACCESSED) !== 0,
    dirty: (lo & _PAGE_DIRTY) !== 0,
    huge,
    pat: huge ? (lo & _PAGE_PAT_LARGE) !== 0 : level === LEVEL_PT && (lo & _PAGE_PAT) !== 0,
    global: (lo & _PAGE_GLOBAL) !== 0,
    special: (lo & _PAGE_SPECIAL) !== 0,
    uffdWp: (lo & _PAGE_UFFD_WP) !== 0,
    softDirty: (lo & _PAGE_SOFT_DIRTY) !== 0,
    nx: (hi & _PAGE_NX_HI) !== 0,
    pfn,
  };
}

/** "pfn 0x1a3 P RW US A D NX" style text for traces and KernelBug messages. */
export function formatPte(lo: number, hi: number, level: number): string {
  const d = decodePte(lo, hi, level);
  if (!d.present) return lo === 0 && hi === 0 ? 'none' : `not-present lo=0x${(lo >>> 0).toString(16)}`;
  const names: [boolean, string][] = [
    [d.rw, 'RW'], [d.user, 'US'], [d.pwt, 'PWT'], [d.pcd, 'PCD'], [d.accessed, 'A'],
    [d.dirty, 'D'], [d.huge, 'PS'], [d.pat, 'PAT'], [d.global, 'G'], [d.special, 'SPECIAL'],
    [d.uffdWp, 'UFFD_WP'], [d.softDirty, 'SOFT_DIRTY'], [d.nx, 'NX'],
  ];
  return `pfn 0x${d.pfn.toString(16)} P ${names.filter(([on]) => on).map(([, n]) => n).join(' ')}`.trimEnd();
}
