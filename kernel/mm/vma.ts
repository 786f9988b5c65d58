// The VMA layer (mm/vma.c): merging, splitting, linking and releasing VMAs of an mm, and
// changing a range's flags (vma_modify). It depends on nothing above it: page tables,
// faults and the backings are reached only through a VMA's operations (mm_types.ts), so
// test/kernel/mm/vma.test.ts drives it alone, as tools/testing/vma drives Linux's.
//
//   linkVma      a VMA inserted into mm's tree joins its file's i_mmap (vma_link)
//   splitVma     [start, end) becomes [start, addr) and a new [addr, end) (__split_vma)
//   vmaMerge     a VMA absorbs the neighbours it can (vma_merge_existing_range)
//   modifyFlags  [from, to) of a VMA gets new flags: split, set, merge (vma_modify_flags)
//   modifyName   the same for its anonymous name (vma_modify_name)
//   releaseVma   a VMA out of the tree for good drops what it holds (remove_vma)
//
// Bounds change only through setVmaBounds, which keeps the tree and i_mmap keyed right.

import { anonVmaClone, mergeableAnonVma, unlinkAnonVmas } from './anon_vma.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { Vma, VM_IGNORE_MERGE, VM_SPECIAL, VM_STICKY } from './mm_types.ts';

const PAGE = 4096;

/**
 * Two VMAs that touch can become one (is_mergeable_vma, is_mergeable_anon_vma): the same
 * flags but the sticky ones (soft-dirty, maybe-guard), the same backing and file,
 * contiguous page offsets, the same seal, droppability and name (anon_vma_name_eq),
 * compatible anon_vmas; never VM_SPECIAL ones (hugetlb, mshare).
 */
export function canMerge(a: Vma, b: Vma): boolean {
  if (a.end !== b.start || ((a.flags ^ b.flags) & ~VM_IGNORE_MERGE) !== 0 || (a.flags & VM_SPECIAL) !== 0) return false;
  if (a.ops !== b.ops || a.file !== b.file || a.mapping !== b.mapping || a.privateData !== b.privateData) return false;
  if (a.sealed !== b.sealed || a.droppable !== b.droppable || a.anonName !== b.anonName || !mergeableAnonVma(a, b)) return false;
  return a.pgoff + (a.end - a.start) / PAGE === b.pgoff;
}

/** Give a VMA just inserted into mm's tree its mm, and enter it in its file's i_mmap. */
export function linkVma(mm: Mm, vma: Vma): void {
  vma.mm = mm;
  vma.mapping?.mappers.add(vma);
}

/**
 * Change a VMA's bounds in mm's tree and, for a file VMA, in its file's i_mmap (out and
 * back in, since its page-offset range is the interval tree's key).
 */
export function setVmaBounds(mm: Mm, vma: Vma, start: number, end: number): void {
  const m = vma.mapping !== null && vma.mapping.mappers.delete(vma) ? vma.mapping : null;
  mm.vmas.setBounds(vma, start, end);
  m?.mappers.add(vma);
}

/**
 * remove_vma: a VMA taken out of mm's tree for good leaves its file's i_mmap and its
 * anon_vmas and lets its backing go (vm_ops->close; the last user frees it).
 */
export function releaseVma(k: Kmm, vma: Vma): void {
  unlinkAnonVmas(k, vma);
  vma.mapping?.mappers.delete(vma);
  vma.ops.close?.(k, vma);
}

/** A VMA absorbed by its neighbour: out of the tree, its anon_vma passed on, released. */
function absorb(mm: Mm, into: Vma, gone: Vma): void {
  mm.vmas.remove(gone);
  gone.mapping?.mappers.delete(gone);
  setVmaBounds(mm, into, Math.min(into.start, gone.start), Math.max(into.end, gone.end));
  into.flags |= gone.flags & VM_STICKY;
  anonVmaClone(into, gone); // dup_anon_vma: the survivor takes over the pages' anon_vma
  releaseVma(mm.k, gone);
}

/** Merge vma with its neighbours where possible; returns the surviving VMA. */
export function vmaMerge(mm: Mm, vma: Vma): Vma {
  let v = vma;
  const prev = mm.vmas.prevOf(v.start);
  if (prev !== null && canMerge(prev, v)) {
    absorb(mm, prev, v);
    v = prev;
  }
  const next = mm.vmas.findNext(v.end);
  if (next !== null && next !== v && canMerge(v, next)) absorb(mm, v, next);
  return v;
}

/**
 * The error a split of vma at addr would meet (vm_ops->may_split): 0, or -errno. A split
 * at a page boundary inside the VMA is the only kind callers ask for.
 */
export function splitError(vma: Vma, addr: number): number {
  return vma.ops.maySplit?.(vma, addr) ?? 0;
}

/**
 * The error any split that an operation on [start, end) makes would meet: the VMAs that
 * the range cuts, at start and at end, are asked. Callers check this before changing
 * anything, so that a refused split leaves every VMA as it was.
 */
export function rangeSplitError(mm: Mm, start: number, end: number): number {
  const first = mm.vmas.find(start);
  if (first !== null && first.start < start) {
    const r = splitError(first, start);
    if (r < 0) return r;
  }
  const last = end > start ? mm.vmas.find(end - 1) : null;
  if (last !== null && last.end > end) return splitError(last, end);
  return 0;
}

/**
 * __split_vma at addr (strictly inside vma, and allowed: see splitError): vma keeps
 * [start, addr), a new VMA with the same backing takes [addr, end) and is returned. The
 * backing first makes its page tables fit the boundary (a THP across it is split).
 */
export function splitVma(mm: Mm, vma: Vma, addr: number): Vma {
  vma.ops.split?.(mm.k, vma, addr);
  const upper = new Vma(addr, vma.end, vma.flags, vma.pgoff + (addr - vma.start) / PAGE, vma.ops, vma.mapping, vma.file);
  upper.privateData = vma.privateData;
  upper.sealed = vma.sealed;
  upper.droppable = vma.droppable;
  upper.anonName = vma.anonName;
  anonVmaClone(upper, vma);
  vma.ops.open?.(upper);
  setVmaBounds(mm, vma, vma.start, addr);
  mm.vmas.insert(upper);
  linkVma(mm, upper);
  return upper;
}

/**
 * vma_modify: give [from, to) of v what `set` gives it, splitting v where the range ends
 * inside it and merging with neighbours that then match. Returns the VMA that holds
 * [from, to) afterwards, or null if a split would pass vm.max_map_count (ENOMEM).
 */
function vmaModify(mm: Mm, v: Vma, from: number, to: number, set: (t: Vma) => void): Vma | null {
  let t = v;
  if (t.start < from) {
    if (mm.vmas.count >= mm.k.vm.maxMapCount) return null; // a split at the limit fails
    t = splitVma(mm, t, from);
  }
  if (t.end > to) {
    if (mm.vmas.count >= mm.k.vm.maxMapCount) return null;
    splitVma(mm, t, to);
  }
  set(t);
  return vmaMerge(mm, t);
}

/** vma_modify_flags: [from, to) of v gets the flags fn(v.flags) (v itself if unchanged). */
export function modifyFlags(mm: Mm, v: Vma, from: number, to: number, fn: (flags: number) => number): Vma | null {
  const flags = fn(v.flags);
  if (flags === v.flags) return v;
  return vmaModify(mm, v, from, to, (t) => { t.flags = flags; });
}

/** vma_modify_name: [from, to) of v gets the anonymous name `name` (v itself if it has it). */
export function modifyName(mm: Mm, v: Vma, from: number, to: number, name: string | null): Vma | null {
  if (v.anonName === name) return v;
  return vmaModify(mm, v, from, to, (t) => { t.anonName = name; });
}
