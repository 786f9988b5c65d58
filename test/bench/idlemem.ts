// One measurement of the idle-memory benchmark (procs.bench.ts), run in a fresh Node process
// so that memory freed by an earlier measurement cannot be reused by this one:
//   node --expose-gc --import tsx test/bench/idlemem.ts guest|bare N
// starts N idle guest processes on a booted machine, or N bare idle workers, waits until
// each says it is up and the process has settled, and prints the growth of this process's
// resident set per guest or worker, in bytes, as JSON. Both kinds start one first (and end
// it) so that loading, bundling and compiling done once per process is not counted.

import { BroadcastChannel, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Machine } from '../../host/machine.ts';

const [kind, nText] = process.argv.slice(2);
const n = Number(nText);
const CHANNEL = `ptlab-idlemem-${process.pid}`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `count` 'ready' messages have come over the channel. */
function readies(ch: BroadcastChannel, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    ch.onmessage = (ev: MessageEvent) => {
      if (ev.data === 'ready' && ++seen === count) resolve();
    };
  });
}

async function rssGrowth(start: (i: number) => void): Promise<number> {
  const ch = new BroadcastChannel(CHANNEL);
  gc();
  await settle(200);
  const before = process.memoryUsage.rss();
  const up = readies(ch, n);
  for (let i = 0; i < n; i++) start(i);
  await up;
  await settle(500);
  gc();
  const after = process.memoryUsage.rss();
  ch.postMessage('stop');
  ch.close();
  return (after - before) / n;
}

async function bare(): Promise<number> {
  const url = new URL('./idle.worker.mjs', import.meta.url);
  const one = new Worker(url, { workerData: CHANNEL, execArgv: [] });
  await new Promise((resolve) => one.once('online', resolve));
  await one.terminate();
  const workers: Worker[] = [];
  const per = await rssGrowth(() => workers.push(new Worker(url, { workerData: CHANNEL, execArgv: [] })));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  return per;
}

async function guests(): Promise<number> {
  const path = fileURLToPath(new URL('../guests/idle.ts', import.meta.url));
  const machine = await Machine.boot({ memBytes: 256 << 20, output: () => undefined });
  const ch = new BroadcastChannel(CHANNEL);
  const one = readies(ch, 1);
  const first = await machine.spawn(path, [CHANNEL]);
  await one;
  ch.postMessage('stop');
  ch.close();
  await machine.waitExit(first);
  const pids: Promise<number>[] = [];
  const per = await rssGrowth(() => pids.push(machine.spawn(path, [CHANNEL])));
  await Promise.all((await Promise.all(pids)).map((pid) => machine.waitExit(pid)));
  await machine.shutdown();
  return per;
}

const per = kind === 'guest' ? await guests() : await bare();
process.stdout.write(`${JSON.stringify({ kind, n, bytesPerProcess: per })}\n`);
process.exit(0);
