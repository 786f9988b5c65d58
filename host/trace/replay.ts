// Replay a trace through the TLB model alone (machine/tlb.ts): no kernel, no guest, no
// page tables. Each stream (one CPU worker's life) gets a fresh TLB, as each live CPU did.
//
// Walks: the trace holds the outcome of every walk the live run made, right after the
// access that made it. A replayed access that walks where the live one did takes that
// outcome, so with the recorded configuration the replay makes the same decisions and
// counts the same counters. Under another configuration an access may walk where the live
// run hit: it takes the latest outcome the stream recorded for a page holding it. That is
// what the page tables said (a kernel that changes a translation flushes it, and the next
// live access to it walks), except for accessed bits cleared without a flush (reclaim's
// aging), which this replay does not see: README.md, "Replay".
//
// Hits: a direct-mapped fast cache of L1-resident translations per 4 KiB page, as the live
// MMU keeps (mmu.ts), and one per 2 MiB region for huge pages, so that replaying an L1 hit
// costs a compare and a clock tick; an L1 miss goes through the same Tlb.translate() the
// live MMU's slow path calls.
//
// Speed (README.md, "Traces"): the loop decodes each inflated chunk itself, an access
// record at a time, and passes pages as two small integers, so that it allocates nothing
// per record.

import * as machine from '../../machine/index.ts';
import type { CounterValues, TlbArray, TlbConfig } from '../../machine/index.ts';
import { inflateChunk } from './file.ts';
import { RECORD_FIELDS } from './reader.ts';

// Imported values are copied into module-local consts: under vitest and tsx every read of an
// imported binding is a getter call, and the replay loop reads these per access.
const {
  ACCESS_RUN, accessOf, C_IPIS, C_LOAD_FAULTS, C_SPLIT_ACCESSES, CLOCK_BASE, ControlBlock,
  CPU_COUNTERS_F64, cpuF64Base, cpuI32Base, FOLD_AT, foldClock, HOT_CLOCK, HOT_STORES, latenciesOf, PERM_D, PERM_U, PERM_W,
  PhysMem, readCpuCounters, SIZE_2M, SIZE_4K, T_ACCESS, T_CR3, T_CR4, T_GP, T_INVLPG, T_INVPCID, T_IPI, T_SPLIT, T_WALK, Tlb,
  Walker, writeLatencies,
} = machine;
const SLOTS = 512;
/** Slots of the 2 MiB fast cache (by 2 MiB region): 64 regions, twice the L1 2 MiB arrays' 32 entries. */
const HUGE_SLOTS = 64;
const EMPTY = -1;

/** What a walk of a page no walk of the stream translated yields: a writable, dirty 4 KiB user page. */
const UNKNOWN = 1 + 0 * 2 + (PERM_W | PERM_U | PERM_D) * 16;

/** A Walker that answers from the trace: the recorded outcome, else what the stream knows. */
class ReplayWalker extends Walker {
  /** The outcome recorded after the access being replayed, -1 if none. */
  pending = -1;
  /** Record number of the access being replayed. */
  now = 0;
  /** Latest outcome (packed) and when (record number) per 4 KiB page, 2 MiB and 1 GiB region. */
  private readonly known = new Map<number, number>();
  private readonly when = new Map<number, number>();

  learn(page: number, packed: number, t: number): void {
    const size = packed % 2 === 1 ? Math.floor(packed / 2) & 7 : 0;
    const key = size === 0 ? page * 4 : size === 1 ? Math.floor(page / 512) * 4 + 1 : Math.floor(page / 2 ** 18) * 4 + 2;
    this.known.set(key, packed);
    this.when.set(key, t);
  }

  private recall(page: number): number {
    let best = UNKNOWN;
    let at = -1;
    for (const key of [page * 4, Math.floor(page / 512) * 4 + 1, Math.floor(page / 2 ** 18) * 4 + 2]) {
      const t = this.when.get(key);
      if (t !== undefined && t > at) {
        at = t;
        best = this.known.get(key) as number;
      }
    }
    return best;
  }

  override walk(a: number, b: number, access: number, level: number, _tablePfn: number, _perms: number): boolean {
    const recorded = this.pending >= 0;
    let packed = recorded ? this.pending : this.recall(b * 2 ** 30 + a);
    this.pending = -1;
    const ok = packed % 2 === 1;
    const x = Math.floor(packed / 2) & 7;
    let y = Math.floor(packed / 16) & 31;
    const c = this.counters;
    if (recorded) {
      c[this.aSetsSlot] += Math.floor(packed / 512) & 7;
      c[this.dSetsSlot] += Math.floor(packed / 4096) & 1;
      c[this.retriesSlot] += Math.floor(packed / 8192);
    } else if (ok && (access & 2) !== 0 && (y & PERM_D) === 0 && (y & PERM_W) !== 0) {
      // The walk sets D, as the live one would have.
      c[this.dSetsSlot] += 1;
      y |= PERM_D;
      packed = packed - (Math.floor(packed / 16) & 31) * 16 + y * 16;
      this.learn(b * 2 ** 30 + a, packed, this.now);
    }
    const end = Math.min(level, ok ? x + 1 : x);
    for (let l = level; l >= end; l--) c[this.refsBase + 4 - l] += 1;
    this.tablesFrom = end < level ? end + 1 : 5;
    for (let l = this.tablesFrom; l <= level; l++) {
      this.tables[l] = 0;
      this.tablePerms[l] = PERM_W | PERM_U;
    }
    if (ok) {
      this.size = x;
      this.perms = y;
      this.pfn = 0;
      this.basePfn = 0;
    } else {
      this.errorCode = y;
      this.faultLevel = x;
    }
    return ok;
  }
}

/** Options of a replay beyond the TLB configuration. */
export interface ReplayOptions {
  /** CR4.PCIDE from the start: each process's CR3 loads tag its own PCID and flush only its first time. */
  pcid?: boolean;
  /**
   * The configuration is the recorded one: every walk finds its recorded outcome, so the
   * replay need not keep what each page's last walk said.
   */
  recorded?: boolean;
}

/** Replays streams one at a time on a fresh TLB each; counters() after each stream. */
export class StreamReplayer {
  readonly tlb: machine.Tlb;
  private readonly cb: machine.ControlBlock;
  private readonly ctr: Float64Array;
  private readonly base: number;
  private readonly hot: Int32Array;
  private readonly walker: ReplayWalker;
  /** Fast cache: per slot (page & (SLOTS - 1)) the page (tagA-style low 30 bits, EMPTY: none; and the bits above). */
  private readonly fA = new Int32Array(SLOTS).fill(EMPTY);
  private readonly fB = new Int32Array(SLOTS);
  private readonly fWrite = new Uint8Array(SLOTS);
  private readonly fEnt = new Int32Array(SLOTS);
  /**
   * 2 MiB fast cache: per slot ((a >>> 9) & (HUGE_SLOTS - 1)) a 2 MiB region as (a >>> 9, b)
   * whose L1 entry hEnt translates it (EMPTY: none), and whether that entry takes stores.
   * Random loads over huge pages land on a new 4 KiB page each, which the 4 KiB fast cache
   * has not seen; this one saves them translate()'s lookups. translate() prefers a 4 KiB
   * entry of the page, so a hit here also asks the 4 KiB L1 array (l1For4k) for one.
   */
  private readonly hA = new Int32Array(HUGE_SLOTS).fill(EMPTY);
  private readonly hB = new Int32Array(HUGE_SLOTS);
  private readonly hWrite = new Uint8Array(HUGE_SLOTS);
  private readonly hEnt = new Int32Array(HUGE_SLOTS);
  private readonly l1For4k: TlbArray | null;
  private readonly stamp: Int32Array;
  private readonly lru: boolean;
  private readonly pcid: boolean;
  private readonly pcidsSeen = new Set<number>();
  private readonly learning: boolean;
  private t = 0;
  private pid = 0;
  /**
   * Decoder state between chunks: [0] the last access record's page (the next one's is a
   * delta from it). A typed array, not a field: a page number above 2^30 turns a field from
   * small integer to double, which changes the object's map and throws away the optimized
   * code of every method that reads a field of it.
   */
  private readonly lastPage = new Float64Array(1);
  /** The access record not yet replayed (page as (a, b), kind code, attempts; count 0: none). */
  private heldA = 0;
  private heldB = 0;
  private heldKind = 0;
  private heldCount = 0;
  /** Position after the varint varintFrom read last. */
  private at = 0;
  /** Fields a..d of the event record being replayed. */
  private readonly fields = new Float64Array(4);

  constructor(config: TlbConfig, pge: boolean, pcide: boolean, options: ReplayOptions = {}) {
    this.cb = ControlBlock.create(1);
    writeLatencies(this.cb, latenciesOf(config.geometry));
    this.ctr = this.cb.f64;
    this.base = cpuF64Base(0) + CPU_COUNTERS_F64;
    this.hot = this.cb.i32.subarray(cpuI32Base(0) + HOT_CLOCK, cpuI32Base(0) + HOT_STORES + 1);
    this.hot[0] = CLOCK_BASE;
    this.tlb = new Tlb(config, PhysMem.create(4096), this.cb, this.ctr, this.base, this.hot, this, ReplayWalker);
    this.walker = this.tlb.walker as ReplayWalker;
    this.pcid = options.pcid === true;
    this.learning = options.recorded !== true || this.pcid;
    this.tlb.pcide = pcide || this.pcid;
    this.tlb.pge = pge;
    this.stamp = this.tlb.l1Stamp;
    this.lru = this.tlb.l1Lru;
    // The array translate() looks a 4 KiB page up in (tlb.ts: the first L1 array holding 4 KiB pages).
    this.l1For4k = this.tlb.l1.find((arr) => (arr.sizes & (1 << SIZE_4K)) !== 0) ?? null;
  }

  /** Replay one stream (its chunks); returns its counters, as readCpuCounters gives a live CPU's. */
  run(chunks: readonly Uint8Array[], pid: number, onChunk?: () => void): CounterValues {
    this.pid = pid;
    this.lastPage[0] = 0;
    this.heldCount = 0;
    for (const c of chunks) {
      const bytes = inflateChunk(c);
      onChunk?.();
      this.replayChunk(bytes);
    }
    if (this.heldCount > 0) this.accesses(this.heldA, this.heldB, this.heldKind, this.heldCount, -1);
    this.heldCount = 0;
    return readCpuCounters(this.cb, 0);
  }

  /**
   * Decode and replay one inflated chunk (a chunk ends on a record boundary; an access
   * record at its end waits in the held* fields for the next chunk's first record). An
   * access record is replayed when the record after it is known: a walk there is the
   * outcome of the access's last attempt. The decoding is reader.ts's StreamDecoder's,
   * inlined: no per-record property writes or calls but the replay's. Pages go to calls as
   * (a, b) = (bits 0..29, bits 30..), small integers: a page number above 2^31 passed to
   * a call V8 does not inline would be boxed, an allocation per access.
   */
  private replayChunk(buf: Uint8Array): void {
    const n = buf.length;
    let pos = 0;
    let page = this.lastPage[0];
    let hA = this.heldA;
    let hB = this.heldB;
    let hKind = this.heldKind;
    let hCount = this.heldCount;
    while (pos < n) {
      const tag = buf[pos++];
      const type = tag & 15;
      if (type === T_WALK && hCount > 0) {
        let w = buf[pos++];
        if (w >= 128) {
          w = this.varintFrom(buf, pos, w & 127, 128);
          pos = this.at;
        }
        if (hCount === 1) this.translate(hA, hB, hKind, w);
        else this.accesses(hA, hB, hKind, hCount, w);
        hCount = 0;
        if (this.learning) this.walker.learn(hB * 2 ** 30 + hA, w, this.t);
        continue;
      }
      if (hCount === 1) this.single(hA, hB, hKind);
      else if (hCount > 1) this.accesses(hA, hB, hKind, hCount, -1);
      hCount = 0;
      if (type === T_ACCESS) {
        // The delta's varint: one or two bytes inline (most deltas), more out of line.
        let z = buf[pos++];
        if (z >= 128) {
          const z1 = buf[pos++];
          z = (z & 127) | ((z1 & 127) << 7);
          if (z1 >= 128) {
            z = this.varintFrom(buf, pos, z, 2 ** 14);
            pos = this.at;
          }
        }
        // Zigzag: branch-free below 2^32 (the sign of a delta is as random as the loads),
        // with no % (a modulus of a number V8 cannot prove int32 is a call to fmod).
        if (z < 4294967296) {
          page += (z >>> 1) ^ -(z & 1);
        } else {
          const h = Math.floor(z / 2);
          page += h * 2 === z ? h : -h - 1;
        }
        hA = page & 0x3fffffff;
        hB = Math.floor(page / 2 ** 30);
        hKind = (tag >>> 4) & 7;
        hCount = 1;
        if ((tag & (ACCESS_RUN << 4)) !== 0) {
          let r = buf[pos++];
          if (r >= 128) {
            r = this.varintFrom(buf, pos, r & 127, 128);
            pos = this.at;
          }
          hCount = r + 2;
        }
      } else {
        pos = this.eventAt(buf, pos, tag);
      }
    }
    this.lastPage[0] = page;
    this.heldA = hA;
    this.heldB = hB;
    this.heldKind = hKind;
    this.heldCount = hCount;
  }

  /**
   * The rest of a varint from `pos`, its bytes before worth `v`, the next one's unit `scale`;
   * this.at goes past it.
   */
  private varintFrom(buf: Uint8Array, pos: number, v0: number, scale0: number): number {
    let v = v0;
    let scale = scale0;
    let p = pos;
    let b: number;
    do {
      b = buf[p++];
      v += (b & 127) * scale;
      scale *= 128;
    } while (b >= 128);
    this.at = p;
    return v;
  }

  /** Decode the fields of the event record whose tag preceded `pos`, replay it; returns the position after it. */
  private eventAt(buf: Uint8Array, pos: number, tag: number): number {
    const type = tag & 15;
    const nf = RECORD_FIELDS[type];
    if (type === T_ACCESS || nf === undefined) throw new Error(`trace: unknown record type ${type}`);
    const f = this.fields;
    this.at = pos;
    for (let i = 0; i < nf; i++) {
      const b = buf[this.at++];
      f[i] = b < 128 ? b : this.varintFrom(buf, this.at, b & 127, 128);
    }
    this.event(type, tag >>> 4, f[0], f[1], f[2], f[3]);
    return this.at;
  }

  /** One attempt of page (a, b) (no walk followed it): the fast cache's hit inline, else accesses(). */
  private single(a: number, b: number, kind: number): void {
    const s = a & (SLOTS - 1);
    const write = (kind & 1) !== 0;
    const g = this.fA[s] === a && this.fB[s] === b && (!write || this.fWrite[s] === 1) ? this.fEnt[s] : this.hugeEntry(a, b, kind);
    if (g >= 0) {
      const c = this.tick(write);
      if (this.lru) this.stamp[g] = c;
      else this.tlb.l1Owner[g].touch(g - this.tlb.l1Owner[g].base, c);
      return;
    }
    this.translate(a, b, kind, -1);
  }

  private tick(write: boolean): number {
    const hot = this.hot;
    if (write) hot[1] = (hot[1] + 1) | 0;
    const c = (hot[0] + 1) | 0;
    hot[0] = c;
    return c >= FOLD_AT ? this.fold() : c;
  }

  private fold(): number {
    return foldClock(this.tlb, this.ctr, this.base, this.hot);
  }

  /** `count` attempts of page (a, b); the last is followed by walk outcome `walk` (-1: none). */
  private accesses(a: number, b: number, kind: number, count: number, walk: number): void {
    const access = accessOf(kind);
    const write = (access & 2) !== 0;
    const s = a & (SLOTS - 1);
    const tlb = this.tlb;
    for (let i = 0; i < count; i++) {
      const g = walk >= 0 && i === count - 1 ? -1
        : this.fA[s] === a && this.fB[s] === b && (!write || this.fWrite[s] === 1) ? this.fEnt[s] : this.hugeEntry(a, b, kind);
      if (g >= 0) {
        // The rest of the run hits the same L1 entry: its ticks at once, the entry stamped
        // with the last (unless the clock would fold meanwhile).
        const k = (walk < 0 ? count : count - 1) - i;
        const hot = this.hot;
        let c: number;
        if (k > 1 && hot[0] + k < FOLD_AT) {
          c = hot[0] + k;
          hot[0] = c;
          if (write) hot[1] = (hot[1] + k) | 0;
          i += k - 1;
        } else {
          c = this.tick(write);
        }
        if (this.lru) this.stamp[g] = c;
        else tlb.l1Owner[g].touch(g - tlb.l1Owner[g].base, c);
        continue;
      }
      this.translate(a, b, kind, i === count - 1 ? walk : -1);
    }
  }

  /** One attempt of page (a, b) through the TLB model; `walk`: the outcome recorded after it (-1: none). */
  private translate(a: number, b: number, kind: number, walk: number): void {
    const access = accessOf(kind);
    const tlb = this.tlb;
    this.tick((access & 2) !== 0);
    this.walker.now = ++this.t;
    this.walker.pending = walk;
    const pfn = tlb.translate(a, b, access);
    this.walker.pending = -1;
    if (pfn >= 0 && tlb.l1Entry >= 0 && (access & 4) !== 0 && (tlb.perms & PERM_U) !== 0) {
      const s = a & (SLOTS - 1);
      this.fA[s] = a;
      this.fB[s] = b;
      this.fWrite[s] = (tlb.perms & (PERM_W | PERM_D)) === (PERM_W | PERM_D) ? 1 : 0;
      this.fEnt[s] = tlb.l1Entry;
      this.noteHuge(a, b, kind);
    }
  }

  /** Replay an event record: its type, parameter and fields (reader.ts, TraceRecord). */
  private event(type: number, param: number, a: number, b: number, c: number, d: number): void {
    const tlb = this.tlb;
    switch (type) {
      case T_CR3: {
        this.fA.fill(EMPTY);
        this.hA.fill(EMPTY);
        if (!this.pcid) return tlb.loadCr3(a, b, param === 1);
        const p = (b === 0 ? this.pid : b) & 0xfff;
        const first = !this.pcidsSeen.has(p);
        this.pcidsSeen.add(p);
        return tlb.loadCr3(a, p, !first);
      }
      case T_CR4:
        this.fA.fill(EMPTY);
        this.hA.fill(EMPTY);
        return tlb.setCr4((param & 1) !== 0 || this.pcid, (param & 2) !== 0);
      case T_INVLPG:
        return tlb.invlpg(a * 4096);
      case T_INVPCID:
        if (param === 0) return tlb.invpcidAddr(a, b * 4096);
        if (param === 1) return tlb.invpcidSingle(a);
        return param === 2 ? tlb.invpcidAll() : tlb.invpcidNonGlobal();
      case T_IPI:
        tlb.applyFlush(param, a, b, c, d);
        this.ctr[this.base + C_IPIS] += 1;
        return;
      case T_SPLIT:
        this.ctr[this.base + C_SPLIT_ACCESSES] += 1;
        return;
      case T_GP: {
        const write = (accessOf(param) & 2) !== 0;
        this.tick(write);
        this.ctr[this.base + C_LOAD_FAULTS + (write ? 1 : 0)] += 1;
        return;
      }
    }
  }

  /** EvictListener: an L1 entry left; drop the fast-cache slots that mirror it. */
  evicted(arr: TlbArray, i: number): void {
    const g = arr.base + i;
    if (arr.size(i) === SIZE_4K) {
      const s = arr.tagA[i] & (SLOTS - 1);
      if (this.fEnt[s] === g) this.fA[s] = EMPTY;
      return;
    }
    if (arr.size(i) === SIZE_2M) {
      // A 2 MiB entry's tagA is the region number's low bits: (a >>> 9) | (b << 21).
      const h = arr.tagA[i] & (HUGE_SLOTS - 1);
      if (this.hEnt[h] === g) this.hA[h] = EMPTY;
    }
    for (let s = 0; s < SLOTS; s++) if (this.fEnt[s] === g) this.fA[s] = EMPTY;
  }

  /**
   * The L1 entry (global index) the 2 MiB fast cache holds for page (a, b) and an access
   * of `kind` (user loads and stores only), if translate() would hit it: no 4 KiB L1 entry
   * holds the page (translate() looks there first). -1 if none.
   */
  private hugeEntry(a: number, b: number, kind: number): number {
    const r = a >>> 9;
    const h = r & (HUGE_SLOTS - 1);
    if (this.hA[h] !== r || this.hB[h] !== b || (kind & 6) !== 0 || ((kind & 1) !== 0 && this.hWrite[h] !== 1)) return -1;
    const l1 = this.l1For4k;
    if (l1 !== null && l1.live[SIZE_4K] !== 0 && l1.lookup(a, b << 2, this.tlb.pcid) >= 0) return -1;
    return this.hEnt[h];
  }

  /** After translate() of (a, b) filled the 4 KiB fast cache: a 2 MiB L1 entry also goes in the 2 MiB one. */
  private noteHuge(a: number, b: number, kind: number): void {
    const g = this.tlb.l1Entry;
    const arr = this.tlb.l1Owner[g];
    if ((kind & 6) !== 0 || arr.size(g - arr.base) !== SIZE_2M) return;
    const h = (a >>> 9) & (HUGE_SLOTS - 1);
    this.hA[h] = a >>> 9;
    this.hB[h] = b;
    this.hEnt[h] = g;
    this.hWrite[h] = this.fWrite[a & (SLOTS - 1)];
  }
}
