// Kernel benchmarks against the raw host operation measured in the same run (DESIGN.md
// section 8). Run with `npm run bench`. Targets:
//
//   getpid round trip        <= 1.5x a raw SharedArrayBuffer ping-pong between two threads
//                                  with the same wait policy
//   first-touch fault        <= 2x a getpid round trip
//   process spawn            <= 1.5x creating a bare worker that runs an empty module
//
// and, with no target, fork of a process with 64 MiB of touched anonymous memory against
// mmap + first touch of the same 16,384 pages, with the fork time per MiB.
//
// The round trips are timed inside the threads that make them (a guest process, a client
// worker) in batches; the summary at the end gives the per-operation times and ratios.

import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { afterAll, bench, describe } from 'vitest';
import { Machine } from '../../host/machine.ts';

const SPIN = 2000;
const BATCH = 2000;
const guest = (name: string) => fileURLToPath(new URL(`../guests/${name}.ts`, import.meta.url));
const samples = new Map<string, number[]>();
function record(name: string, v: number): void {
  samples.set(name, [...(samples.get(name) ?? []), v]);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Raw ping-pong pair.
const sab = new SharedArrayBuffer(16);
const server = new Worker(new URL('./pingpong.worker.mjs', import.meta.url), { workerData: { sab, role: 'server', spin: SPIN } });
const client = new Worker(new URL('./pingpong.worker.mjs', import.meta.url), { workerData: { sab, role: 'client', spin: SPIN } });
function pingPong(n: number): Promise<number> {
  return new Promise((resolve) => {
    client.once('message', resolve);
    client.postMessage(n);
  });
}

// A machine with one long-running guest that runs batches on request.
const machine = await Machine.boot({ memBytes: 256 << 20, spin: SPIN, output: () => undefined });
const ch = new BroadcastChannel('ptlab-bench');
const pending: ((v: number) => void)[] = [];
ch.onmessage = (ev: MessageEvent) => pending.shift()?.((ev.data as { perOp: number }).perOp);
const ready = new Promise<number>((resolve) => pending.push(resolve)); // the guest says 'ready'
const benchPid = await machine.spawn(guest('bench'));
await ready;
function inGuest(op: string, n: number): Promise<number> {
  return new Promise((resolve) => {
    pending.push(resolve);
    ch.postMessage({ op, n });
  });
}
await inGuest('getpid', 100); // the guest is up and warm

const emptyUrl = new URL('./empty.worker.mjs', import.meta.url);
const emptyGuest = guest('empty');
await machine.run(emptyGuest); // bundle it once

afterAll(async () => {
  const { metadataBytesPerFrame } = await machine.meminfo();
  ch.postMessage({ op: 'stop', n: 0 });
  await machine.waitExit(benchPid);
  await machine.shutdown();
  Atomics.store(new Int32Array(sab), 0, -1);
  Atomics.notify(new Int32Array(sab), 0);
  await Promise.all([client.terminate(), server.terminate()]);
  const rows: [string, string, string, number, number][] = [
    ['getpid round trip', 'raw SAB ping-pong', '1.5x', median(samples.get('getpid') ?? [NaN]), median(samples.get('raw') ?? [NaN])],
    ['first-touch fault', 'getpid round trip', '2x', median(samples.get('fault') ?? [NaN]), median(samples.get('getpid') ?? [NaN])],
    ['process spawn', 'bare worker', '1.5x', median(samples.get('spawn') ?? [NaN]), median(samples.get('worker') ?? [NaN])],
  ];
  const fork = median(samples.get('fork64') ?? [NaN]);
  const touch = median(samples.get('touch64') ?? [NaN]);
  const lines = rows.map(([a, b, target, x, y]) =>
    `  ${a.padEnd(20)} ${fmt(x).padStart(10)}   vs ${b.padEnd(18)} ${fmt(y).padStart(10)}   ratio ${(x / y).toFixed(2).padStart(6)}x   target <= ${target}`);
  lines.push(`  ${'fork, 64 MiB touched'.padEnd(20)} ${fmt(fork).padStart(10)}   vs ${'mmap + first touch'.padEnd(18)} ${fmt(touch).padStart(10)}   ratio ${(fork / touch).toFixed(3).padStart(6)}x   fork ${fmt(fork / 64)} per MiB`);
  lines.push(`  ${'kernel metadata per 4 KiB frame'.padEnd(20)} ${`${metadataBytesPerFrame} bytes`.padStart(10)}   target <= 24 bytes`);
  console.log(`\nptlab kernel benchmarks (medians of the timed batches):\n${lines.join('\n')}\n`);
});

function fmt(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(2)} us`;
}

const opts = { time: 2000, warmupTime: 300 };

describe('syscall round trip', () => {
  bench(`raw SAB ping-pong x${BATCH}`, async () => record('raw', await pingPong(BATCH)), opts);
  bench(`getpid x${BATCH}`, async () => record('getpid', await inGuest('getpid', BATCH)), opts);
});

describe('first-touch fault', () => {
  bench(`getpid x${BATCH}`, async () => record('getpid', await inGuest('getpid', BATCH)), opts);
  bench(`first-touch fault x${BATCH}`, async () => record('fault', await inGuest('fault', BATCH)), opts);
});

describe('process spawn', () => {
  bench('bare worker running an empty module', async () => {
    const t0 = performance.now();
    const w = new Worker(emptyUrl);
    await new Promise((resolve) => w.once('exit', resolve));
    record('worker', performance.now() - t0);
  }, opts);
  bench('ptlab spawn + exit + reap of an empty program', async () => {
    const t0 = performance.now();
    await machine.run(emptyGuest);
    record('spawn', performance.now() - t0);
  }, opts);
});

describe('fork', () => {
  bench('mmap + first touch of 64 MiB', async () => record('touch64', await inGuest('touch64', 1)), { time: 3000, warmupTime: 0, iterations: 3 });
  bench('fork of a process with 64 MiB touched', async () => record('fork64', await inGuest('fork64', 1)), { time: 3000, warmupTime: 0, iterations: 5 });
});
