// Anonymous reverse mapping (the anon_vma half of mm/rmap.c): every anonymous page
// records the anon_vma of the VMA it was first faulted into and its page index there
// (PageAllocator.rmapOwner/rmapIndex); the anon_vma knows every VMA that may map its pages.
//
// A VMA has one anon_vma for the pages it creates (vma.anonVma) and a chain of every
// anon_vma whose pages it may map (vma.anonVmaChain, the anon_vma_chain list; the VMA's
// own comes first). Fork links a child VMA into every anon_vma of its parent's chain and
// gives it one of its own (anon_vma_fork, reusing an idle one as Linux does), so a page
// leads, through its anon_vma, to the VMAs of every process that may still share it.
//
// Lifetime: an anon_vma lives while some VMA's chain holds it (the kernel thread is the
// only user, so there is no refcount beyond that): unlinkAnonVmas drops it with the last.
// numActiveVmas counts the VMAs whose own it is, numChildren the anon_vmas made by forks
// below it (and itself, for a root): the reuse rule reads both.

import type { Kmm } from './kmm.ts';
import type { AddressSpace } from './filemap.ts';
import { VM_ACCESS_FLAGS, VM_IGNORE_MERGE, type Vma } from './mm_types.ts';

export class AnonVma {
  /** The id anonymous frames store as their rmap owner. */
  readonly id: number;
  /** The root of its fork tree, and the anon_vma it was forked from (itself for a root). */
  readonly root: AnonVma;
  readonly parent: AnonVma;
  /** The VMAs whose chains hold it (its interval tree of anon_vma_chains, as a set). */
  readonly vmas = new Set<Vma>();
  /** VMAs whose own anon_vma it is (num_active_vmas), and anon_vmas forked from it (num_children). */
  numActiveVmas = 0;
  numChildren = 0;

  constructor(id: number, parent: AnonVma | null) {
    this.id = id;
    this.root = parent?.root ?? this;
    this.parent = parent ?? this;
    this.parent.numChildren++; // a root is its own parent
  }
}

/** What reverse maps start from: anon_vmas by id, and page caches by inode number. */
export class RmapRoots {
  readonly anonVmas = new Map<number, AnonVma>();
  /** Page caches with pages, by inode number (registered by filemap.ts's cachePage). */
  readonly mappings = new Map<number, AddressSpace>();
  private lastAnonVmaId = 0;

  /** A new anon_vma (anon_vma_alloc), a root or forked from `parent`, registered under a fresh id. */
  newAnonVma(parent: AnonVma | null = null): AnonVma {
    const av = new AnonVma(++this.lastAnonVmaId, parent);
    this.anonVmas.set(av.id, av);
    return av;
  }
}

/** Link vma into av (anon_vma_chain_link). */
function link(vma: Vma, av: AnonVma): void {
  vma.anonVmaChain.push(av);
  av.vmas.add(vma);
}

/**
 * reusable_anon_vma: a neighbour's anon_vma can serve vma if the two are adjacent, both
 * anonymous in the same way, with flags equal but for the access bits and page offsets
 * that continue (anon_vma_compatible), and the neighbour shares it with no parent.
 */
function reusable(a: Vma, b: Vma, old: Vma): boolean {
  return a.end === b.start && a.file === b.file
    && ((a.flags ^ b.flags) & ~(VM_ACCESS_FLAGS | VM_IGNORE_MERGE)) === 0
    && b.pgoff === a.pgoff + (b.start - a.start) / 4096
    && old.anonVma !== null && old.anonVmaChain.length === 1;
}

/**
 * anon_vma_prepare: give vma an anon_vma before its first anonymous page, reusing a
 * neighbour's where find_mergeable_anon_vma would (the next VMA first, then the previous),
 * so that the two can still merge.
 */
export function anonVmaPrepare(k: Kmm, vma: Vma, prev: Vma | null, next: Vma | null): void {
  if (vma.anonVma !== null) return;
  let av: AnonVma;
  if (next !== null && reusable(vma, next, next)) av = next.anonVma!;
  else if (prev !== null && reusable(prev, vma, prev)) av = prev.anonVma!;
  else av = k.rmap.newAnonVma();
  setOwn(vma, av);
  link(vma, av);
}

/** vma's own anon_vma becomes av (counted in num_active_vmas). */
function setOwn(vma: Vma, av: AnonVma): void {
  vma.anonVma = av;
  av.numActiveVmas++;
}

/**
 * anon_vma_clone: dst (a part split off src, or its copy for mremap) may map every page
 * src may, so it joins every anon_vma of src's chain and takes src's own.
 */
export function anonVmaClone(dst: Vma, src: Vma): void {
  if (dst.anonVma !== null || src.anonVma === null) return;
  for (const av of src.anonVmaChain) link(dst, av);
  setOwn(dst, src.anonVma);
}

/**
 * anon_vma_fork: the child's copy `dst` of parent VMA `src` joins every anon_vma of src's
 * chain (so rmap finds the pages they still share) and gets its own for the pages it will
 * create: an anon_vma of the chain that no VMA owns and at most one fork descends from
 * (maybe_reuse_anon_vma), else a new one forked from src's. Nothing if src has none.
 */
export function anonVmaFork(k: Kmm, dst: Vma, src: Vma): void {
  if (src.anonVma === null) return;
  let own: AnonVma | null = null;
  // Oldest first, as Linux walks the chain in reverse.
  for (let i = src.anonVmaChain.length - 1; i >= 0; i--) {
    const av = src.anonVmaChain[i];
    if (own === null && av.numActiveVmas === 0 && av.numChildren < 2) own = av;
  }
  for (const av of src.anonVmaChain) link(dst, av);
  if (own === null) {
    own = k.rmap.newAnonVma(src.anonVma);
    link(dst, own);
  }
  setOwn(dst, own);
  // The VMA's own anon_vma heads its chain (validateMm checks it).
  const chain = dst.anonVmaChain;
  chain.splice(chain.indexOf(own), 1);
  chain.unshift(own);
}

/** unlink_anon_vmas: vma leaves every anon_vma of its chain; an anon_vma left empty goes. */
export function unlinkAnonVmas(k: Kmm, vma: Vma): void {
  for (const av of vma.anonVmaChain) {
    av.vmas.delete(vma);
    if (av.vmas.size !== 0) continue;
    k.rmap.anonVmas.delete(av.id);
    if (av.parent !== av) av.parent.numChildren--;
  }
  if (vma.anonVma !== null) vma.anonVma.numActiveVmas--;
  vma.anonVmaChain.length = 0;
  vma.anonVma = null;
}

/**
 * is_mergeable_anon_vma: two VMAs that are to become one must have the same anon_vma, or
 * one of them none while the other shares its own with no parent (so that nothing a fork
 * shared is lost from a chain).
 */
export function mergeableAnonVma(a: Vma, b: Vma): boolean {
  if (a.anonVma === null) return b.anonVma === null || b.anonVmaChain.length === 1;
  if (b.anonVma === null) return a.anonVmaChain.length === 1;
  return a.anonVma === b.anonVma;
}

/**
 * folio_add_new_anon_rmap for the frame of a new anonymous page of vma at va: its owner is
 * vma's anon_vma and its index the page's linear index (low 32 bits).
 */
export function anonPageRmap(k: Kmm, pfn: number, vma: Vma, va: number): void {
  k.pages.rmapOwner[pfn] = vma.anonVma!.id;
  k.pages.rmapIndex[pfn] = (vma.pgoff + (va - vma.start) / 4096) | 0;
}

/**
 * folio_move_anon_rmap: a page reused by a write fault after fork now belongs to the
 * faulting VMA's own anon_vma, so rmap no longer searches the parent or siblings for it.
 */
export function folioMoveAnonRmap(k: Kmm, pfn: number, vma: Vma): void {
  k.pages.rmapOwner[pfn] = vma.anonVma!.id;
}
