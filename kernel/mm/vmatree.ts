// The VMA index: a B+-tree of VMAs ordered by address, in the spirit of the maple tree
// (lib/maple_tree.c): O(log n) find, next/prev, insert, remove and bounds changes, and a
// top-down search for a free gap in O(log n) using, in every node, the largest gap between
// consecutive VMAs below it (maple tree nodes keep the same per-slot gap information for
// get_unmapped_area).
//
// Leaves hold up to NODE_MAX VMAs and are linked in address order for range scans. Inner
// nodes hold up to NODE_MAX children. Every node caches its first start, last end, the
// number of VMAs and the largest gap strictly between two of its VMAs. VMA bounds change
// only through setBounds, which keeps the caches right.

import type { Vma } from './mm_types.ts';
import { KernelBug } from '../bug.ts';

const NODE_MAX = 32;

class Node {
  leaf: boolean;
  vmas: Vma[] = [];
  kids: Node[] = [];
  parent: Node | null = null;
  prev: Node | null = null;
  next: Node | null = null;
  first = 0;
  last = 0;
  gap = 0;
  size = 0;

  constructor(leaf: boolean) {
    this.leaf = leaf;
  }

  /** Recompute the caches from the entries. */
  pull(): void {
    if (this.leaf) {
      const v = this.vmas;
      this.size = v.length;
      if (v.length === 0) return;
      this.first = v[0].start;
      this.last = v[v.length - 1].end;
      let gap = 0;
      for (let i = 1; i < v.length; i++) gap = Math.max(gap, v[i].start - v[i - 1].end);
      this.gap = gap;
      return;
    }
    const k = this.kids;
    let size = 0;
    let gap = 0;
    for (let i = 0; i < k.length; i++) {
      size += k[i].size;
      gap = Math.max(gap, k[i].gap);
      if (i > 0) gap = Math.max(gap, k[i].first - k[i - 1].last);
    }
    this.size = size;
    this.first = k[0].first;
    this.last = k[k.length - 1].last;
    this.gap = gap;
  }
}

export class VmaTree {
  private root = new Node(true);
  /** VMAs inserted, removed or resized since the tree was made (modeled time's "VMAs touched"). */
  changes = 0;

  get count(): number {
    return this.root.size;
  }

  /** The leaf whose range should hold a VMA starting at addr. */
  private leafFor(addr: number): Node {
    let n = this.root;
    while (!n.leaf) {
      const k = n.kids;
      let lo = 0;
      let hi = k.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (k[mid].first <= addr) lo = mid;
        else hi = mid - 1;
      }
      n = k[lo];
    }
    return n;
  }

  /** The leaf holding the first VMA that ends above addr, or null. */
  private leafAbove(addr: number): Node | null {
    let n = this.root;
    if (n.size === 0 || n.last <= addr) return null;
    while (!n.leaf) {
      const k = n.kids;
      let lo = 0;
      let hi = k.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (k[mid].last > addr) hi = mid;
        else lo = mid + 1;
      }
      n = k[lo];
    }
    return n;
  }

  /** The VMA containing addr, or null. */
  find(addr: number): Vma | null {
    const v = this.findNext(addr);
    return v !== null && v.start <= addr ? v : null;
  }

  /** The first VMA ending above addr (find_vma), or null. */
  findNext(addr: number): Vma | null {
    const leaf = this.leafAbove(addr);
    if (leaf === null) return null;
    const v = leaf.vmas;
    let lo = 0;
    let hi = v.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid].end > addr) hi = mid;
      else lo = mid + 1;
    }
    return v[lo];
  }

  /** The last VMA ending at or below addr (the VMA before a range starting at addr), or null. */
  prevOf(addr: number): Vma | null {
    let n: Node | null = this.root;
    if (n.size === 0 || n.first >= addr) return null;
    while (!n.leaf) {
      const k: Node[] = n.kids;
      let i = k.length - 1;
      while (i > 0 && k[i].first >= addr) i--;
      n = k[i];
    }
    for (let leaf: Node | null = n; leaf !== null; leaf = leaf.prev) {
      for (let i = leaf.vmas.length - 1; i >= 0; i--) if (leaf.vmas[i].end <= addr) return leaf.vmas[i];
    }
    return null;
  }

  /** VMAs intersecting [start, end), in order. */
  intersecting(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    const first = this.findNext(start);
    if (first === null || first.start >= end) return out;
    for (let leaf: Node | null = this.leafFor(first.start); leaf !== null; leaf = leaf.next) {
      for (const v of leaf.vmas) {
        if (v.end <= start) continue;
        if (v.start >= end) return out;
        out.push(v);
      }
    }
    return out;
  }

  /** Every VMA in order. */
  all(): Vma[] {
    const out: Vma[] = [];
    let n = this.root;
    while (!n.leaf) n = n.kids[0];
    for (let leaf: Node | null = n; leaf !== null; leaf = leaf.next) out.push(...leaf.vmas);
    return out;
  }

  insert(v: Vma): void {
    this.changes++;
    const prev = this.findNext(v.start);
    if (prev !== null && prev.start < v.end) throw new KernelBug(`VmaTree: [0x${v.start.toString(16)}, 0x${v.end.toString(16)}) overlaps an existing VMA`);
    const leaf = this.leafFor(v.start);
    const a = leaf.vmas;
    let i = a.length;
    while (i > 0 && a[i - 1].start > v.start) i--;
    a.splice(i, 0, v);
    this.fixUp(leaf);
    if (a.length > NODE_MAX) this.split(leaf);
  }

  remove(v: Vma): void {
    this.changes++;
    const leaf = this.leafFor(v.start);
    const i = leaf.vmas.indexOf(v);
    if (i < 0) throw new KernelBug('VmaTree: removing a VMA that is not in the tree');
    leaf.vmas.splice(i, 1);
    if (leaf.vmas.length === 0 && leaf !== this.root) this.unlink(leaf);
    else this.fixUp(leaf);
  }

  /**
   * Change a VMA's bounds in place. It keeps its place in the order: the new range must lie
   * between its neighbours (splits, merges and mremap in place do).
   */
  setBounds(v: Vma, start: number, end: number): void {
    this.changes++;
    const leaf = this.leafFor(v.start);
    if (!leaf.vmas.includes(v)) throw new KernelBug('VmaTree: setBounds on a VMA that is not in the tree');
    v.start = start;
    v.end = end;
    this.fixUp(leaf);
  }

  /**
   * Highest `len`-byte gap inside [low, high) (top-down get_unmapped_area). Returns its
   * start, or -1.
   */
  gapTopDown(len: number, low: number, high: number): number {
    const g = this.gapRangeTopDown(len, low, high);
    return g === null ? -1 : g[1] - len;
  }

  /**
   * The highest free range [a, b) inside [low, high), clipped to it, that holds `len`
   * bytes; null if none.
   */
  gapRangeTopDown(len: number, low: number, high: number): [number, number] | null {
    let found: [number, number] | null = null;
    const fit = (a: number, b: number): number => {
      const lo = Math.max(a, low);
      const hi = Math.min(b, high);
      if (hi - lo < len) return -1;
      found = [lo, hi];
      return hi - len;
    };
    const r = this.root;
    if (r.size === 0) fit(-Infinity, Infinity);
    else if (fit(r.last, Infinity) < 0 && this.searchGap(r, len, fit) < 0) fit(-Infinity, r.first);
    return found;
  }

  /** Highest fitting gap strictly between two VMAs of subtree n, or -1. */
  private searchGap(n: Node, len: number, fit: (a: number, b: number) => number): number {
    if (n.gap < len) return -1;
    if (n.leaf) {
      const v = n.vmas;
      for (let i = v.length - 1; i > 0; i--) {
        const at = fit(v[i - 1].end, v[i].start);
        if (at >= 0) return at;
      }
      return -1;
    }
    const k = n.kids;
    for (let i = k.length - 1; i >= 0; i--) {
      const at = this.searchGap(k[i], len, fit);
      if (at >= 0) return at;
      if (i > 0) {
        const between = fit(k[i - 1].last, k[i].first);
        if (between >= 0) return between;
      }
    }
    return -1;
  }

  /** Check the tree's structure and caches (tests); throws on the first inconsistency. */
  validate(): void {
    const inOrder: Vma[] = [];
    const walk = (n: Node, parent: Node | null): void => {
      if (n.parent !== parent) throw new KernelBug('VmaTree: bad parent pointer');
      if (n.leaf) inOrder.push(...n.vmas);
      else {
        if (n.kids.length === 0) throw new KernelBug('VmaTree: empty inner node');
        for (const c of n.kids) walk(c, n);
      }
      const size = n.size;
      const first = n.first;
      const last = n.last;
      const gap = n.gap;
      n.pull();
      if (n.size !== size || (size > 0 && (n.first !== first || n.last !== last || n.gap !== gap))) {
        throw new KernelBug(`VmaTree: stale cache (size ${size}/${n.size} first ${first}/${n.first} last ${last}/${n.last} gap ${gap}/${n.gap})`);
      }
    };
    walk(this.root, null);
    const listed = this.all();
    if (listed.length !== inOrder.length || listed.some((v, i) => v !== inOrder[i])) throw new KernelBug('VmaTree: leaf list differs from the tree order');
    for (let i = 1; i < inOrder.length; i++) if (inOrder[i - 1].end > inOrder[i].start) throw new KernelBug('VmaTree: VMAs out of order or overlapping');
  }

  private fixUp(n: Node | null): void {
    for (let x = n; x !== null; x = x.parent) x.pull();
  }

  private split(n: Node): void {
    const right = new Node(n.leaf);
    const half = n.leaf ? n.vmas.length >>> 1 : n.kids.length >>> 1;
    if (n.leaf) {
      right.vmas = n.vmas.splice(half);
      right.next = n.next;
      if (n.next !== null) n.next.prev = right;
      right.prev = n;
      n.next = right;
    } else {
      right.kids = n.kids.splice(half);
      for (const c of right.kids) c.parent = right;
    }
    let parent = n.parent;
    if (parent === null) {
      parent = new Node(false);
      parent.kids = [n];
      n.parent = parent;
      this.root = parent;
    }
    parent.kids.splice(parent.kids.indexOf(n) + 1, 0, right);
    right.parent = parent;
    n.pull();
    right.pull();
    this.fixUp(parent);
    if (parent.kids.length > NODE_MAX) this.split(parent);
  }

  /** Remove an empty node from its parent (and the leaf list), shrinking the tree. */
  private unlink(n: Node): void {
    if (n.leaf) {
      if (n.prev !== null) n.prev.next = n.next;
      if (n.next !== null) n.next.prev = n.prev;
    }
    const parent = n.parent!;
    parent.kids.splice(parent.kids.indexOf(n), 1);
    if (parent.kids.length === 0 && parent !== this.root) {
      this.unlink(parent);
      return;
    }
    if (parent.kids.length === 0) {
      this.root = new Node(true);
      return;
    }
    this.fixUp(parent);
    // Collapse a root with a single child.
    while (!this.root.leaf && this.root.kids.length === 1) {
      this.root = this.root.kids[0];
      this.root.parent = null;
    }
  }
}
