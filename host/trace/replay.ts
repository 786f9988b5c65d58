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
// Hits: a direct-mapped fast cache of L1-resident translations, as the live MMU keeps
// (mmu.ts), so that replaying an L1 hit costs a compare and a clock tick.

import * as machine from '../../machine/index.ts';
import type { CounterValues, TlbArray, TlbConfig } from '../../machine/index.ts';
import { StreamDecoder } from './reader.ts';

// Imported values are copied into module-local consts: under vitest and tsx every read of an
// imported binding is a getter call, and the replay loop reads these per access.
const {
  accessOf, C_IPIS, C_LOAD_FAULTS, C_SPLIT_ACCESSES, CLOCK_BASE, ControlBlock,
  CPU_COUNTERS_F64, cpuF64Base, cpuI32Base, FOLD_AT, foldClock, HOT_CLOCK, HOT_STORES, latenciesOf, PERM_D, PERM_U, PERM_W,
  PhysMem, readCpuCounters, SIZE_4K, T_ACCESS, T_CR3, T_CR4, T_GP, T_INVLPG, T_INVPCID, T_IPI, T_SPLIT, T_WALK, Tlb,
  Walker, writeLatencies,
} = machine;
const SLOTS = 512;
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
  private readonly fPage = new Float64Array(SLOTS).fill(EMPTY);
  private readonly fWrite = new Uint8Array(SLOTS);
  private readonly fEnt = new Int32Array(SLOTS);
  private readonly stamp: Int32Array;
  private readonly lru: boolean;
  private readonly pcid: boolean;
  private readonly pcidsSeen = new Set<number>();
  private readonly learning: boolean;
  private t = 0;

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
  }

  /** Replay one stream (its chunks); returns its counters, as readCpuCounters gives a live CPU's. */
  run(chunks: readonly Uint8Array[], pid: number, onChunk?: () => void): CounterValues {
    const d = new StreamDecoder(chunks, onChunk);
    let held = false;
    let page = 0;
    let kind = 0;
    let count = 0;
    for (;;) {
      const more = d.next();
      if (held) {
        const walk = more && d.type === T_WALK;
        this.accesses(page, kind, count, walk ? d.a : -1);
        held = false;
        if (walk) {
          if (this.learning) this.walker.learn(page, d.a, this.t);
          continue;
        }
      }
      if (!more) break;
      if (d.type === T_ACCESS) {
        held = true;
        page = d.a;
        kind = d.param;
        count = d.b;
      } else {
        this.event(d, pid);
      }
    }
    return readCpuCounters(this.cb, 0);
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

  /** `count` attempts of `page`; the last is followed by walk outcome `walk` (-1: none). */
  private accesses(page: number, kind: number, count: number, walk: number): void {
    const access = accessOf(kind);
    const write = (access & 2) !== 0;
    const s = page & (SLOTS - 1);
    const tlb = this.tlb;
    for (let i = 0; i < count; i++) {
      if (this.fPage[s] === page && (!write || this.fWrite[s] === 1) && (walk < 0 || i < count - 1)) {
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
        const g = this.fEnt[s];
        if (this.lru) this.stamp[g] = c;
        else tlb.l1Owner[g].touch(g - tlb.l1Owner[g].base, c);
        continue;
      }
      this.tick(write);
      this.walker.now = ++this.t;
      this.walker.pending = i === count - 1 ? walk : -1;
      const pfn = tlb.translate(page & 0x3fffffff, Math.floor(page / 2 ** 30), access);
      this.walker.pending = -1;
      if (pfn >= 0 && tlb.l1Entry >= 0 && (access & 4) !== 0 && (tlb.perms & PERM_U) !== 0) {
        this.fPage[s] = page;
        this.fWrite[s] = (tlb.perms & (PERM_W | PERM_D)) === (PERM_W | PERM_D) ? 1 : 0;
        this.fEnt[s] = tlb.l1Entry;
      }
    }
  }

  private event(d: StreamDecoder, pid: number): void {
    const tlb = this.tlb;
    switch (d.type) {
      case T_CR3: {
        this.fPage.fill(EMPTY);
        if (!this.pcid) return tlb.loadCr3(d.a, d.b, d.param === 1);
        const p = (d.b === 0 ? pid : d.b) & 0xfff;
        const first = !this.pcidsSeen.has(p);
        this.pcidsSeen.add(p);
        return tlb.loadCr3(d.a, p, !first);
      }
      case T_CR4:
        this.fPage.fill(EMPTY);
        return tlb.setCr4((d.param & 1) !== 0 || this.pcid, (d.param & 2) !== 0);
      case T_INVLPG:
        return tlb.invlpg(d.a * 4096);
      case T_INVPCID:
        if (d.param === 0) return tlb.invpcidAddr(d.a, d.b * 4096);
        if (d.param === 1) return tlb.invpcidSingle(d.a);
        return d.param === 2 ? tlb.invpcidAll() : tlb.invpcidNonGlobal();
      case T_IPI:
        tlb.applyFlush(d.param, d.a, d.b, d.c, d.d);
        this.ctr[this.base + C_IPIS] += 1;
        return;
      case T_SPLIT:
        this.ctr[this.base + C_SPLIT_ACCESSES] += 1;
        return;
      case T_GP: {
        const write = (accessOf(d.param) & 2) !== 0;
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
      if (this.fEnt[s] === g) this.fPage[s] = EMPTY;
      return;
    }
    for (let s = 0; s < SLOTS; s++) if (this.fEnt[s] === g) this.fPage[s] = EMPTY;
  }
}
