// Reclaim under memory pressure: a sequential and a random sweep over a working set of
// twice the machine's memory (64 MiB of memory, 128 MiB swept twice, 256 MiB of swap), in
// faults per second and pages reclaimed per second, against the fault rate of first touches
// with no pressure (48 MiB mapped, touched and unmapped four times) in the same run. Run with `npm run
// bench` (or `npx vitest bench --run test/bench/reclaim.bench.ts`); the summary at the end
// gives the medians. Host time: absolute rates move with host load, the ratios less.

import { fileURLToPath } from 'node:url';
import { afterAll, bench, describe } from 'vitest';
import { Machine } from '../../host/machine.ts';

const MEM_MIB = 64;
const guest = fileURLToPath(new URL('../guests/sweep.ts', import.meta.url));

interface Sweep {
  mode: string;
  pages: number;
  ms: number;
  faults: number;
  major: number;
  reclaimed: number;
  pswpin: number;
  pswpout: number;
  allocstall: number;
}

const out = new Map<number, string>();
const machine = await Machine.boot({
  memBytes: MEM_MIB << 20, swapBytes: 4 * MEM_MIB << 20, klog: false,
  output: (pid, _fd, data) => out.set(pid, (out.get(pid) ?? '') + new TextDecoder().decode(data)),
});
const runs = new Map<string, Sweep[]>();

async function sweep(name: string, argv: string[]): Promise<void> {
  const e = await machine.run(guest, argv);
  const text = out.get(e.pid) ?? '';
  if (e.exitCode !== 0) throw new Error(`sweep ${argv.join(' ')}: exit ${e.exitCode} ${e.report} ${text}`);
  runs.set(name, [...(runs.get(name) ?? []), JSON.parse(text) as Sweep]);
}

afterAll(async () => {
  await machine.shutdown();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (name: string, f: (s: Sweep) => number) => median((runs.get(name) ?? []).map((s) => f(s) / (s.ms / 1000)));
  const base = rate('fit', (s) => s.faults);
  const rows = [['no pressure, first touch', 'fit'], ['sequential, 2x memory, 2 passes', 'seq'], ['random, 2x memory, 2x pages', 'rand']];
  const lines = rows.map(([label, name]) => {
    const faults = rate(name, (s) => s.faults);
    const reclaimed = rate(name, (s) => s.reclaimed);
    const last = runs.get(name)!.at(-1)!;
    return `  ${label.padEnd(34)} ${faults.toFixed(0).padStart(9)} faults/s (${(faults / base).toFixed(2)}x)  ${reclaimed.toFixed(0).padStart(9)} reclaimed/s`
      + `   per sweep: ${last.faults} faults, ${last.major} major, ${last.pswpout} pswpout, ${last.allocstall} allocstall`;
  });
  console.log(`\nptlab reclaim benchmark (${MEM_MIB} MiB of memory, ${4 * MEM_MIB} MiB of swap; medians, host time):\n${lines.join('\n')}\n`);
});

const opts = { time: 0, iterations: 3, warmupTime: 0, warmupIterations: 0 };

describe('reclaim', () => {
  bench('first touch of 3/4 of memory, 4 times (no pressure)', () => sweep('fit', ['fresh', String(MEM_MIB * 3 / 4), '4']), opts);
  bench('sequential sweep over twice memory, 2 passes', () => sweep('seq', ['seq', String(2 * MEM_MIB), '2']), opts);
  bench('random sweep over twice memory, twice as many visits as pages', () => sweep('rand', ['rand', String(2 * MEM_MIB), '2']), opts);
});
