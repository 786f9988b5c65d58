// The trace format: the writer's records come back from the reader, CSV round-trips, and
// the analyses count what they say.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { kindOf, T_CR3, T_IPI, T_WALK, packWalk, TraceWriter, traceBuffer } from '../../machine/traceformat.ts';
import { fromCsv, reuseHistogram, toCsvLines, workingSets } from '../../host/trace/analyses.ts';
import { readTrace, writeTrace } from '../../host/trace/file.ts';
import { accesses, records } from '../../host/trace/reader.ts';
import { PRESETS } from '../../machine/tlbconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'ptlab-trace-format-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const UR = kindOf(4);
const UW = kindOf(6);

/** A trace of one stream written by `write`, with chunks of at most `small` bytes if given. */
function traceOf(write: (w: TraceWriter) => void): string {
  const w = new TraceWriter(traceBuffer());
  const chunks: Uint8Array[] = [];
  w.onChunk = (b) => chunks.push(deflateRawSync(b));
  write(w);
  chunks.push(deflateRawSync(w.finish()));
  const file = join(dir, `t${Math.random().toString(36).slice(2)}.ptrace`);
  writeTrace(file, {
    command: ['test'],
    config: { preset: 'skylake', policy: 'lru', seed: 1, geometry: PRESETS.skylake, pcide: false, pge: true, memBytes: 1 << 20, nrCpus: 1, options: {} },
    processes: [{ pid: 7, ppid: 0, path: 'test', exitCode: 0, signal: null, counters: {} }],
  }, [{ cpu: 3, pid: 7, tid: 9, chunks }]);
  return file;
}

describe('trace format', () => {
  it('reads back runs, deltas both ways, large pages and events', () => {
    const file = traceOf((w) => {
      w.event(T_CR3, 0, 1234, 0);
      for (let i = 0; i < 5; i++) w.access(0x7fff_ffff_f, UR);
      w.access(0x10, UW);
      w.event(T_WALK, 0, packWalk(true, 1, 0b01011, 1, 1, 0));
      w.access(0x11, UR);
      w.event(T_IPI, 1, 0, 2 ** 40, 2 ** 40 + 2 ** 21, 12);
    });
    const rs = [...records(file)].map((r) => `${r.type} ${r.param} ${r.a} ${r.b}`);
    expect(rs).toEqual([
      'cr3 0 1234 0', `access ${UR} ${0x7fff_ffff_f} 5`, `access ${UW} 16 1`, `walk 0 ${packWalk(true, 1, 0b01011, 1, 1, 0)} 0`,
      `access ${UR} 17 1`, `ipi 1 0 ${2 ** 40}`,
    ]);
    const as = [...accesses(file)];
    expect(as).toHaveLength(7);
    expect(as[0]).toEqual({ cpu: 3, pid: 7, tid: 9, page: 0x7fff_ffff_f, shift: 12, write: false });
    // The walk after page 0x10 translated a 2 MiB page: 0x11 is in it.
    expect(as.slice(5).map((a) => [a.page, a.shift, a.write])).toEqual([[16, 21, true], [17, 21, false]]);
  });

  it('spans chunks and round-trips through CSV record for record', () => {
    const file = traceOf((w) => {
      for (let i = 0; i < 400_000; i++) w.access((i * 7919) % 5000, i % 3 === 0 ? UW : UR);
    });
    const t = readTrace(file);
    expect(t.chunks[0].length).toBeGreaterThan(1);
    const csv = [...toCsvLines(t)].join('\n');
    const back = join(dir, 'back.ptrace');
    fromCsv(csv, back);
    expect([...records(back)]).toEqual([...records(file)]);
    expect(readTrace(back).header).toEqual(t.header);
  });

  it('reuse distances and working sets', () => {
    // Pages 1 2 3 1 1 2: cold x3, distance 2 (1 after 2, 3), 0 (1 again), 2 (2 after 3, 1).
    const file = traceOf((w) => {
      for (const p of [1, 2, 3, 1]) w.access(p, UR);
      w.access(1, UW);
      w.access(2, UR);
    });
    const h = reuseHistogram(readTrace(file));
    expect(Object.fromEntries(h)).toEqual({ cold: 3, '2-3': 2, '0': 1 });
    const ws = [...workingSets(readTrace(file), 4)].map((r) => [r.index, r.accesses, r.pages]);
    expect(ws).toEqual([[0, 4, 3], [1, 2, 2]]);
  });
});
