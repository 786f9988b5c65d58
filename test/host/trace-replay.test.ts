// Record then replay: the TLB model driven by the trace alone gives every TLB counter the
// live run gave, for every example program that runs as a guest, under every preset.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, it } from 'vitest';
import { PRESETS } from '../../machine/tlbconfig.ts';
import { Machine } from '../../host/machine.ts';
import { readTrace } from '../../host/trace/file.ts';
import { replayTrace, saveTrace, tlbCounterNames } from '../../host/trace/run.ts';

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}.ts`, import.meta.url));
/**
 * Every guest example, with arguments as small as its options allow while it still takes
 * each of its paths (its ways, a second process or thread where it has them): what the test
 * needs is every kind of event in a trace, not many of them.
 */
const EXAMPLES: [string, string[]][] = [
  ['first', ['64']],
  ['dirty-tracking', ['--pages', '24', '--frames', '4']],
  ['map-fixed', ['--rounds', '5', '--threads', '1', '--pages', '4']],
  ['reach-point', ['--size', '1M', '--loads', '3000']],
  // More pages than a page table maps: each mapping takes and frees one, as at the default.
  ['refpage', ['--iterations', '1', '--pages', '520']],
  ['rmap-cost', ['--size-mib', '0.25', '--procs', '2', '--ways', 'file']],
  ['sga', ['--size-mib', '2', '--clients', '1']],
  ['tlb-reach', ['--loads', '500', '--max-mib', '1']],
  ['zygote', ['--image-mib', '0.25', '--apps', '2']],
];

const dir = mkdtempSync(join(tmpdir(), 'ptlab-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Per pid, the TLB counters that differ between the live run and the replay. */
function differences(live: { pid: number; counters: Record<string, number> }[], replayed: { pid: number; counters: Record<string, number> }[]): string[] {
  const out: string[] = [];
  for (const p of live) {
    const r = replayed.find((q) => q.pid === p.pid);
    for (const n of tlbCounterNames()) if ((r?.counters[n] ?? -1) !== p.counters[n]) out.push(`pid ${p.pid} ${n}: live ${p.counters[n]}, replay ${r?.counters[n]}`);
  }
  return out;
}

// The presets' machines, and the other configuration's, run at once (each on its own machine,
// so nothing one does reaches another's counters): the file takes about the time of its
// longest test instead of the sum.
describe.concurrent('record then replay', () => {
  for (const preset of Object.keys(PRESETS)) {
    it(`reproduces every TLB counter of every example under ${preset}`, async ({ expect }) => {
      // 64 MiB holds every example; rmap-cost fills memory down to its watermarks, so less is faster.
      const m = await Machine.boot({ memBytes: 64 << 20, swapBytes: 32 << 20, nrCpus: 32, klog: false, preset, record: true, output: () => undefined });
      const ran: string[] = [];
      for (const [name, args] of EXAMPLES) {
        const e = await m.run(example(name), args);
        ran.push(`${name}: exit ${e.exitCode} signal ${e.signal}`);
      }
      expect(ran.filter((r) => !r.endsWith('exit 0 signal null'))).toEqual([]);
      await m.shutdown();
      const file = join(dir, `${preset}.ptrace`);
      saveTrace(file, m, ['examples']);
      const trace = readTrace(file);
      expect(trace.header.config.preset).toBe(preset);
      expect(trace.header.streams.length).toBeGreaterThanOrEqual(EXAMPLES.length);
      const report = replayTrace(trace);
      expect(differences(m.exits, report.processes), ran.join('\n')).toEqual([]);
      expect(m.exits.reduce((n, e) => n + e.counters.dtlb_loads, 0)).toBeGreaterThan(10_000);
    }, 120_000);
  }
});

const MIX = fileURLToPath(new URL('../guests/trace-mix.ts', import.meta.url));

/** A run of test/guests/trace-mix.ts under `preset` and `policy`: its processes' counters, and its trace if recorded. */
async function mix(preset: string, policy: 'lru' | 'plru', record: boolean): Promise<{ exits: Machine['exits']; file: string; exitCode: number | null }> {
  const m = await Machine.boot({ memBytes: 64 << 20, nrCpus: 8, klog: false, preset, policy, record, output: () => undefined });
  const e = await m.run(MIX, ['2']);
  await m.shutdown();
  const file = join(dir, `mix-${preset}-${policy}.ptrace`);
  if (record) saveTrace(file, m, ['trace-mix']);
  return { exits: m.exits, file, exitCode: e.exitCode };
}

describe.concurrent('replay under another configuration', () => {
  it('equals a live run under that configuration (a single-threaded deterministic guest)', async ({ expect }) => {
    const others = [['haswell', 'lru'], ['teaching', 'lru'], ['skylake', 'plru']] as const;
    // The recorded run and the live runs under the other configurations, at once.
    const [recorded, ...lives] = await Promise.all([mix('skylake', 'lru', true), ...others.map(([preset, policy]) => mix(preset, policy, false))]);
    expect([recorded, ...lives].map((r) => r.exitCode)).toEqual([0, ...others.map(() => 0)]);
    expect(differences(recorded.exits, replayTrace(recorded.file).processes)).toEqual([]);
    others.forEach(([preset, policy], i) => {
      const config = { geometry: PRESETS[preset], policy, seed: 1 };
      expect(differences(lives[i].exits, replayTrace(recorded.file, config).processes), `${preset} ${policy}`).toEqual([]);
    });
  }, 120_000);
});
