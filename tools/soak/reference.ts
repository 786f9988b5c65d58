// The soak's yardsticks: raw host operations timed after each block, under whatever load the
// host has then, so that time per cycle can be judged against them rather than against the
// clock alone (a host twice as loaded slows both). Each is the kind of work a phase's cycle
// is made of, without any ptlab state that could grow:
//   workerMs  start a bare Node worker, hear from it, terminate it (a spawned process, a
//             thread and a fork child are each a worker started and ended);
//   pingMs    1,000 Atomics round trips with a worker (a system call is one: the CPU worker
//             posts it and waits, the kernel thread is woken, answers and wakes it).
// Each is the median of three tries.

import { Worker } from 'node:worker_threads';
import { median } from './verdict.ts';

const PINGS = 1000;

const HELLO = `require('node:worker_threads').parentPort.postMessage(0);`;

/** The worker's side of the ping-pong: for each odd value the host stores, store the next even one. */
const PONG = `
const { parentPort, workerData } = require('node:worker_threads');
const a = new Int32Array(workerData.sab);
parentPort.postMessage(0);
for (let i = 1; i <= workerData.n; i++) {
  while (Atomics.load(a, 0) !== 2 * i - 1) Atomics.wait(a, 0, 2 * i - 2);
  Atomics.store(a, 0, 2 * i);
  Atomics.notify(a, 0);
}`;

function started(w: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
}

async function workerOnce(): Promise<number> {
  const t0 = performance.now();
  const w = new Worker(HELLO, { eval: true, execArgv: [] });
  await started(w);
  await w.terminate();
  return performance.now() - t0;
}

async function pingOnce(): Promise<number> {
  const sab = new SharedArrayBuffer(4);
  const a = new Int32Array(sab);
  const w = new Worker(PONG, { eval: true, execArgv: [], workerData: { sab, n: PINGS } });
  await started(w);
  const t0 = performance.now();
  for (let i = 1; i <= PINGS; i++) {
    Atomics.store(a, 0, 2 * i - 1);
    Atomics.notify(a, 0);
    while (Atomics.load(a, 0) !== 2 * i) Atomics.wait(a, 0, 2 * i - 1, 1000);
  }
  const ms = performance.now() - t0;
  await w.terminate();
  return ms;
}

export interface Yardsticks {
  workerMs: number;
  pingMs: number;
}

export async function yardsticks(): Promise<Yardsticks> {
  const w: number[] = [];
  const p: number[] = [];
  for (let i = 0; i < 3; i++) {
    w.push(await workerOnce());
    p.push(await pingOnce());
  }
  return { workerMs: median(w), pingMs: median(p) };
}
