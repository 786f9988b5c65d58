// Throughput with many processes (DESIGN.md section 8): P processes each run a batch of
// first-touch faults (or getpid calls) at once; the aggregate rate is the operations of all
// of them over the window from the first start to the last end. Target: 64 processes
// faulting at once >= 0.5x one process's aggregate fault rate, measured in the same run.
// Run with `npx vitest bench --run test/bench/scale.bench.ts`.
import { fileURLToPath } from 'node:url';
import { afterAll, bench, describe } from 'vitest';
import { Machine } from '../../host/machine.ts';

const PROCS = [1, 8, 64];
const MAX = PROCS[PROCS.length - 1];
/** Operations per process per batch: about the same total work per round whatever P. */
const FAULTS = (p: number) => Math.max(256, 8192 / p);
const CALLS = (p: number) => Math.max(2000, 64000 / p);

const machine = await Machine.boot({ memBytes: 512 << 20, nrCpus: MAX + 8, output: () => undefined });
const ch = new BroadcastChannel('ptlab-scale');
let onMessage: (m: { op: string; id: number; t0: number; t1: number }) => void = () => undefined;
ch.onmessage = (ev: MessageEvent) => onMessage(ev.data);
const readyAll = new Promise<void>((resolve) => {
  let ready = 0;
  onMessage = (m) => {
    if (m.op === 'ready' && ++ready === MAX) resolve();
  };
});
const guest = fileURLToPath(new URL('../guests/scale.ts', import.meta.url));
const pids: number[] = [];
for (let i = 0; i < MAX; i++) pids.push(await machine.spawn(guest, [String(i)]));
await readyAll;

/** One round: `procs` processes run `n` operations each; the aggregate operations per second. */
function round(op: 'fault' | 'getpid', procs: number, n: number): Promise<number> {
  return new Promise((resolve) => {
    let t0 = Infinity;
    let t1 = 0;
    let done = 0;
    onMessage = (m) => {
      if (m.op !== 'done') return;
      t0 = Math.min(t0, m.t0);
      t1 = Math.max(t1, m.t1);
      if (++done === procs) resolve((procs * (op === 'fault' ? n - 1 : n)) / ((t1 - t0) / 1000));
    };
    ch.postMessage({ op, n, procs });
  });
}

const rates = new Map<string, number[]>();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const opts = { time: 3000, warmupTime: 0, iterations: 5 };

afterAll(async () => {
  ch.postMessage({ op: 'stop', n: 0, procs: 0 });
  for (const pid of pids) await machine.waitExit(pid);
  ch.close();
  await machine.shutdown();
  const lines: string[] = [];
  for (const op of ['fault', 'getpid']) {
    const one = median(rates.get(`${op}/1`) ?? [NaN]);
    for (const p of PROCS) {
      const xs = rates.get(`${op}/${p}`) ?? [NaN];
      const r = median(xs);
      const lo = Math.min(...xs);
      lines.push(`  ${op.padEnd(6)} ${String(p).padStart(3)} procs  median ${fmt(r)}/s  min ${fmt(lo)}/s  ${(r / one).toFixed(2)}x one process${op === 'fault' && p === MAX ? '   target >= 0.5x' : ''}`);
    }
  }
  console.log(`\nptlab throughput (aggregate operations per second, ${opts.iterations}+ rounds each):\n${lines.join('\n')}\n`);
});

function fmt(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`;
}

for (const op of ['fault', 'getpid'] as const) {
  describe(`${op} throughput`, () => {
    for (const p of PROCS) {
      const n = op === 'fault' ? FAULTS(p) : CALLS(p);
      bench(`${p} processes x ${n} ${op}`, async () => {
        const r = await round(op, p, n);
        rates.set(`${op}/${p}`, [...(rates.get(`${op}/${p}`) ?? []), r]);
      }, opts);
    }
  });
}
