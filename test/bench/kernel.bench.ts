// Kernel benchmarks against the raw host operation measured in the same run (DESIGN.md
// section 8). Run with `npm run bench`; the rows go to the table printed at the end
// (report.ts). Targets:
//
//   getpid round trip        <= 1.5x a raw SharedArrayBuffer ping-pong between two threads
//                                  with the same wait policy
//   first-touch fault        <= 2x a getpid round trip
//   process spawn            <= 1.5x creating a bare worker that runs an empty module
//
// and, with no target, fork of a process with 64 MiB of touched anonymous memory against
// mmap + first touch of the same 16,384 pages.
//
// The round trips are timed inside the threads that make them (a guest process, a client
// worker) in batches; each row alternates its subject and its reference within rounds.

import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { afterAll, bench, describe } from 'vitest';
import { firstCallOnly, ONCE, pairedRounds, recordRow } from './report.ts';
import { Machine } from '../../host/machine.ts';

const SPIN = 2000;
const BATCH = 2000;
const guest = (name: string) => fileURLToPath(new URL(`../guests/${name}.ts`, import.meta.url));

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
  ch.postMessage({ op: 'stop', n: 0 });
  await machine.waitExit(benchPid);
  await machine.shutdown();
  Atomics.store(new Int32Array(sab), 0, -1);
  Atomics.notify(new Int32Array(sab), 0);
  await Promise.all([client.terminate(), server.terminate()]);
});

const ROUNDS = 5;

async function bareWorker(): Promise<number> {
  const t0 = performance.now();
  const w = new Worker(emptyUrl);
  await new Promise((resolve) => w.once('exit', resolve));
  return performance.now() - t0;
}

async function spawnEmpty(): Promise<number> {
  const t0 = performance.now();
  await machine.run(emptyGuest);
  return performance.now() - t0;
}

describe('round trips', () => {
  bench(`getpid, batches of ${BATCH}, against a raw SAB ping-pong`, firstCallOnly(async () => {
    const r = await pairedRounds(ROUNDS, () => pingPong(BATCH), () => inGuest('getpid', BATCH), 3);
    recordRow({ order: 30, what: 'getpid round trip', refName: 'raw SAB ping-pong, same wait policy', unit: 'time', ...r, target: 1.5 });
  }), ONCE);
  bench(`first-touch fault, batches of ${BATCH}, against getpid`, firstCallOnly(async () => {
    const r = await pairedRounds(ROUNDS, () => inGuest('getpid', BATCH), () => inGuest('fault', BATCH), 3);
    recordRow({ order: 40, what: 'anonymous first-touch fault', refName: 'getpid round trip', unit: 'time', ...r, target: 2 });
  }), ONCE);
});

describe('process spawn', () => {
  bench('spawn + exit + reap of an empty program, against a bare worker', firstCallOnly(async () => {
    const r = await pairedRounds(ROUNDS, bareWorker, spawnEmpty, 2);
    recordRow({ order: 60, what: 'process spawn, run and reap of an empty program', refName: 'bare worker running an empty module', unit: 'time', ...r, target: 1.5 });
  }), ONCE);
});

describe('fork', () => {
  bench('fork of a process with 64 MiB touched, against mmap + first touch of 64 MiB', firstCallOnly(async () => {
    const r = await pairedRounds(3, () => inGuest('touch64', 1), () => inGuest('fork64', 1));
    recordRow({ order: 100, what: 'fork of a process with 64 MiB touched (no target)', refName: 'mmap + first touch of the 64 MiB', unit: 'time', ...r });
  }), ONCE);
});
