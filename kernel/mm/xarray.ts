// A radix tree of non-negative numbers by index (Linux's xarray, lib/xarray.c, as the page
// cache's i_pages uses it): what a file's page cache keeps per page index (a frame, a swap
// slot, a shadow entry) without a JS object or Map entry per page.
//
// Nodes of 16 slots live in two typed arrays of one tree: `slots` (16 numbers per node: child
// node numbers in an inner node, values in a leaf) and `present` (a 16-bit mask per node of
// the slots in use). The root covers indices [0, 16^height); a digit of the index picks the
// slot at each level, most significant first:
//
//   index 0x1234, height 4:  root --1--> node --2--> node --3--> leaf, slot 4 = value
//
// Freed nodes go on a free list (chained through their slot 0); the arrays grow by half when
// no node is free, are compacted to fewer nodes when three quarters of them are free, and are
// dropped when the tree empties. The root keeps as few levels as its highest index needs
// (xas_shrink). Indices are plain numbers up to 2^52, so digits above bit 31 are taken by
// division, never by 32-bit shifts.
//
// Values are non-negative: Int32 values by default, or float64 (`wide`) for values that
// may pass 2^31 (workingset shadow entries). -1 means "no entry" in every result.

import { KernelBug } from '../bug.ts';

const SHIFT = 4;
const SLOTS = 16;
const MASK = 15;
const NONE = -1;
/** Nodes the arrays start with. */
const MIN_NODES = 4;
/** The arrays of an empty tree (of length 0: nothing can change them). */
const NO_I32 = new Int32Array(0);
const NO_F64 = new Float64Array(0);
const NO_U16 = new Uint16Array(0);

/** Digit of idx at `shift` bits (idx up to 2^52). */
function digit(idx: number, shift: number): number {
  return shift < 32 && idx < 4294967296 ? (idx >>> shift) & MASK : Math.floor(idx / 2 ** shift) & MASK;
}

/** The lowest set bit's number of a non-zero mask. */
function lowBit(m: number): number {
  return 31 - Math.clz32(m & -m);
}

/** A compact ordered map from indices (integers in [0, 2^52)) to non-negative numbers. */
export class XArray {
  /** Entries stored. */
  size = 0;
  private readonly wide: boolean;
  private slots: Int32Array | Float64Array;
  private present: Uint16Array;
  private root = NONE;
  private height = 0;
  /** 16^height: the first index the root does not cover. */
  private limit = 0;
  private freeHead = NONE;
  /** Nodes handed out (live or on the free list): node numbers below it have been used. */
  private used = 0;
  /** Live nodes. */
  private nodes = 0;
  /** The value erase found (set by eraseIn). */
  private erased = NONE;

  /** An empty tree; `wide` stores float64 values (else int32). */
  constructor(wide = false) {
    this.wide = wide;
    this.slots = wide ? NO_F64 : NO_I32;
    this.present = NO_U16;
  }

  /** Bytes the tree's arrays hold (what the page cache costs in kernel memory). */
  get byteLength(): number {
    return this.slots.byteLength + this.present.byteLength;
  }

  /** The value at idx, or -1. */
  load(idx: number): number {
    if (idx >= this.limit || idx < 0) return NONE;
    const slots = this.slots;
    const present = this.present;
    let n = this.root;
    for (let shift = (this.height - 1) * SHIFT; ; shift -= SHIFT) {
      const d = digit(idx, shift);
      if ((present[n] & (1 << d)) === 0) return NONE;
      const v = slots[n * SLOTS + d];
      if (shift === 0) return v;
      n = v;
    }
  }

  /** Whether idx has an entry. */
  has(idx: number): boolean {
    return this.load(idx) !== NONE;
  }

  /** Set the value at idx (value >= 0; an int32 unless the tree is wide). */
  store(idx: number, value: number): void {
    if (!(value >= 0) || (!this.wide && value > 0x7fffffff)) throw new KernelBug(`XArray.store: value ${value} out of range`);
    if (!(idx >= 0 && idx < 2 ** 52) || idx !== Math.floor(idx)) throw new KernelBug(`XArray.store: index ${idx} out of range`);
    if (this.root === NONE) {
      this.height = 1;
      this.limit = SLOTS;
      this.root = this.allocNode();
    }
    while (idx >= this.limit) {
      // A new root above: the old one covers its slot 0.
      const r = this.allocNode();
      this.slots[r * SLOTS] = this.root;
      this.present[r] = 1;
      this.root = r;
      this.height++;
      this.limit *= SLOTS;
    }
    let n = this.root;
    for (let shift = (this.height - 1) * SHIFT; shift > 0; shift -= SHIFT) {
      const d = digit(idx, shift);
      if ((this.present[n] & (1 << d)) === 0) {
        const c = this.allocNode(); // may replace the arrays
        this.slots[n * SLOTS + d] = c;
        this.present[n] |= 1 << d;
        n = c;
      } else {
        n = this.slots[n * SLOTS + d];
      }
    }
    const bit = 1 << digit(idx, 0);
    if ((this.present[n] & bit) === 0) {
      this.present[n] |= bit;
      this.size++;
    }
    this.slots[n * SLOTS + digit(idx, 0)] = value;
  }

  /** Remove the entry at idx: its value, or -1 if there was none. */
  erase(idx: number): number {
    if (idx >= this.limit || idx < 0) return NONE;
    this.erased = NONE;
    if (this.eraseIn(this.root, idx, (this.height - 1) * SHIFT)) {
      this.freeNode(this.root);
      this.root = NONE;
      this.height = 0;
      this.limit = 0;
    }
    const old = this.erased;
    if (old === NONE) return NONE;
    this.size--;
    if (this.size === 0) {
      this.release();
      return old;
    }
    // xas_shrink: a root with only slot 0 in use is one level too many.
    while (this.height > 1 && this.present[this.root] === 1) {
      const r = this.root;
      this.root = this.slots[r * SLOTS];
      this.freeNode(r);
      this.height--;
      this.limit /= SLOTS;
    }
    if (this.used > MIN_NODES && this.nodes * 4 <= this.present.length) this.compact();
    return old;
  }

  /** The smallest index >= idx that has an entry, or -1. */
  next(idx: number): number {
    if (idx < 0) idx = 0;
    if (idx >= this.limit) return NONE;
    return this.nextIn(this.root, idx, (this.height - 1) * SHIFT, 0);
  }

  /** Every entry in index order; fn must not change the tree. */
  forEach(fn: (idx: number, value: number) => void): void {
    if (this.root !== NONE) this.each(this.root, (this.height - 1) * SHIFT, 0, fn);
  }

  /** Remove every entry. */
  clear(): void {
    this.size = 0;
    this.release();
  }

  /** Remove `n`'s entry for idx (below it); true if n has no slot left (the caller frees it). */
  private eraseIn(n: number, idx: number, shift: number): boolean {
    const d = digit(idx, shift);
    const bit = 1 << d;
    if ((this.present[n] & bit) === 0) return false;
    if (shift > 0) {
      const c = this.slots[n * SLOTS + d];
      if (!this.eraseIn(c, idx, shift - SHIFT)) return false;
      this.freeNode(c);
    } else {
      this.erased = this.slots[n * SLOTS + d];
    }
    this.present[n] &= ~bit;
    return this.present[n] === 0;
  }

  /** The smallest index >= idx under node n (which covers [base, base + 16^(shift/4 + 1))), or -1. */
  private nextIn(n: number, idx: number, shift: number, base: number): number {
    const d = digit(idx, shift);
    const mask = this.present[n];
    if (shift === 0) {
      const m = mask >>> d;
      return m === 0 ? NONE : base + d + lowBit(m);
    }
    const span = 2 ** shift;
    if ((mask & (1 << d)) !== 0) {
      const r = this.nextIn(this.slots[n * SLOTS + d], idx, shift - SHIFT, base + d * span);
      if (r !== NONE) return r;
    }
    const rest = mask >>> (d + 1);
    if (rest === 0) return NONE;
    const e = d + 1 + lowBit(rest);
    return this.first(this.slots[n * SLOTS + e], shift - SHIFT, base + e * span);
  }

  /** The smallest index under node n, which covers indices from base. */
  private first(n: number, shift: number, base: number): number {
    for (;; shift -= SHIFT) {
      const d = lowBit(this.present[n]);
      base += d * 2 ** shift;
      if (shift === 0) return base;
      n = this.slots[n * SLOTS + d];
    }
  }

  private each(n: number, shift: number, base: number, fn: (idx: number, value: number) => void): void {
    for (let m = this.present[n]; m !== 0; m &= m - 1) {
      const d = lowBit(m);
      const v = this.slots[n * SLOTS + d];
      if (shift === 0) fn(base + d, v);
      else this.each(v, shift - SHIFT, base + d * 2 ** shift, fn);
    }
  }

  /** A node with no slot in use (the arrays grow by half when none is free). */
  private allocNode(): number {
    let n = this.freeHead;
    if (n !== NONE) {
      this.freeHead = this.slots[n * SLOTS];
    } else {
      if (this.used === this.present.length) this.resize(Math.max(MIN_NODES, Math.ceil(this.used * 1.5)));
      n = this.used++;
    }
    this.present[n] = 0;
    this.nodes++;
    return n;
  }

  private freeNode(n: number): void {
    this.present[n] = 0;
    this.slots[n * SLOTS] = this.freeHead;
    this.freeHead = n;
    this.nodes--;
  }

  /** New arrays of `cap` nodes holding the first `used` nodes of the old ones. */
  private resize(cap: number): void {
    const slots = this.wide ? new Float64Array(cap * SLOTS) : new Int32Array(cap * SLOTS);
    slots.set(this.slots.subarray(0, this.used * SLOTS));
    const present = new Uint16Array(cap);
    present.set(this.present.subarray(0, this.used));
    this.slots = slots;
    this.present = present;
  }

  /** Copy the live nodes, renumbered from 0, into arrays half again their number. */
  private compact(): void {
    const cap = Math.max(MIN_NODES, Math.ceil(this.nodes * 1.5));
    const slots = this.wide ? new Float64Array(cap * SLOTS) : new Int32Array(cap * SLOTS);
    const present = new Uint16Array(cap);
    let used = 0;
    const copy = (n: number, shift: number): number => {
      const to = used++;
      present[to] = this.present[n];
      for (let m = this.present[n]; m !== 0; m &= m - 1) {
        const d = lowBit(m);
        const v = this.slots[n * SLOTS + d];
        slots[to * SLOTS + d] = shift === 0 ? v : copy(v, shift - SHIFT);
      }
      return to;
    };
    this.root = copy(this.root, (this.height - 1) * SHIFT);
    this.slots = slots;
    this.present = present;
    this.used = used;
    this.freeHead = NONE;
  }

  /** Drop the arrays (the tree is empty). */
  private release(): void {
    this.slots = this.wide ? NO_F64 : NO_I32;
    this.present = NO_U16;
    this.root = NONE;
    this.height = 0;
    this.limit = 0;
    this.freeHead = NONE;
    this.used = 0;
    this.nodes = 0;
  }
}
