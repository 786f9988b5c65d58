// The soak's verdict on one phase's series: does host memory or time per cycle grow?
//
// Blocks are judged after a warm-up (the first fifth, at least one block: V8 heaps, JIT
// code, the bundle cache and the kernel's tables reach their working size there).
//   memory: the Theil-Sen line of RSS against cycles (or calls) done, whose slope is the
//     median of the slopes between every two judged blocks; its rise over the judged span
//     (slope x span) must stay within `rssLimitMiB`. A leak of a fixed size per cycle puts
//     that slope between every two blocks; a GC spike, or a heap that grew its old space
//     once and then stays, moves only a minority of them. The least-squares line, which a
//     single step does move, is reported beside it. The kernel thread's V8 heap after a full
//     GC of it (kheap) is judged the same way against `kheapLimitMiB`: RSS mixes the kernel's
//     objects with the CPU workers' native memory and V8's own heap sizing (an isolate that
//     allocates fast reserves more before it collects), so a leak of kernel objects smaller
//     than RSS's noise shows there first.
//   time:   time per cycle over the block's yardstick (a raw host operation of the same kind
//     timed right after it, reference.ts: a host twice as loaded slows both), the median of
//     the judged blocks' last quarter over the median of their first quarter, must stay
//     within `timeFactor`. Medians of quarters shrug off a block or two slowed by a burst of
//     host load; a cost that grows with cycles done (a list scanned on each spawn, say)
//     raises every later block and shows. The raw ratio (the clock alone) is reported too.
// Fewer than four judged blocks give no verdict (too short to tell growth from noise).

export interface SeriesPoint {
  /** Cycles or calls done, this block's included. */
  done: number;
  /** Cycles or calls in this block. */
  n: number;
  ms: number;
  rssMiB: number;
  /** The kernel thread's heap after a GC, MiB (absent in runs saved before it was sampled). */
  kheapMiB?: number;
  load: number;
  /** The block's yardstick, ms (1 judges the clock alone). */
  ref: number;
}

export interface Limits {
  /** The most RSS may rise over the judged blocks, by the fitted line, in MiB. */
  rssLimitMiB: number;
  /** The most the kernel thread's heap after a GC may rise over the judged blocks, in MiB. */
  kheapLimitMiB: number;
  /** The most time per cycle may grow, last quarter's median over the first's. */
  timeFactor: number;
}

export const LIMITS: Limits = { rssLimitMiB: 16, kheapLimitMiB: 2, timeFactor: 1.5 };

export interface Verdict {
  /** 'flat', 'grows', or 'too short' (fewer than four blocks after the warm-up). */
  result: 'flat' | 'grows' | 'too short';
  warmup: number;
  judged: number;
  /** Fitted RSS slope in MiB per 1000 cycles (or calls), and its rise over the judged span (Theil-Sen: what is judged). */
  rssSlopePer1000: number;
  rssRiseMiB: number;
  /** The least-squares line's rise over the same span (reported, not judged). */
  lsqRiseMiB: number;
  /** The kernel heap's Theil-Sen rise over the judged span, MiB (NaN if not sampled). */
  kheapRiseMiB: number;
  /** Time per cycle (ms) in the first and last quarters (medians), and their ratio. */
  firstMs: number;
  lastMs: number;
  rawRatio: number;
  /** The same for time per cycle over the yardstick: what is judged. */
  timeRatio: number;
  /** Host load average, median over the same quarters. */
  firstLoad: number;
  lastLoad: number;
  /** Why it grows, one line each (empty when flat). */
  reasons: string[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** The Theil-Sen slope of y against x: the median of the slopes between every two points of distinct x (0 if none). */
export function medianSlope(xs: number[], ys: number[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
  return slopes.length === 0 ? 0 : median(slopes);
}

/** The least-squares slope of y against x (0 for fewer than two distinct x). */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

export function judge(series: SeriesPoint[], limits: Limits = LIMITS): Verdict {
  const warmup = Math.max(1, Math.ceil(series.length / 5));
  const pts = series.slice(warmup);
  const q = Math.max(1, Math.floor(pts.length / 4));
  const first = pts.slice(0, q);
  const last = pts.slice(-q);
  const perCycle = (p: SeriesPoint): number => p.ms / p.n;
  const xs = pts.map((p) => p.done);
  const ys = pts.map((p) => p.rssMiB);
  const span = pts.length >= 2 ? pts[pts.length - 1].done - pts[0].done : 0;
  const s = medianSlope(xs, ys);
  const rise = s * span;
  const kheap = pts.every((p) => p.kheapMiB !== undefined) ? medianSlope(xs, pts.map((p) => p.kheapMiB!)) * span : NaN;
  const firstMs = median(first.map(perCycle));
  const lastMs = median(last.map(perCycle));
  const timeRatio = median(last.map((p) => perCycle(p) / p.ref)) / median(first.map((p) => perCycle(p) / p.ref));
  const v: Verdict = {
    result: 'flat', warmup, judged: pts.length, rssSlopePer1000: s * 1000, rssRiseMiB: rise, lsqRiseMiB: slope(xs, ys) * span, kheapRiseMiB: kheap,
    firstMs, lastMs, rawRatio: lastMs / firstMs, timeRatio, firstLoad: median(first.map((p) => p.load)), lastLoad: median(last.map((p) => p.load)),
    reasons: [],
  };
  if (pts.length < 4) {
    v.result = 'too short';
    return v;
  }
  if (rise > limits.rssLimitMiB) v.reasons.push(`RSS rose ${rise.toFixed(1)} MiB over the judged blocks by the Theil-Sen line (limit ${limits.rssLimitMiB} MiB)`);
  if (kheap > limits.kheapLimitMiB) v.reasons.push(`the kernel thread's heap after a GC rose ${kheap.toFixed(2)} MiB over the judged blocks by the Theil-Sen line (limit ${limits.kheapLimitMiB} MiB)`);
  if (v.timeRatio > limits.timeFactor) {
    const load = v.lastLoad > v.firstLoad * limits.timeFactor ? `; the host load rose too, ${v.firstLoad.toFixed(1)} -> ${v.lastLoad.toFixed(1)}: run it again on a quieter host` : '';
    v.reasons.push(`time per cycle over its yardstick grew ${v.timeRatio.toFixed(2)}x (by the clock ${v.rawRatio.toFixed(2)}x, ${firstMs.toFixed(2)} -> ${lastMs.toFixed(2)} ms; limit ${limits.timeFactor}x)${load}`);
  }
  if (v.reasons.length > 0) v.result = 'grows';
  return v;
}
