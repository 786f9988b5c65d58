// i_mmap: the VMAs that map a page cache, as an interval tree keyed by the page-offset range
// each covers (Linux's vma_interval_tree). A treap ordered by (first page offset, insertion
// number), each node augmented with the largest last offset beneath it, so a query for the
// VMAs overlapping [first, last] costs O(log n + k). Iteration is in page-offset order.
//
// A VMA's range must not change while it is in the tree: callers take it out, change its
// bounds, and put it back (vma_interval_tree_remove / insert around __vma_adjust).

import type { Vma } from './mm_types.ts';
import { KernelBug } from '../bug.ts';

interface Node {
  readonly vma: Vma;
  readonly lo: number;
  readonly hi: number;
  readonly seq: number;
  readonly prio: number;
  max: number;
  left: Node | null;
  right: Node | null;
}

/** A deterministic pseudo-random priority (a hash of the insertion number). */
function priority(seq: number): number {
  let x = Math.imul(seq ^ 0x9e3779b9, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function less(a: Node, lo: number, seq: number): boolean {
  return a.lo < lo || (a.lo === lo && a.seq < seq);
}

function fix(n: Node): void {
  n.max = Math.max(n.hi, n.left?.max ?? -Infinity, n.right?.max ?? -Infinity);
}

function rotateRight(n: Node): Node {
  const l = n.left!;
  n.left = l.right;
  l.right = n;
  fix(n);
  fix(l);
  return l;
}

function rotateLeft(n: Node): Node {
  const r = n.right!;
  n.right = r.left;
  r.left = n;
  fix(n);
  fix(r);
  return r;
}

function insert(t: Node | null, n: Node): Node {
  if (t === null) return n;
  if (less(n, t.lo, t.seq)) {
    t.left = insert(t.left, n);
    if (t.left.prio > t.prio) return rotateRight(t);
  } else {
    t.right = insert(t.right, n);
    if (t.right.prio > t.prio) return rotateLeft(t);
  }
  fix(t);
  return t;
}

function remove(t: Node | null, n: Node): Node | null {
  if (t === null) throw new KernelBug('itree: removing a VMA that is not in the tree');
  if (t === n) {
    if (t.left === null) return t.right;
    if (t.right === null) return t.left;
    const top = t.left.prio > t.right.prio ? rotateRight(t) : rotateLeft(t);
    if (top.left === t) top.left = remove(t, n);
    else top.right = remove(t, n);
    fix(top);
    return top;
  }
  if (less(n, t.lo, t.seq)) t.left = remove(t.left, n);
  else t.right = remove(t.right, n);
  fix(t);
  return t;
}

export class VmaIntervalTree implements Iterable<Vma> {
  private root: Node | null = null;
  private readonly nodes = new Map<Vma, Node>();
  /** Insertions so far: the tie-break of equal offsets, and the seed of each priority. */
  private seq = 0;

  get size(): number {
    return this.nodes.size;
  }

  has(vma: Vma): boolean {
    return this.nodes.has(vma);
  }

  /** Insert vma with its current range [pgoff, pgoff + pages - 1]. */
  add(vma: Vma): void {
    if (this.nodes.has(vma)) return;
    const seq = ++this.seq;
    const lo = vma.pgoff;
    const hi = vma.pgoff + (vma.end - vma.start) / 4096 - 1;
    const n: Node = { vma, lo, hi, seq, prio: priority(seq), max: hi, left: null, right: null };
    this.nodes.set(vma, n);
    this.root = insert(this.root, n);
  }

  delete(vma: Vma): boolean {
    const n = this.nodes.get(vma);
    if (n === undefined) return false;
    this.root = remove(this.root, n);
    this.nodes.delete(vma);
    return true;
  }

  /** The VMAs whose range overlaps pages [first, last], in page-offset order. */
  *overlapping(first: number, last: number): Generator<Vma> {
    const stack: Node[] = [];
    let n = this.root;
    while (n !== null || stack.length > 0) {
      while (n !== null && n.max >= first) {
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop();
      if (top === undefined) return;
      if (top.lo > last) return;
      if (top.hi >= first) yield top.vma;
      n = top.right;
    }
  }

  [Symbol.iterator](): Iterator<Vma> {
    return this.overlapping(-Infinity, Infinity);
  }

  /** Check the ordering and the augmentation (tests). */
  validate(): void {
    let count = 0;
    const rec = (t: Node | null, lo: number, hi: number): number => {
      if (t === null) return -Infinity;
      count++;
      if (t.lo < lo || t.lo > hi) throw new KernelBug('itree: order violated');
      if (t.vma.pgoff !== t.lo || t.vma.pgoff + (t.vma.end - t.vma.start) / 4096 - 1 !== t.hi) throw new KernelBug('itree: a VMA changed its range inside the tree');
      const m = Math.max(t.hi, rec(t.left, lo, t.lo), rec(t.right, t.lo, hi));
      if (m !== t.max) throw new KernelBug('itree: stale max');
      return m;
    };
    rec(this.root, -Infinity, Infinity);
    if (count !== this.nodes.size) throw new KernelBug('itree: node count');
  }
}
