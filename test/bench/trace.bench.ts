// Traces (README.md, "Traces"). Rows for the table printed at the end (report.ts):
//
//   replay speed       accesses per second replayed through the TLB model (ptlab replay's
//                      replayTrace, reading the file included) against accesses per second
//                      of the live run of the same program, boot to shutdown: what re-running
//                      the program for another TLB design costs. Target >= 10x.
//   recording cost     the same live run with --record (file written) against without.
//                      Target <= 2x.
//
// The program is examples/tlb-reach.ts (random and sequential loads over working sets up to
// 16 MiB, 4 KiB pages and THP). Each round runs the plain run, the recorded run and the
// replay one after the other, so a round's ratios come from the same stretch of host load.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bench, describe } from 'vitest';
import { Machine } from '../../host/machine.ts';
import { replayTrace, saveTrace } from '../../host/trace/run.ts';
import { firstCallOnly, ONCE, recordRow } from './report.ts';

const PROGRAM = fileURLToPath(new URL('../../examples/tlb-reach.ts', import.meta.url));
const ARGS = ['--loads', '50000', '--max-mib', '16'];
const ROUNDS = 5;
const dir = mkdtempSync(join(tmpdir(), 'ptlab-trace-bench-'));

/** One live run, boot to shutdown: ms, and the trace file if recorded. */
async function live(record: string | null): Promise<number> {
  const t0 = performance.now();
  const m = await Machine.boot({ memBytes: 256 << 20, klog: false, record: record !== null, output: () => undefined });
  const e = await m.run(PROGRAM, ARGS);
  await m.shutdown();
  if (e.exitCode !== 0) throw new Error(`tlb-reach exited ${e.exitCode}`);
  if (record !== null) saveTrace(record, m, ['tlb-reach', ...ARGS]);
  return performance.now() - t0;
}

describe('traces', () => {
  bench('replay against the live run; recording against not', firstCallOnly(async () => {
    const file = join(dir, 'reach.ptrace');
    await live(file); // warm the bundle cache, and the replayer's code below
    replayTrace(file);
    const rate = { measured: [] as number[], reference: [] as number[] };
    const cost = { measured: [] as number[], reference: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      const plain = await live(null);
      const recorded = await live(file);
      const t0 = performance.now();
      const r = replayTrace(file);
      const replayMs = performance.now() - t0;
      const accesses = r.machine.counters.dtlb_loads + r.machine.counters.dtlb_stores;
      rate.measured.push(accesses / (replayMs / 1000));
      rate.reference.push(accesses / (plain / 1000));
      cost.measured.push(recorded);
      cost.reference.push(plain);
    }
    rmSync(dir, { recursive: true, force: true });
    const what = `tlb-reach ${ARGS.join(' ')}`;
    recordRow({ order: 110, what: `trace replay, accesses/s (${what})`, refName: 'live run of the same program, boot to exit', unit: 'rate', ...rate, target: 10, atLeast: true });
    recordRow({ order: 111, what: `run with --record (${what})`, refName: 'the same run without', unit: 'time', ...cost, target: 2 });
  }), ONCE);
});
