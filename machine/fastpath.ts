// The MMU's hit paths, built as closures over one CPU's arrays.
//
// Why closures: TurboFan specializes a closure to the constants it captures, so the typed
// arrays below become embedded constants instead of field loads through `this`; measured
// on the project machine this halves the cost of a hit (about 2.3 ns against 4.5 ns as
// methods). Each MMU gets its own set.
//
// A hit: one compare of the cached page base with va minus its in-page offset rounded to
// the access size (so an unaligned address never matches), one check of the IPI-pending
// word, a tick of the CPU's access clock (the exact dtlb_loads/stores count and the LRU
// timestamp), and the LRU update of the L1 entry. Anything else goes to the slow path,
// which gets its arguments through `box` so no call boxes a 48-bit address.
//
// Memory ordering, what a hit relies on (the rest of the protocol is in ipi.ts):
//   - IPI_PENDING (`pend`) is read with a plain load on every access; the kernel sets it with
//     Atomics.store. ECMAScript would let a compiler hoist that plain load out of a guest's
//     loop once the hit path is inlined into it; V8 does not eliminate typed-array element
//     loads, so each access reads the word again, and an x86-64 store becomes visible to
//     other cores in bounded time: a CPU sees a posted shootdown within an access or two.
//     A change would show in processes.test.ts (a thread loops reading a page that another
//     thread unmaps: it must fault, never read the frame's next user's data). An access
//     that read 0 just before the post finishes through the old translation, as an access
//     already in flight does on hardware; the kernel does not reuse the frame until the
//     CPU's ack, which the CPU gives only from the slow path, after that access.
//   - The hit's guest load or store itself is plain: guest memory has no ordering beyond
//     the host's (x86-64 TSO), which is the ordering guests on a real x86 machine get.
//   - `hot` and `l1Stamp` are written by this CPU alone; other threads read them plainly
//     and may see a value a few accesses old, never a torn one (int32).

/** Fast-cache slots (direct-mapped on page-number bits 0..8). */
export const FAST_SLOTS = 512;
export const FAST_MASK = FAST_SLOTS - 1;
/** The access clock folds before it reaches this (mmu.ts re-ranks LRU stamps then). */
export const FOLD_AT = 2 ** 30;

/** What the slow paths need: they read va from box[0] and a store's value from box[1]. */
export interface SlowPaths {
  load8Slow(): number;
  load16Slow(): number;
  load32Slow(): number;
  loadF64Slow(): number;
  store8Slow(): void;
  store16Slow(): void;
  store32Slow(): void;
  storeF64Slow(): void;
  /** The clock reached FOLD_AT: fold it and return its new value. */
  fold(): number;
  /** Non-LRU policies: mark L1 entry `g` used at `clock`. */
  touchL1(g: number, clock: number): void;
}

export interface FastPathArrays {
  m8: Uint8Array;
  m16: Uint16Array;
  m32: Int32Array;
  mf64: Float64Array;
  /** Page base of the slot's translation, or -1. */
  fTag: Float64Array;
  /** Same, only if stores may use the slot (RW and D cached as 1), else -1. */
  fWTag: Float64Array;
  /** Int32Array index of the slot's 4 KiB frame. */
  fWord: Int32Array;
  /** Global index of the L1 entry the slot mirrors. */
  fEnt: Int32Array;
  l1Stamp: Int32Array;
  /** [HOT_CLOCK, HOT_STORES] of the CPU (control block). */
  hot: Int32Array;
  /** [IPI_PENDING] of the CPU (control block). */
  pend: Int32Array;
  /** Slow-path argument box: [va, value]. */
  box: Float64Array;
  /** True if L1 replacement is LRU (stamps written inline). */
  lru: boolean;
}

export interface FastPaths {
  load8(va: number): number;
  load16(va: number): number;
  load32(va: number): number;
  loadF64(va: number): number;
  store8(va: number, v: number): void;
  store16(va: number, v: number): void;
  store32(va: number, v: number): void;
  storeF64(va: number, v: number): void;
}

/** Build the hit paths of one MMU. */
export function makeFastPaths(arrays: FastPathArrays, slow: SlowPaths): FastPaths {
  const { m8, m16, m32, mf64, fTag, fWTag, fWord, fEnt, l1Stamp, hot, pend, box, lru } = arrays;
  // Local copies: TurboFan folds a closure's const bindings into the code, but reads an
  // exported module const from its cell on every access, with a hole check.
  const mask = FAST_MASK;
  const foldAt = FOLD_AT;

  function tick(s: number): void {
    let c = (hot[0] + 1) | 0;
    hot[0] = c;
    if (c >= foldAt) c = slow.fold();
    if (lru) l1Stamp[fEnt[s]] = c;
    else slow.touchL1(fEnt[s], c);
  }

  function tickStore(s: number): void {
    hot[1] = (hot[1] + 1) | 0;
    tick(s);
  }

  return {
    load8(va: number): number {
      const s = (va >>> 12) & mask;
      const off = va & 4095;
      if (fTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        return slow.load8Slow();
      }
      tick(s);
      return m8[fWord[s] * 4 + off];
    },
    load16(va: number): number {
      const s = (va >>> 12) & mask;
      const off = va & 4094;
      if (fTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        return slow.load16Slow();
      }
      tick(s);
      return m16[fWord[s] * 2 + (off >> 1)];
    },
    load32(va: number): number {
      const s = (va >>> 12) & mask;
      const off = va & 4092;
      if (fTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        return slow.load32Slow();
      }
      tick(s);
      return m32[fWord[s] + (off >> 2)];
    },
    loadF64(va: number): number {
      const s = (va >>> 12) & mask;
      const off = va & 4088;
      if (fTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        return slow.loadF64Slow();
      }
      tick(s);
      return mf64[(fWord[s] >> 1) + (off >> 3)];
    },
    store8(va: number, v: number): void {
      const s = (va >>> 12) & mask;
      const off = va & 4095;
      if (fWTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        box[1] = v;
        return slow.store8Slow();
      }
      tickStore(s);
      m8[fWord[s] * 4 + off] = v;
    },
    store16(va: number, v: number): void {
      const s = (va >>> 12) & mask;
      const off = va & 4094;
      if (fWTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        box[1] = v;
        return slow.store16Slow();
      }
      tickStore(s);
      m16[fWord[s] * 2 + (off >> 1)] = v;
    },
    store32(va: number, v: number): void {
      const s = (va >>> 12) & mask;
      const off = va & 4092;
      if (fWTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        box[1] = v;
        return slow.store32Slow();
      }
      tickStore(s);
      m32[fWord[s] + (off >> 2)] = v;
    },
    storeF64(va: number, v: number): void {
      const s = (va >>> 12) & mask;
      const off = va & 4088;
      if (fWTag[s] !== va - off || pend[0] !== 0) {
        box[0] = va;
        box[1] = v;
        return slow.storeF64Slow();
      }
      tickStore(s);
      mf64[(fWord[s] >> 1) + (off >> 3)] = v;
    },
  };
}
