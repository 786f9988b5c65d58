// The soak (tools/soak): a tiny run has the series' shape and ends clean; the leak check sees
// frames a process left behind; the verdict passes a flat series with noise and spikes and
// fails one whose memory or time per cycle grows.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Machine } from '../../host/machine.ts';
import { seriesOf } from '../../tools/soak/cli.ts';
import { leakOf, settle, soak, type SoakConfig } from '../../tools/soak/run.ts';
import { judge, type SeriesPoint } from '../../tools/soak/verdict.ts';

const LITTER = fileURLToPath(new URL('../guests/litter.ts', import.meta.url));

/** 20 blocks of 100 cycles: RSS and time per block from the functions of the block index. */
function series(rss: (i: number) => number, ms: (i: number) => number): SeriesPoint[] {
  return Array.from({ length: 20 }, (_, i) => ({ done: (i + 1) * 100, n: 100, ms: ms(i), rssMiB: rss(i), load: 10, ref: 1 }));
}

/** Deterministic noise in [-1, 1). */
const noise = (i: number): number => ((i * 7919) % 200) / 100 - 1;

describe('soak: the verdict', () => {
  it('a flat series with GC-like noise and a slow block or two is flat', () => {
    const v = judge(series((i) => 120 + 6 * noise(i) + (i === 0 ? 30 : 0), (i) => 4000 * (1 + 0.2 * noise(i + 3)) * (i === 9 || i === 18 ? 3 : 1)));
    expect(v.result, v.reasons.join('; ')).toBe('flat');
    expect(v.warmup).toBe(4);
    expect(v.judged).toBe(16);
  });

  it('RSS growing 1.5 MiB per block (15 KiB a cycle) grows, the numbers say by how much', () => {
    const v = judge(series((i) => 120 + 1.5 * i + 4 * noise(i), () => 4000));
    expect(v.result).toBe('grows');
    expect(v.rssSlopePer1000).toBeGreaterThan(12);
    expect(v.rssSlopePer1000).toBeLessThan(18);
    expect(v.reasons.join()).toMatch(/RSS rose/);
  });

  it('RSS that steps up once (a heap that grew its old space) and stays is flat; the least-squares line would have read growth', () => {
    const v = judge(series((i) => 140 + (i >= 6 ? 30 : 0) + 0.5 * noise(i), () => 4000));
    expect(v.result, v.reasons.join('; ')).toBe('flat');
    expect(v.lsqRiseMiB).toBeGreaterThan(16);
    expect(Math.abs(v.rssRiseMiB)).toBeLessThan(4);
  });

  it('time per cycle growing by half over the run grows; the report notes a host load that grew as much', () => {
    const pts = series(() => 120, (i) => 4000 * (1 + i / 10));
    const v = judge(pts);
    expect(v.result).toBe('grows');
    expect(v.timeRatio).toBeGreaterThan(1.5);
    expect(v.reasons.join()).toMatch(/time per cycle over its yardstick grew/);
    expect(v.reasons.join()).not.toMatch(/host load rose/);
    const loaded = judge(pts.map((p, i) => ({ ...p, load: 4 + i })));
    expect(loaded.reasons.join()).toMatch(/host load rose/);
  });

  it('time per cycle that grows with its yardstick (the host got slower) is flat; by the clock alone it grows', () => {
    const pts = series(() => 120, (i) => 4000 * (1 + i / 5) * (1 + 0.1 * noise(i))).map((p, i) => ({ ...p, ref: 300 * (1 + i / 5) }));
    const v = judge(pts);
    expect(v.result, v.reasons.join('; ')).toBe('flat');
    expect(v.rawRatio).toBeGreaterThan(1.8);
    expect(judge(pts.map((p) => ({ ...p, ref: 1 }))).result).toBe('grows');
  });

  it('a kernel heap growing 0.2 MiB per block grows even where RSS is flat; a flat one, or a run saved without it, does not', () => {
    const pts = series((i) => 120 + 6 * noise(i), () => 4000);
    const v = judge(pts.map((p, i) => ({ ...p, kheapMiB: 9 + 0.2 * i + 0.05 * noise(i) })));
    expect(v.result).toBe('grows');
    expect(v.kheapRiseMiB).toBeGreaterThan(2.5);
    expect(v.reasons.join()).toMatch(/kernel thread's heap/);
    expect(judge(pts.map((p, i) => ({ ...p, kheapMiB: 9 + 0.05 * noise(i) }))).result).toBe('flat');
    expect(Number.isNaN(judge(pts).kheapRiseMiB)).toBe(true);
  });

  it('fewer than four blocks after the warm-up give no verdict', () => {
    expect(judge(series((i) => 100 + 50 * i, () => 1).slice(0, 4)).result).toBe('too short');
  });
});

describe('soak: a tiny run', () => {
  it('every phase sampled per block, every block back to the boot frames with no swap slot used; the fork phase swapped', async () => {
    const c: SoakConfig = {
      cycles: 4, cycleBlock: 2, calls: 600, callBlock: 200, procs: 2, forks: 2, forkBlock: 1, forkPages: 1536, forkKids: 1,
      memBytes: 8 << 20, swapBytes: 16 << 20, seed: 3, settleMs: 20_000, watchdogMs: 150_000,
    };
    const res = await soak(c);
    expect(res.failure).toBeNull();
    expect(res.samples.map((s) => `${s.phase} ${s.done}`)).toEqual(['spawn 2', 'spawn 4', 'maps 200', 'maps 400', 'maps 600', 'fork 1', 'fork 2']);
    for (const s of res.samples) {
      expect(s).toMatchObject({ nrFree: res.bootFree, swapUsed: 0, procs: 0 });
      expect(s.rssMiB).toBeGreaterThan(10);
      // The kernel thread's heap after its GC: a few MiB of kernel objects, well under the host's RSS.
      expect(s.kheapMiB).toBeGreaterThan(0.5);
      expect(s.kheapMiB).toBeLessThan(s.rssMiB);
      expect(s.ms).toBeGreaterThan(0);
    }
    const maps = res.samples.filter((s) => s.phase === 'maps');
    for (const s of maps) expect(s.syscalls).toBeGreaterThanOrEqual(200);
    expect(res.samples.filter((s) => s.phase === 'fork').reduce((a, s) => a + s.pswpout, 0)).toBeGreaterThan(0);
    expect(seriesOf(res.samples, 'maps').map((p) => p.n)).toEqual([200, 200, 200]);
  }, 180_000);

  it('the leak check names the frames a tmpfs file kept after its process exited', async () => {
    const m = await Machine.boot({ memBytes: 8 << 20, klog: false });
    try {
      expect(leakOf(await settle(m, 5000))).toBeNull();
      const e = await m.run(LITTER);
      expect(e.exitCode).toBe(0);
      expect(leakOf(await settle(m, 300))).toMatch(/^4 frames not free .* 0 swap slots used, 0 processes left$/);
    } finally {
      await m.shutdown();
    }
  }, 60_000);
});
