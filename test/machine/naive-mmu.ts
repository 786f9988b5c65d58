// A deliberately naive reference model of the MMU: plain arrays of objects, linear LRU
// lists, BigInt page-table decoding, no fast cache, no packing. It implements the rules of
// machine/README.md from their prose, independently of machine/, so that a property test
// can check the optimized MMU against it access by access and counter by counter.
//
// Shared with machine/ only: the geometry presets (data), the shootdown merge rule, and the
// order in which arrays take their random seeds (config.seed, +1 per array: L1 arrays, STLB
// arrays, then the PDE, PDPTE and PML4E caches that exist).

import {
  FLUSH_ALL, FLUSH_NONGLOBAL, FLUSH_PCID, FLUSH_RANGE, type IpiCosts, latenciesOf, mergeFlush, type FlushRequest,
  type TlbConfig, type TlbLatencies,
} from '../../machine/index.ts';

const SIZES = [4096, 2 ** 21, 2 ** 30];
const SIZE_NAMES = ['4k', '2m', '1g'];

interface Entry {
  vpn: number;
  size: number;
  pcid: number;
  global: boolean;
  pfn: number;
  write: boolean;
  user: boolean;
  nx: boolean;
  dirty: boolean;
}

class NaiveArray {
  readonly sets: (Entry | null)[][];
  /** Per set: way indices, least recently used first. */
  readonly recency: number[][];
  /** Per set: PLRU node bits, index = node number (root 1). */
  readonly plru: number[][];
  rng: number;

  constructor(readonly name: string, entries: number, readonly ways: number, readonly sizes: number[],
    readonly policy: string, seed: number) {
    const n = entries / ways;
    this.sets = Array.from({ length: n }, () => Array<Entry | null>(ways).fill(null));
    this.recency = Array.from({ length: n }, () => []);
    this.plru = Array.from({ length: n }, () => Array<number>(64).fill(0));
    this.rng = seed | 0 || 0x2545f491;
  }

  setOf(vpn: number): number {
    return vpn % this.sets.length;
  }

  find(vpn: number, size: number, pcid: number): [number, number] | null {
    const s = this.setOf(vpn);
    for (let w = 0; w < this.ways; w++) {
      const e = this.sets[s][w];
      if (e && e.vpn === vpn && e.size === size && (e.pcid === pcid || e.global)) return [s, w];
    }
    return null;
  }

  touch(s: number, w: number): void {
    this.recency[s] = this.recency[s].filter((x) => x !== w);
    this.recency[s].push(w);
    let leaves = 1;
    while (leaves < this.ways) leaves *= 2;
    let node = w + leaves;
    while (node > 1) {
      const parent = Math.floor(node / 2);
      this.plru[s][parent] = node % 2 === 0 ? 1 : 0;
      node = parent;
    }
  }

  insert(e: Entry): [number, number] {
    const s = this.setOf(e.vpn);
    let w = this.sets[s].findIndex((x) => x === null);
    if (w < 0) w = this.choose(s);
    this.sets[s][w] = e;
    this.touch(s, w);
    return [s, w];
  }

  private choose(s: number): number {
    if (this.policy === 'lru') return this.recency[s][0];
    if (this.policy === 'random') {
      let x = this.rng;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.rng = x;
      return (x >>> 0) % this.ways;
    }
    let leaves = 1;
    while (leaves < this.ways) leaves *= 2;
    const hasWay = (node: number): boolean => {
      let lo = node;
      while (lo < leaves) lo *= 2;
      return lo - leaves < this.ways;
    };
    let node = 1;
    while (node < leaves) {
      let child = 2 * node + this.plru[s][node];
      if (!hasWay(child)) child = 2 * node + 1 - this.plru[s][node];
      node = child;
    }
    return node - leaves;
  }

  remove(pred: (e: Entry) => boolean): number {
    let n = 0;
    for (const set of this.sets) {
      for (let w = 0; w < set.length; w++) {
        if (set[w] && pred(set[w]!)) {
          set[w] = null;
          n++;
        }
      }
    }
    return n;
  }
}

export type Counters = Record<string, number>;

/** The counter names both models keep (all of CPU_COUNTERS but the emulator's own). */
export function freshCounters(names: string[]): Counters {
  return Object.fromEntries(names.filter((n) => !n.startsWith('emu.')).map((n) => [n, 0]));
}

export class NaiveMmu {
  readonly l1: NaiveArray[];
  readonly stlb: NaiveArray[];
  readonly psc: Record<number, NaiveArray | null> = {};
  readonly c: Counters;
  readonly mem: BigUint64Array;
  readonly bytes: Uint8Array;
  readonly nrFrames: number;
  cr3 = 0;
  pcid = 0;
  pcide = false;
  pge = true;
  pending: FlushRequest | null = null;
  faultCode = 0;

  /** The modeled clock: each event adds its price to c.cycles as it happens. */
  private readonly lat: TlbLatencies;
  private readonly ipi: IpiCosts;

  constructor(config: TlbConfig, buffer: SharedArrayBuffer, counterNames: string[], ipi: IpiCosts = { ipiReceive: 0, flushPage: 0, flushFull: 0 }) {
    this.lat = latenciesOf(config.geometry);
    this.ipi = ipi;
    this.mem = new BigUint64Array(buffer);
    this.bytes = new Uint8Array(buffer);
    this.nrFrames = buffer.byteLength / 4096;
    this.c = freshCounters(counterNames);
    let seed = config.seed;
    const g = config.geometry;
    const sizesOf = (names: string[]) => names.map((n) => SIZE_NAMES.indexOf(n));
    this.l1 = g.l1.map((a) => new NaiveArray(a.name, a.entries, a.ways, sizesOf(a.sizes), config.policy, seed++));
    this.stlb = g.stlb.map((a) => new NaiveArray(a.name, a.entries, a.ways, sizesOf(a.sizes), config.policy, seed++));
    const cache = (name: string, spec: { entries: number; ways: number }) =>
      spec.entries === 0 ? null : new NaiveArray(name, spec.entries, spec.ways, [0], config.policy, seed++);
    this.psc[2] = cache('pde', g.pdeCache);
    this.psc[3] = cache('pdpte', g.pdpteCache);
    this.psc[4] = cache('pml4', g.pml4Cache);
  }

  private arrayFor(level: NaiveArray[], size: number): NaiveArray | undefined {
    return level.find((a) => a.sizes.includes(size));
  }

  /** One translation attempt: physical address or -1. */
  translate(va: number, write: boolean, user = true): number {
    if (this.pending) {
      this.applyFlush(this.pending);
      this.pending = null;
      this.c.irq_tlb_count++;
      this.c.cycles += this.ipi.ipiReceive * this.lat.ghz;
    }
    const kind = write ? 'store' : 'load';
    if (!(Number.isInteger(va) && va >= 0 && va < 2 ** 48)) {
      // #GP, not #PF: no page fault, no invalidation.
      this.faultCode = -1;
      return -1;
    }
    for (let size = 0; size < 3; size++) {
      const arr = this.arrayFor(this.l1, size);
      const hit = arr?.find(Math.floor(va / SIZES[size]), size, this.pcid);
      if (arr && hit) {
        arr.touch(hit[0], hit[1]);
        return this.useEntry(arr, hit, null, va, write, user);
      }
    }
    for (let size = 0; size < 3; size++) {
      const arr = this.arrayFor(this.stlb, size);
      const hit = arr?.find(Math.floor(va / SIZES[size]), size, this.pcid);
      if (!arr || !hit) continue;
      const e = arr.sets[hit[0]][hit[1]]!;
      if (!this.allowed(e, write, user)) return this.fault(va, (write ? 2 : 0) | (user ? 4 : 0) | 1);
      this.c[`dtlb_${kind}_misses.stlb_hit`]++;
      this.c.cycles += this.lat.stlbHit;
      arr.touch(hit[0], hit[1]);
      const l1 = this.arrayFor(this.l1, size);
      if (!l1) return this.useEntry(arr, hit, null, va, write, user);
      const [s, w] = l1.insert({ ...e });
      return this.useEntry(l1, [s, w], [arr, hit], va, write, user);
    }
    this.c[`dtlb_${kind}_misses.miss_causes_a_walk`]++;
    this.c.cycles += this.lat.walk;
    const walk = this.walk(va, write, user);
    this.c[`dtlb_${kind}_misses.walk_completed`]++;
    if (typeof walk === 'number') {
      this.c.walk_faults++;
      return this.fault(va, walk);
    }
    this.c[`dtlb_${kind}_misses.walk_completed_${['4k', '2m_4m', '1g'][walk.size]}`]++;
    return this.install(walk, va, write);
  }

  private install(walk: Entry & { pfn4k: number }, va: number, write: boolean): number {
    const { pfn4k, ...entry } = walk;
    if (!this.pge) entry.global = false;
    const s = this.arrayFor(this.stlb, entry.size);
    if (s) s.insert({ ...entry });
    const l1 = this.arrayFor(this.l1, entry.size);
    if (l1) l1.insert({ ...entry });
    this.countAccess(write);
    return pfn4k * 4096 + (va % 4096);
  }

  private countAccess(write: boolean): void {
    if (write) this.c.dtlb_stores++;
    else this.c.dtlb_loads++;
    this.c.cycles += this.lat.access;
  }

  private allowed(e: Entry, write: boolean, user: boolean): boolean {
    return !(user && !e.user) && !(write && !e.write);
  }

  private useEntry(arr: NaiveArray, at: [number, number], stlb: [NaiveArray, [number, number]] | null,
    va: number, write: boolean, user: boolean): number {
    const e = arr.sets[at[0]][at[1]]!;
    if (!this.allowed(e, write, user)) return this.fault(va, (write ? 2 : 0) | (user ? 4 : 0) | 1);
    if (write && !e.dirty) {
      this.c.dirty_rewalks++;
      const walk = this.walk(va, write, user);
      if (typeof walk === 'number') {
        this.c.walk_faults++;
        return this.fault(va, walk);
      }
      if (walk.size !== e.size) {
        arr.sets[at[0]][at[1]] = null;
        if (stlb) stlb[0].sets[stlb[1][0]][stlb[1][1]] = null;
        return this.install(walk, va, write);
      }
      // The refreshed entry is this context's translation: current PCID, the leaf's G.
      const fresh = { pcid: this.pcid, pfn: walk.pfn, write: walk.write, user: walk.user, nx: walk.nx, dirty: walk.dirty, global: walk.global && this.pge };
      Object.assign(e, fresh);
      if (stlb) Object.assign(stlb[0].sets[stlb[1][0]][stlb[1][1]]!, fresh);
    }
    this.countAccess(write);
    const sub = Math.floor((va % SIZES[e.size]) / 4096);
    return (e.pfn + sub) * 4096 + (va % 4096);
  }

  /** A page walk through the paging-structure caches; an error code on fault. */
  private walk(va: number, write: boolean, user: boolean): (Entry & { pfn4k: number }) | number {
    let level = 4;
    let table = this.cr3;
    let rw = true;
    let us = true;
    let nx = false;
    for (const l of [2, 3, 4]) {
      const cache = this.psc[l];
      if (!cache) continue;
      const hit = cache.find(Math.floor(va / 2 ** (12 + 9 * (l - 1))), 0, this.pcid);
      if (l === 2 && !hit) this.c['psc.pde_miss']++;
      if (!hit) continue;
      this.c[l === 2 ? 'psc.pde_hit' : l === 3 ? 'psc.pdpte_hit' : 'psc.pml4_hit']++;
      cache.touch(hit[0], hit[1]);
      const e = cache.sets[hit[0]][hit[1]]!;
      level = l - 1;
      table = e.pfn;
      rw = e.write;
      us = e.user;
      nx = e.nx;
      break;
    }
    const passed: Entry[] = [];
    const errBase = (write ? 2 : 0) | (user ? 4 : 0);
    for (;;) {
      const index = Math.floor(va / 2 ** (12 + 9 * (level - 1))) % 512;
      const w = table * 512 + index;
      this.c[['', 'walk_mem_refs.pte', 'walk_mem_refs.pde', 'walk_mem_refs.pdpte', 'walk_mem_refs.pml4e'][level]]++;
      this.c.walk_mem_refs++;
      this.c.cycles += [0, this.lat.refPte, this.lat.refPde, this.lat.refPdpte, this.lat.refPml4e][level];
      let e = this.mem[w];
      if ((e & 1n) === 0n) return errBase;
      const bit = (n: number) => ((e >> BigInt(n)) & 1n) === 1n;
      const addr = Number((e >> 12n) & ((1n << 40n) - 1n));
      if (((e >> 46n) & 0x3fn) !== 0n) return errBase | 9;
      rw = rw && bit(1);
      us = us && bit(2);
      nx = nx || bit(63);
      const leaf = level === 1 || bit(7);
      if (!leaf) {
        if (!bit(5)) {
          this.mem[w] = e | 32n;
          this.c.a_bit_sets++;
          this.c.ad_bit_updates++;
          this.c.cycles += this.lat.adUpdate;
        }
        if (addr >= this.nrFrames) return errBase | 9;
        table = addr;
        passed.push({ vpn: Math.floor(va / 2 ** (12 + 9 * (level - 1))), size: level, pcid: this.pcid, global: false, pfn: addr, write: rw, user: us, nx, dirty: false });
        level--;
        continue;
      }
      if (level === 4) return errBase | 9;
      const size = level - 1;
      const framesPerPage = SIZES[size] / 4096;
      // In a huge leaf the lowest frame-field bit is PAT; the rest below the page size are reserved.
      if (size > 0 && addr % framesPerPage >= 2) return errBase | 9;
      const base = addr - (addr % framesPerPage);
      const pfn4k = base + Math.floor((va % SIZES[size]) / 4096);
      if (base + framesPerPage > this.nrFrames) return errBase | 9;
      if ((user && !us) || (write && !rw)) return errBase | 1;
      const want = write ? 96n : 32n;
      if ((e & want) !== want) {
        if (!bit(5)) {
          this.c.a_bit_sets++;
          this.c.ad_bit_updates++;
          this.c.cycles += this.lat.adUpdate;
        }
        if (write && !bit(6)) {
          this.c.d_bit_sets++;
          this.c.ad_bit_updates++;
          this.c.cycles += this.lat.adUpdate;
        }
        e |= want;
        this.mem[w] = e;
      }
      for (const p of passed) {
        const cache = this.psc[p.size];
        if (cache) cache.insert({ ...p, size: 0 });
      }
      return {
        vpn: Math.floor(va / SIZES[size]), size, pcid: this.pcid, global: bit(8), pfn: base,
        write: rw, user: us, nx, dirty: bit(6), pfn4k,
      };
    }
  }

  private fault(va: number, code: number): number {
    this.faultCode = code;
    this.c.page_faults++;
    const vpns = [0, 1, 2].map((s) => Math.floor(va / SIZES[s]));
    let n = 0;
    for (const arr of [...this.l1, ...this.stlb]) {
      n += arr.remove((e) => e.vpn === vpns[e.size] && (e.global || e.pcid === this.pcid));
    }
    this.c['tlb_inval.entries'] += n;
    let p = 0;
    for (const l of [2, 3, 4]) {
      const cache = this.psc[l];
      const prefix = Math.floor(va / 2 ** (12 + 9 * (l - 1)));
      if (cache) p += cache.remove((e) => e.vpn === prefix && !e.global && e.pcid === this.pcid);
    }
    this.c['tlb_inval.psc_entries'] += p;
    return -1;
  }

  // --- instructions ---------------------------------------------------------------------

  private dropTlb(pred: (e: Entry) => boolean): void {
    let n = 0;
    for (const arr of [...this.l1, ...this.stlb]) n += arr.remove(pred);
    this.c['tlb_inval.entries'] += n;
  }

  private dropPsc(pcid: number | null): void {
    let n = 0;
    for (const l of [2, 3, 4]) n += this.psc[l]?.remove((e) => pcid === null || e.pcid === pcid) ?? 0;
    this.c['tlb_inval.psc_entries'] += n;
  }

  private contains(e: Entry, va: number): boolean {
    return e.vpn === Math.floor(va / SIZES[e.size]);
  }

  invlpg(va: number): void {
    this.c['tlb_inval.page']++;
    this.dropTlb((e) => this.contains(e, va) && (e.global || e.pcid === this.pcid));
    this.dropPsc(this.pcid);
  }

  invpcid(type: number, pcid: number, va: number): void {
    if (type === 0) {
      this.c['tlb_inval.page']++;
      this.dropTlb((e) => this.contains(e, va) && !e.global && e.pcid === pcid);
      this.dropPsc(pcid);
    } else if (type === 1) {
      this.c['tlb_inval.pcid']++;
      this.dropTlb((e) => !e.global && e.pcid === pcid);
      this.dropPsc(pcid);
    } else if (type === 2) {
      this.c['tlb_inval.all']++;
      this.dropTlb(() => true);
      this.dropPsc(null);
    } else {
      this.c['tlb_inval.nonglobal']++;
      this.dropTlb((e) => !e.global);
      this.dropPsc(null);
    }
  }

  loadCr3(root: number, pcid: number, noflush: boolean): void {
    this.cr3 = root;
    this.pcid = this.pcide ? pcid : 0;
    if (!this.pcide) {
      this.c['cr3.flush']++;
      this.c['tlb_inval.nonglobal']++;
      this.dropTlb((e) => !e.global);
      this.dropPsc(null);
    } else if (!noflush) {
      this.c['cr3.flush']++;
      this.c['tlb_inval.pcid']++;
      this.dropTlb((e) => !e.global && e.pcid === this.pcid);
      this.dropPsc(this.pcid);
    } else {
      this.c['cr3.noflush']++;
    }
  }

  setCr4(pcide: boolean, pge: boolean): void {
    if (pcide === this.pcide && pge === this.pge) return;
    this.pcide = pcide;
    this.pge = pge;
    if (!pcide) this.pcid = 0;
    this.invpcid(2, 0, 0);
  }

  post(req: FlushRequest): void {
    this.pending = this.pending ? mergeFlush(this.pending, req) : req;
  }

  private applyFlush(r: FlushRequest): void {
    if (r.kind === FLUSH_RANGE) {
      const stride = 2 ** r.strideShift;
      const steps = Math.max(0, Math.ceil((r.end - r.start) / stride));
      if (steps === 0) return;
      this.c['tlb_inval.page'] += steps;
      this.c['ipi.flush_pages'] += steps;
      this.c.cycles += steps * this.ipi.flushPage * this.lat.ghz;
      const points: number[] = [];
      for (let k = 0; k < steps; k++) points.push(r.start + k * stride);
      this.dropTlb((e) => !e.global && e.pcid === r.pcid && points.some((p) => this.contains(e, p)));
      this.dropPsc(r.pcid);
      return;
    }
    this.c['ipi.flush_full']++;
    this.c.cycles += this.ipi.flushFull * this.lat.ghz;
    if (r.kind === FLUSH_PCID) this.invpcid(1, r.pcid, 0);
    else if (r.kind === FLUSH_NONGLOBAL) this.invpcid(3, 0, 0);
    else if (r.kind === FLUSH_ALL) this.invpcid(2, 0, 0);
  }

  // --- data access, split as the MMU splits it ---------------------------------------------

  /** The page parts of an access of `width` bytes: [va] or [va, next page]. */
  parts(va: number, width: number): number[] {
    if (!(Number.isInteger(va) && va >= 0)) return [va];
    const off = va % 4096;
    return off + width <= 4096 ? [va] : [va, va - off + 4096];
  }

  /** Perform an access; true if it completed, false if it faulted. */
  access(va: number, width: number, write: boolean): boolean {
    const parts = this.parts(va, width);
    if (parts.length === 2) this.c.split_accesses++;
    for (const p of parts) if (this.translate(p, write) < 0) return false;
    return true;
  }
}
