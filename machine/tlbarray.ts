// One set-associative translation cache: an L1 dTLB array, an STLB array, or a
// paging-structure cache. Typed arrays only; lookups and fills allocate nothing.
//
// An entry caches one translation. Its tag is a page number in units of the entry's page
// size (for a paging-structure cache, the linear-address bits above the level it caches,
// e.g. va >> 21 for the PDE cache), split so both parts are small integers (walker.ts):
//   tagA = page number bits 0..29, tagB = (page number bits 30.. << 2) | SIZE_*,
//   tagB = -1 for an invalid entry.
// The set index is tagA's low bits. An entry also holds the PCID, the rights and D/G bits
// (PERM_* of walker.ts) and the frame (the page's first frame, or the next table's frame).
// A global entry matches every PCID.
//
// Replacement: an invalid way first (lowest index); otherwise true LRU by timestamps (the
// CPU's access clock), tree-PLRU, or a seeded xorshift32 random way. Intel does not publish
// its policies; LRU is the default because it makes reach analysable.

import * as walker from './walker.ts';

// Imported values are copied into module-local consts: under vitest (and CommonJS interop)
// every read of an imported binding is a getter call.
const { PERM_G, SIZE_BYTES } = walker;

export const POLICY_LRU = 0;
export const POLICY_PLRU = 1;
export const POLICY_RANDOM = 2;
export type PolicyName = 'lru' | 'plru' | 'random';
export const POLICY_BY_NAME: Record<PolicyName, number> = { lru: POLICY_LRU, plru: POLICY_PLRU, random: POLICY_RANDOM };

/** attr word: PCID in bits 0..11, PERM_* bits from bit 12. */
export const ATTR_PCID_MASK = 0xfff;
export const ATTR_PERM_SHIFT = 12;
const ATTR_GLOBAL = PERM_G << ATTR_PERM_SHIFT;

const INVALID = -1;

/** Receives every valid entry that leaves an array (evicted or invalidated) or changes. */
export interface EvictListener {
  evicted(arr: TlbArray, i: number): void;
}

export class TlbArray {
  readonly name: string;
  readonly entries: number;
  readonly ways: number;
  readonly sets: number;
  private readonly setMask: number;
  /** Page sizes held, as a bitmask of 1 << SIZE_*. */
  readonly sizes: number;
  readonly policy: number;
  /** Index of entry 0 in the owner's combined numbering (the L1 fast cache uses it). */
  readonly base: number;
  readonly tagA: Int32Array;
  readonly tagB: Int32Array;
  readonly attr: Int32Array;
  readonly pfn: Int32Array;
  /** LRU timestamps; for L1 arrays a view into the MMU's combined L1 stamp array. */
  readonly stamp: Int32Array;
  /** Per set, bit w set if way w holds a valid entry (the victim search reads it first). */
  private readonly validMask: Int32Array;
  private readonly fullMask: number;
  /** Valid entries of each page size (SIZE_* index): lookups skip a size this array lacks. */
  readonly live = new Int32Array(3);
  private readonly plruBits: Int32Array;
  private readonly plruLeaves: number;
  private rng: number;
  listener: EvictListener | null = null;

  constructor(name: string, entries: number, ways: number, sizes: number, policy: number,
    seed: number, stamp: Int32Array, base: number) {
    const sets = entries / ways;
    if (!Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0 || ways > 32) {
      throw new RangeError(`${name}: ${entries} entries / ${ways} ways must give a power-of-two number of sets, ways <= 32`);
    }
    if (stamp.length !== entries) throw new RangeError(`${name}: stamp array has the wrong length`);
    this.name = name;
    this.entries = entries;
    this.ways = ways;
    this.sets = sets;
    this.setMask = sets - 1;
    this.sizes = sizes;
    this.policy = policy;
    this.base = base;
    this.tagA = new Int32Array(entries);
    this.tagB = new Int32Array(entries).fill(INVALID);
    this.attr = new Int32Array(entries);
    this.pfn = new Int32Array(entries);
    this.stamp = stamp;
    this.validMask = new Int32Array(sets);
    this.fullMask = ways === 32 ? -1 : (1 << ways) - 1;
    this.plruBits = new Int32Array(sets);
    let leaves = 1;
    while (leaves < ways) leaves *= 2;
    this.plruLeaves = leaves;
    this.rng = (seed | 0) || 0x2545f491;
  }

  /** Entry index holding tag (lo, hi) = (tagA, tagB) for `pcid` or a global entry, or -1. */
  lookup(lo: number, hi: number, pcid: number): number {
    const tagA = this.tagA;
    const tagB = this.tagB;
    const ways = this.ways;
    let i = (lo & this.setMask) * ways;
    const end = i + ways;
    for (; i < end; i++) {
      if (tagA[i] === lo && tagB[i] === hi) {
        const a = this.attr[i];
        if ((a & ATTR_PCID_MASK) === pcid || (a & ATTR_GLOBAL) !== 0) return i;
      }
    }
    return -1;
  }

  /** Mark entry i most recently used at time `clock`. */
  touch(i: number, clock: number): void {
    if (this.policy === POLICY_LRU) this.stamp[i] = clock;
    else if (this.policy === POLICY_PLRU) this.plruTouch(i);
  }

  /**
   * Install tag (lo, hi) -> pfn with `perms` for `pcid` in the victim way of its set and
   * return the entry index. A valid victim is reported to the listener first.
   */
  fill(lo: number, hi: number, pcid: number, pfn: number, perms: number, clock: number): number {
    const set = lo & this.setMask;
    const i = this.policy === POLICY_LRU ? this.victimLru(set) : this.victim(set);
    const old = this.tagB[i];
    if (old !== INVALID) {
      if (this.listener !== null) this.listener.evicted(this, i);
      this.live[old & 3]--;
    }
    this.validMask[set] |= 1 << (i - set * this.ways);
    this.live[hi & 3]++;
    this.tagA[i] = lo;
    this.tagB[i] = hi;
    this.attr[i] = pcid | (perms << ATTR_PERM_SHIFT);
    this.pfn[i] = pfn;
    this.touch(i, clock);
    return i;
  }

  /** The lowest invalid way of `set` (an entry index), or -1 if every way is valid. */
  private firstInvalid(set: number): number {
    const free = ~this.validMask[set] & this.fullMask;
    return free === 0 ? -1 : set * this.ways + 31 - Math.clz32(free & -free);
  }

  /** LRU victim of `set`: the first invalid way, else the oldest stamp. */
  private victimLru(set: number): number {
    const free = this.firstInvalid(set);
    if (free >= 0) return free;
    const stamp = this.stamp;
    const lo = set * this.ways;
    const end = lo + this.ways;
    let v = lo;
    let oldest = 2147483647;
    for (let i = lo; i < end; i++) {
      const t = stamp[i];
      if (t < oldest) {
        oldest = t;
        v = i;
      }
    }
    return v;
  }

  /**
   * Rewrite the PCID, rights and frame of a valid entry in place (the dirty-bit re-walk:
   * the entry becomes the current context's translation, as a fresh fill would). The
   * listener hears of it as of an eviction, since what it derived from the entry is stale.
   */
  update(i: number, pcid: number, pfn: number, perms: number): void {
    if (this.listener !== null) this.listener.evicted(this, i);
    this.attr[i] = pcid | (perms << ATTR_PERM_SHIFT);
    this.pfn[i] = pfn;
  }

  perms(i: number): number {
    return this.attr[i] >>> ATTR_PERM_SHIFT;
  }

  pcidOf(i: number): number {
    return this.attr[i] & ATTR_PCID_MASK;
  }

  /** Page size (SIZE_*) of valid entry i. */
  size(i: number): number {
    return this.tagB[i] & 3;
  }

  /** Page number of valid entry i, in units of its page size (a plain number). */
  vpn(i: number): number {
    return (this.tagB[i] >>> 2) * 2 ** 30 + this.tagA[i];
  }

  valid(i: number): boolean {
    return this.tagB[i] !== INVALID;
  }

  /** Drop entry i. */
  invalidate(i: number): void {
    const old = this.tagB[i];
    if (old === INVALID) return;
    if (this.listener !== null) this.listener.evicted(this, i);
    this.tagB[i] = INVALID;
    this.live[old & 3]--;
    const set = Math.floor(i / this.ways);
    this.validMask[set] &= ~(1 << (i - set * this.ways));
  }

  /**
   * Drop the entries with tag (lo, hi) that match `pcid`, plus global ones when `global`
   * is set. Returns how many went.
   */
  invalidateTag(lo: number, hi: number, pcid: number, global: boolean): number {
    let n = 0;
    let i = (lo & this.setMask) * this.ways;
    const end = i + this.ways;
    for (; i < end; i++) {
      if (this.tagA[i] !== lo || this.tagB[i] !== hi) continue;
      const a = this.attr[i];
      if ((a & ATTR_GLOBAL) !== 0 ? global : (a & ATTR_PCID_MASK) === pcid) {
        this.invalidate(i);
        n++;
      }
    }
    return n;
  }

  /**
   * Drop every entry that matches: `pcid` < 0 means any PCID; global entries go only when
   * `global` is set. Returns how many went.
   */
  invalidateWhere(pcid: number, global: boolean): number {
    let n = 0;
    for (let i = 0; i < this.entries; i++) {
      if (this.tagB[i] === INVALID) continue;
      const a = this.attr[i];
      if ((a & ATTR_GLOBAL) !== 0 ? !global : pcid >= 0 && (a & ATTR_PCID_MASK) !== pcid) continue;
      this.invalidate(i);
      n++;
    }
    return n;
  }

  /**
   * Drop the non-global entries of `pcid` whose page contains a step start + k * stride
   * below `end` (INVPCID type 0 at every step). Returns how many went.
   */
  invalidateSteps(pcid: number, start: number, end: number, stride: number): number {
    let n = 0;
    for (let i = 0; i < this.entries; i++) {
      if (this.tagB[i] === INVALID) continue;
      const a = this.attr[i];
      if ((a & ATTR_GLOBAL) !== 0 || (a & ATTR_PCID_MASK) !== pcid) continue;
      const bytes = SIZE_BYTES[this.size(i)];
      const lo = this.vpn(i) * bytes;
      const from = Math.max(lo, start);
      const step = start + Math.ceil((from - start) / stride) * stride;
      if (step < Math.min(lo + bytes, end)) {
        this.invalidate(i);
        n++;
      }
    }
    return n;
  }

  /** Valid entries (for tests and reports). */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.entries; i++) if (this.tagB[i] !== INVALID) n++;
    return n;
  }

  /**
   * Renumber LRU stamps as ranks 0..ways-1 within each set, keeping their order (used when
   * the CPU's access clock folds; see mmu.ts). Invalid ways rank lowest; ties keep the
   * lower way first, as victim() does.
   */
  rankStamps(): void {
    if (this.policy !== POLICY_LRU) return;
    const ranks = new Int32Array(this.ways);
    for (let lo = 0; lo < this.entries; lo += this.ways) {
      for (let a = 0; a < this.ways; a++) {
        let r = 0;
        for (let b = 0; b < this.ways; b++) if (this.olderThan(lo + b, lo + a)) r++;
        ranks[a] = r;
      }
      for (let a = 0; a < this.ways; a++) this.stamp[lo + a] = ranks[a];
    }
  }

  private olderThan(x: number, y: number): boolean {
    const kx = this.tagB[x] === INVALID ? -Infinity : this.stamp[x];
    const ky = this.tagB[y] === INVALID ? -Infinity : this.stamp[y];
    return kx < ky || (kx === ky && x < y);
  }

  /** PLRU and random victims: the first invalid way, else the policy's choice. */
  private victim(set: number): number {
    const free = this.firstInvalid(set);
    if (free >= 0) return free;
    const lo = set * this.ways;
    if (this.policy === POLICY_PLRU) return lo + this.plruVictim(set);
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return lo + (x >>> 0) % this.ways;
  }

  /*
   * Tree-PLRU over the next power of two >= ways. Node n (root 1) has children 2n and 2n+1;
   * its bit says which side to evict next (0 left, 1 right). A side holding no real way is
   * never chosen. Touching a way points every bit on its path away from it.
   */
  private plruVictim(set: number): number {
    const bits = this.plruBits[set];
    let n = 1;
    while (n < this.plruLeaves) {
      let child = 2 * n + ((bits >>> n) & 1);
      if (!this.plruHasWay(child)) child ^= 1;
      n = child;
    }
    return n - this.plruLeaves;
  }

  private plruHasWay(node: number): boolean {
    let n = node;
    while (n < this.plruLeaves) n *= 2;
    return n - this.plruLeaves < this.ways;
  }

  private plruTouch(i: number): void {
    const set = Math.floor(i / this.ways);
    let bits = this.plruBits[set];
    let n = (i - set * this.ways) + this.plruLeaves;
    while (n > 1) {
      const parent = n >>> 1;
      if ((n & 1) === 0) bits |= 1 << parent;
      else bits &= ~(1 << parent);
      n = parent;
    }
    this.plruBits[set] = bits;
  }
}
