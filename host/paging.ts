// Page replacement on a reference stream: how many faults a fixed number of frames takes
// under FIFO, LRU, CLOCK (second chance), OPT (Belady's: evict the page used furthest in the
// future, which a recorded trace knows) and `linux`, an approximation of the kernel's two
// LRU lists (mm/vmscan.c, mm/swap.c):
//   - a page faulted in goes to the head of the inactive list, unreferenced;
//   - a reference to an inactive page marks it referenced; a second one while it is still
//     inactive activates it (mark_page_accessed); a reference to an active page marks it;
//   - to free a frame, the active list is first aged while it is longer than the inactive
//     one (inactive_is_low with ratio 1, as for small memories): its tail goes to the
//     inactive head with the mark cleared (shrink_active_list deactivates even referenced
//     anonymous pages); then the inactive tail is taken: a referenced page is activated
//     instead (folio_check_references), the first unreferenced one is evicted.
// Simplified against Linux: one list pair (no anon/file split, no swappiness), references
// seen at once (Linux learns them from accessed bits when it scans), no refaults, no
// workingset shadow entries.
//
// Every policy keeps pages in numbered frames, so a step-by-step table shows them where a
// textbook draws them: the new page takes its victim's frame.

export const POLICIES = ['fifo', 'lru', 'clock', 'opt', 'linux'] as const;
export type Policy = typeof POLICIES[number];

export interface PagingResult {
  faults: number;
  hits: number;
  evictions: number;
}

/** Told of each reference: its index, whether it faulted, and the frames after it (do not keep the array). */
export type PagingObserver = (i: number, fault: boolean, frames: readonly (number | null)[]) => void;

/** A replacement policy over numbered frames: where a page is, and which page goes. */
interface Replacer {
  hit(page: number, i: number): void;
  /** A page to evict (all frames are full). */
  victim(i: number): number;
  /** `page` now sits in a frame. */
  placed(page: number, i: number): void;
  removed(page: number): void;
}

/** An ordered set: insertion order is age, oldest first (Map keeps it). */
class Ordered {
  readonly m = new Map<number, true>();
  push(p: number): void { this.m.set(p, true); }
  delete(p: number): boolean { return this.m.delete(p); }
  has(p: number): boolean { return this.m.has(p); }
  oldest(): number { return this.m.keys().next().value as number; }
  get size(): number { return this.m.size; }
}

function fifo(): Replacer {
  const q = new Ordered();
  return { hit: () => {}, victim: () => q.oldest(), placed: (p) => q.push(p), removed: (p) => void q.delete(p) };
}

function lru(): Replacer {
  const q = new Ordered();
  return {
    hit: (p) => { q.delete(p); q.push(p); },
    victim: () => q.oldest(),
    placed: (p) => q.push(p),
    removed: (p) => void q.delete(p),
  };
}

/** Second chance: a hand sweeps the frames, clearing reference bits, and takes the first page without one. */
function clock(frames: number, slotOf: Map<number, number>, slots: (number | null)[]): Replacer {
  const ref = new Uint8Array(frames);
  let hand = 0;
  return {
    hit: (p) => { ref[slotOf.get(p)!] = 1; },
    victim: () => {
      while (ref[hand] === 1) {
        ref[hand] = 0;
        hand = (hand + 1) % frames;
      }
      const p = slots[hand]!;
      hand = (hand + 1) % frames;
      return p;
    },
    // A page faulted in is referenced (its bit set by the access that brought it).
    placed: (p) => { ref[slotOf.get(p)!] = 1; },
    removed: () => {},
  };
}

/** Belady's OPT: the next use of each reference is known; a max-heap of (next use, page) with stale entries skipped. */
function opt(refs: readonly number[]): Replacer {
  const next = new Float64Array(refs.length);
  const seen = new Map<number, number>();
  for (let i = refs.length - 1; i >= 0; i--) {
    next[i] = seen.get(refs[i]!) ?? Infinity;
    seen.set(refs[i]!, i);
  }
  const due = new Map<number, number>();
  const heap: [number, number][] = [];
  const push = (e: [number, number]): void => {
    heap.push(e);
    for (let i = heap.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (heap[up]![0] >= heap[i]![0]) break;
      [heap[up], heap[i]] = [heap[i]!, heap[up]!];
      i = up;
    }
  };
  const pop = (): [number, number] => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]![0] > heap[m]![0]) m = l;
        if (r < heap.length && heap[r]![0] > heap[m]![0]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  const use = (p: number, i: number): void => {
    due.set(p, next[i]!);
    push([next[i]!, p]);
  };
  return {
    hit: use,
    victim: () => {
      for (;;) {
        const [at, p] = pop();
        if (due.get(p) === at) return p;
      }
    },
    placed: use,
    removed: (p) => void due.delete(p),
  };
}

/** The two-list approximation described in the header. */
function linux(): Replacer {
  const active = new Ordered();
  const inactive = new Ordered();
  const referenced = new Set<number>();
  const toInactive = (p: number): void => {
    active.delete(p);
    referenced.delete(p);
    inactive.push(p);
  };
  return {
    hit: (p) => {
      if (inactive.has(p) && referenced.has(p)) {
        inactive.delete(p);
        referenced.delete(p);
        active.push(p);
      } else {
        referenced.add(p);
      }
    },
    victim: () => {
      for (;;) {
        while (active.size > inactive.size) toInactive(active.oldest());
        const p = inactive.oldest();
        if (!referenced.has(p)) return p;
        inactive.delete(p);
        referenced.delete(p);
        active.push(p);
      }
    },
    placed: (p) => inactive.push(p),
    removed: (p) => {
      inactive.delete(p);
      referenced.delete(p);
    },
  };
}

/** Faults, hits and evictions of `refs` with `frames` frames under `policy`; `observe` sees each step. */
export function simulate(refs: readonly number[], frames: number, policy: Policy, observe?: PagingObserver): PagingResult {
  if (!Number.isInteger(frames) || frames < 1) throw new RangeError(`frames must be a positive integer, not ${frames}`);
  const slots: (number | null)[] = new Array<number | null>(frames).fill(null);
  const slotOf = new Map<number, number>();
  const r: Replacer = policy === 'fifo' ? fifo() : policy === 'lru' ? lru() : policy === 'clock' ? clock(frames, slotOf, slots)
    : policy === 'opt' ? opt(refs) : linux();
  const res: PagingResult = { faults: 0, hits: 0, evictions: 0 };
  let used = 0;
  for (let i = 0; i < refs.length; i++) {
    const page = refs[i]!;
    const fault = !slotOf.has(page);
    if (!fault) {
      res.hits++;
      r.hit(page, i);
    } else {
      res.faults++;
      let slot = used;
      if (used < frames) used++;
      else {
        res.evictions++;
        const gone = r.victim(i);
        slot = slotOf.get(gone)!;
        slotOf.delete(gone);
        r.removed(gone);
      }
      slots[slot] = page;
      slotOf.set(page, slot);
      r.placed(page, i);
    }
    observe?.(i, fault, slots);
  }
  return res;
}

/** A reference of a process, for per-process or global simulation of a trace. */
export interface ProcessRef {
  pid: number;
  page: number;
}

/**
 * Global: every process's pages compete for the same `frames` (pages of different
 * processes are different pages). Per process: each process has `frames` of its own.
 * Returns the machine's totals and each process's.
 */
export function simulateProcesses(refs: Iterable<ProcessRef>, frames: number, policy: Policy, perProcess: boolean): { total: PagingResult; byPid: Map<number, PagingResult> } {
  const byPidRefs = new Map<number, number[]>();
  const all: number[] = [];
  const owner: number[] = [];
  const ids = new Map<string, number>();
  for (const { pid, page } of refs) {
    if (perProcess) {
      let list = byPidRefs.get(pid);
      if (list === undefined) byPidRefs.set(pid, (list = []));
      list.push(page);
    } else {
      const key = `${pid}:${page}`;
      let id = ids.get(key);
      if (id === undefined) ids.set(key, (id = ids.size));
      all.push(id);
      owner.push(pid);
    }
  }
  const byPid = new Map<number, PagingResult>();
  const total: PagingResult = { faults: 0, hits: 0, evictions: 0 };
  if (perProcess) {
    for (const [pid, list] of byPidRefs) {
      const r = simulate(list, frames, policy);
      byPid.set(pid, r);
      total.faults += r.faults;
      total.hits += r.hits;
      total.evictions += r.evictions;
    }
    return { total, byPid };
  }
  // Each process's share: its references' faults and hits (evictions are the machine's).
  Object.assign(total, simulate(all, frames, policy, (i, fault) => {
    const pid = owner[i]!;
    let r = byPid.get(pid);
    if (r === undefined) byPid.set(pid, (r = { faults: 0, hits: 0, evictions: 0 }));
    if (fault) r.faults++;
    else r.hits++;
  }));
  return { total, byPid };
}
