// Page replacement on reference streams (host/paging.ts, `ptlab replay --paging`): the
// textbook tables as the books print them, the properties every policy must have, and a
// recorded trace's accesses per process and shared.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { POLICIES, simulate, simulateProcesses } from '../../host/paging.ts';
import { pagingMain } from '../../host/replay-paging.ts';
import { writeTrace } from '../../host/trace/file.ts';
import { kindOf, TraceWriter, traceBuffer } from '../../machine/traceformat.ts';
import { PRESETS } from '../../machine/tlbconfig.ts';

const BELADY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
// Silberschatz, Galvin and Gagne, Operating System Concepts, section 10.4 (9.4 in older editions).
const SGG = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1];

/** A seeded random reference string over `pages` pages (xorshift). */
function randomRefs(seed: number, n: number, pages: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % pages;
  });
}

/** What `ptlab replay ...` prints on stdout, and its exit status. */
function replay(args: string[]): { code: number; out: string } {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
  try {
    return { code: pagingMain(args), out };
  } finally {
    spy.mockRestore();
  }
}

describe('page replacement: the textbook examples', () => {
  it('Belady\'s anomaly: FIFO takes 9 faults with 3 frames and 10 with 4', () => {
    expect(simulate(BELADY, 3, 'fifo').faults).toBe(9);
    expect(simulate(BELADY, 4, 'fifo').faults).toBe(10);
  });

  it('the 20-reference string with 3 frames: FIFO 15, OPT 9, LRU 12 faults; the second-chance clock 14', () => {
    expect(simulate(SGG, 3, 'fifo')).toEqual({ faults: 15, hits: 5, evictions: 12 });
    expect(simulate(SGG, 3, 'opt')).toEqual({ faults: 9, hits: 11, evictions: 6 });
    expect(simulate(SGG, 3, 'lru')).toEqual({ faults: 12, hits: 8, evictions: 9 });
    expect(simulate(SGG, 3, 'clock').faults).toBe(14);
  });

  it('--show draws the FIFO table of Belady\'s string as the books do', () => {
    const { code, out } = replay(['--refs', BELADY.join(','), '--frames', '3', '--paging', 'fifo', '--show']);
    expect(code).toBe(0);
    expect(out).toBe([
      '12 references, 3 frames',
      '',
      'fifo:',
      'ref   1 2 3 4 1 2 5 1 2 3 4 5',
      'f0    1 1 1 4 4 4 5 5 5 5 5 5',
      'f1      2 2 2 1 1 1 1 1 3 3 3',
      'f2        3 3 3 2 2 2 2 2 4 4',
      'fault * * * * * * *     * *  ',
      'fifo   faults: 9   hits: 3   evictions: 6',
      '',
    ].join('\n'));
  });

  it('linux: a page referenced twice while inactive is activated and outlives a scan of pages used once', () => {
    // 1 is used twice, then a scan of 2..7 once each: the two-list policy keeps 1, LRU does not.
    const refs = [1, 1, 2, 3, 4, 5, 6, 7, 1];
    expect(simulate(refs, 4, 'linux').hits).toBe(2);
    expect(simulate(refs, 4, 'lru').hits).toBe(1);
  });
});

describe('page replacement: properties on random strings', () => {
  const strings = Array.from({ length: 30 }, (_, s) => randomRefs(s + 1, 300, 4 + (s % 9)));

  it('every reference is a hit or a fault; evictions are faults past the frames', () => {
    for (const refs of strings) {
      for (const p of POLICIES) {
        const r = simulate(refs, 3, p);
        expect(r.hits + r.faults).toBe(refs.length);
        expect(r.evictions).toBe(Math.max(0, r.faults - 3));
      }
    }
  });

  it('OPT takes no more faults than any policy', () => {
    for (const refs of strings) {
      for (let frames = 1; frames <= 8; frames++) {
        const best = simulate(refs, frames, 'opt').faults;
        for (const p of POLICIES) expect(simulate(refs, frames, p).faults).toBeGreaterThanOrEqual(best);
      }
    }
  });

  it('LRU and OPT are stack algorithms: more frames never take more faults', () => {
    for (const refs of strings) {
      for (const p of ['lru', 'opt'] as const) {
        const faults = Array.from({ length: 10 }, (_, f) => simulate(refs, f + 1, p).faults);
        for (let f = 1; f < faults.length; f++) expect(faults[f]).toBeLessThanOrEqual(faults[f - 1]!);
      }
    }
  });

  it('per process equals each process alone; shared frames with one process equal it alone', () => {
    const a = randomRefs(11, 200, 9);
    const b = randomRefs(12, 200, 6);
    const mixed = a.flatMap((page, i) => [{ pid: 1, page }, { pid: 2, page: b[i]! }]);
    const per = simulateProcesses(mixed, 3, 'lru', true);
    expect(per.byPid.get(1)).toEqual(simulate(a, 3, 'lru'));
    expect(per.byPid.get(2)).toEqual(simulate(b, 3, 'lru'));
    const alone = simulateProcesses(a.map((page) => ({ pid: 1, page })), 3, 'clock', false);
    expect(alone.total).toEqual(simulate(a, 3, 'clock'));
    // Shared: pages of the two processes are different pages competing for the same frames.
    const shared = simulateProcesses(mixed, 6, 'fifo', false);
    expect(shared.byPid.get(1)!.faults + shared.byPid.get(2)!.faults).toBe(shared.total.faults);
  });
});

describe('page replacement on a recorded trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ptlab-paging-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replay TRACE --paging counts the faults of its accesses, shared or per process', () => {
    const streams = [[7, BELADY], [8, SGG]].map(([pid, pages]) => {
      const w = new TraceWriter(traceBuffer());
      const chunks: Uint8Array[] = [];
      w.onChunk = (b) => chunks.push(deflateRawSync(b));
      for (const p of pages as number[]) w.access(0x1000 + p, kindOf(4));
      chunks.push(deflateRawSync(w.finish()));
      return { cpu: pid as number, pid: pid as number, tid: pid as number, chunks };
    });
    const file = join(dir, 'two.ptrace');
    writeTrace(file, {
      command: ['test'],
      config: { preset: 'skylake', policy: 'lru', seed: 1, geometry: PRESETS.skylake, pcide: false, pge: true, memBytes: 1 << 20, nrCpus: 2, options: {} },
      processes: [7, 8].map((pid) => ({ pid, ppid: 0, path: 'test', exitCode: 0, signal: null, counters: {} })),
    }, streams);
    const per = replay([file, '--frames', '3', '--paging', 'fifo', '--per-process', '--json']);
    expect(per.code).toBe(0);
    expect(JSON.parse(per.out)).toMatchObject({ policy: 'fifo', faults: 9 + 15, processes: { 7: { faults: 9 }, 8: { faults: 15 } } });
    const all = replay([file, '--frames', '3', '--paging', 'all']);
    expect(all.out).toMatch(/^opt {4}faults: \d+/m);
  });
});
