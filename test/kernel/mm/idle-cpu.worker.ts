// CPU 1 for idle-race.test.ts: it goes idle, waits a little, reads the page, now and then
// stays busy for a few reads, and reports what it read: never the poison the kernel writes
// into a frame once a shootdown let it go, and never while still marked idle.

import { parentPort, workerData } from 'node:worker_threads';
import { ControlBlock, CPU_STATE, CPU_USER, cpuI32Base, Mmu, PhysMem } from '../../../machine/index.ts';

const { memBuffer, cbBuffer, root, va, poison, stop } = workerData.data as {
  memBuffer: SharedArrayBuffer; cbBuffer: SharedArrayBuffer; root: number; va: number; poison: number; stop: SharedArrayBuffer;
};
const cb = ControlBlock.fromBuffer(cbBuffer);
const mmu = new Mmu(PhysMem.fromBuffer(memBuffer), cb, 1);
mmu.loadCr3(root);
const state = cpuI32Base(1) + CPU_STATE;
Atomics.store(cb.i32, state, CPU_USER);
const stopFlag = new Int32Array(stop);
let reads = 0;
let poisoned = 0;
let backwards = 0;
let whileIdle = 0;
let last = 0;
let rnd = 12345;
for (let i = 0; Atomics.load(stopFlag, 0) === 0; i++) {
  rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
  if ((rnd & 7) !== 0) mmu.idle(); // one round in eight stays busy
  for (let spin = (rnd >> 8) & 2047; spin > 0; spin--) Atomics.load(stopFlag, 0);
  for (let n = (rnd >> 16) & 3; n >= 0; n--) {
    const v = mmu.load32(va);
    reads++;
    if (Atomics.load(cb.i32, state) !== CPU_USER) whileIdle++; // an access made while marked idle
    if (v === poison) poisoned++;
    else if (v < last) backwards++;
    else last = v;
  }
}
mmu.takeIpis(); // acknowledge what is left, as a thread's exit would
parentPort?.postMessage({ reads, poisoned, backwards, whileIdle });
