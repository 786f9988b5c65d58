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
// A subtree that would hold one entry is not built: the entry sits in the inner slot as a
// lone entry (a negative slot, ~e, naming record e of `entIdx` and `entVal`: its index and
// value), so a sparse file costs about a record per page, not a chain of nodes; a second
// entry under that slot pushes it down into a new node.
//
// Freed nodes go on a free list (chained through their slot 0), freed records on another
// (through entIdx); the arrays grow by half when none is free, are compacted when three
// quarters are free, and are dropped when the tree empties. The root keeps as few levels as its highest index needs
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
  /** Lone entries' records: index and value; free ones chained through entIdx. */
  private entIdx = NO_F64;
  private entVal: Int32Array | Float64Array;
  private entFree = NONE;
  private entUsed = 0;
  private ents = 0;

  /** An empty tree; `wide` stores float64 values (else int32). */
  constructor(wide = false) {
    this.wide = wide;
    this.slots = wide ? NO_F64 : NO_I32;
    this.entVal = wide ? NO_F64 : NO_I32;
    this.present = NO_U16;
  }

  /** Bytes the tree's arrays hold (what the page cache costs in kernel memory). */
  get byteLength(): number {
    return this.slots.byteLength + this.present.byteLength + this.entIdx.byteLength + this.entVal.byteLength;
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
      if (v < 0) return this.entIdx[~v] === idx ? this.entVal[~v] : NONE;
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
      // As few levels as idx needs.
      this.height = 1;
      this.limit = SLOTS;
      while (idx >= this.limit) {
        this.height++;
        this.limit *= SLOTS;
      }
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
        const e = this.allocEntry(idx, value); // may replace the arrays
        this.slots[n * SLOTS + d] = ~e;
        this.present[n] |= 1 << d;
        this.size++;
        return;
      }
      const v = this.slots[n * SLOTS + d];
      if (v >= 0) {
        n = v;
        continue;
      }
      if (this.entIdx[~v] === idx) {
        this.entVal[~v] = value;
        return;
      }
      n = this.pushDown(n, d, ~v, shift - SHIFT);
    }
    const bit = 1 << digit(idx, 0);
    if ((this.present[n] & bit) === 0) {
      this.present[n] |= bit;
      this.size++;
    }
    this.slots[n * SLOTS + digit(idx, 0)] = value;
  }

  /**
   * Lone entry e in slot d of node n makes room for another: a new node (at `shift`) takes
   * its place and holds it, as a value in a leaf or still lone above. The new node.
   */
  private pushDown(n: number, d: number, e: number, shift: number): number {
    const c = this.allocNode(); // may replace the arrays
    const od = digit(this.entIdx[e], shift);
    if (shift === 0) {
      this.slots[c * SLOTS + od] = this.entVal[e];
      this.freeEntry(e);
    } else {
      this.slots[c * SLOTS + od] = ~e;
    }
    this.present[c] = 1 << od;
    this.slots[n * SLOTS + d] = c;
    return c;
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
    while (this.height > 1 && this.present[this.root] === 1 && this.slots[this.root * SLOTS] >= 0) {
      const r = this.root;
      this.root = this.slots[r * SLOTS];
      this.freeNode(r);
      this.height--;
      this.limit /= SLOTS;
    }
    if ((this.used > MIN_NODES && this.nodes * 4 <= this.present.length) || (this.entUsed > MIN_NODES && this.ents * 4 <= this.entIdx.length)) this.compact();
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
    const c = this.slots[n * SLOTS + d];
    if (shift > 0 && c < 0) {
      if (this.entIdx[~c] !== idx) return false;
      this.erased = this.entVal[~c];
      this.freeEntry(~c);
    } else if (shift > 0) {
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
      const v = this.slots[n * SLOTS + d];
      if (v < 0) {
        if (this.entIdx[~v] >= idx) return this.entIdx[~v];
      } else {
        const r = this.nextIn(v, idx, shift - SHIFT, base + d * span);
        if (r !== NONE) return r;
      }
    }
    const rest = mask >>> (d + 1);
    if (rest === 0) return NONE;
    const e = d + 1 + lowBit(rest);
    const v = this.slots[n * SLOTS + e];
    return v < 0 ? this.entIdx[~v] : this.first(v, shift - SHIFT, base + e * span);
  }

  /** The smallest index under node n, which covers indices from base. */
  private first(n: number, shift: number, base: number): number {
    for (;; shift -= SHIFT) {
      const d = lowBit(this.present[n]);
      base += d * 2 ** shift;
      if (shift === 0) return base;
      n = this.slots[n * SLOTS + d];
      if (n < 0) return this.entIdx[~n];
    }
  }

  private each(n: number, shift: number, base: number, fn: (idx: number, value: number) => void): void {
    for (let m = this.present[n]; m !== 0; m &= m - 1) {
      const d = lowBit(m);
      const v = this.slots[n * SLOTS + d];
      if (shift === 0) fn(base + d, v);
      else if (v < 0) fn(this.entIdx[~v], this.entVal[~v]);
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

  /** A record for a lone entry (the record arrays grow by half when none is free). */
  private allocEntry(idx: number, value: number): number {
    let e = this.entFree;
    if (e !== NONE) {
      this.entFree = this.entIdx[e];
    } else {
      if (this.entUsed === this.entIdx.length) this.resizeEntries(Math.max(MIN_NODES, Math.ceil(this.entUsed * 1.5)));
      e = this.entUsed++;
    }
    this.entIdx[e] = idx;
    this.entVal[e] = value;
    this.ents++;
    return e;
  }

  private freeEntry(e: number): void {
    this.entIdx[e] = this.entFree;
    this.entFree = e;
    this.ents--;
  }

  private resizeEntries(cap: number): void {
    const idx = new Float64Array(cap);
    idx.set(this.entIdx.subarray(0, this.entUsed));
    const val = this.wide ? new Float64Array(cap) : new Int32Array(cap);
    val.set(this.entVal.subarray(0, this.entUsed));
    this.entIdx = idx;
    this.entVal = val;
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
    const entCap = Math.max(MIN_NODES, Math.ceil(this.ents * 1.5));
    const entIdx = new Float64Array(entCap);
    const entVal = this.wide ? new Float64Array(entCap) : new Int32Array(entCap);
    let used = 0;
    let ents = 0;
    const copy = (n: number, shift: number): number => {
      const to = used++;
      present[to] = this.present[n];
      for (let m = this.present[n]; m !== 0; m &= m - 1) {
        const d = lowBit(m);
        const v = this.slots[n * SLOTS + d];
        if (shift === 0) {
          slots[to * SLOTS + d] = v;
        } else if (v < 0) {
          entIdx[ents] = this.entIdx[~v];
          entVal[ents] = this.entVal[~v];
          slots[to * SLOTS + d] = ~ents++;
        } else {
          slots[to * SLOTS + d] = copy(v, shift - SHIFT);
        }
      }
      return to;
    };
    this.root = copy(this.root, (this.height - 1) * SHIFT);
    this.slots = slots;
    this.present = present;
    this.used = used;
    this.freeHead = NONE;
    this.entIdx = entIdx;
    this.entVal = entVal;
    this.entUsed = ents;
    this.entFree = NONE;
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
    this.entIdx = NO_F64;
    this.entVal = this.wide ? NO_F64 : NO_I32;
    this.entFree = NONE;
    this.entUsed = 0;
    this.ents = 0;
  }
}
