// A second thread playing the kernel for concurrency.test.ts: it flips one live PTE between
// two mappings whose `hi` words differ (frame A with NX, frame B without) until told to stop.

import { parentPort, workerData } from 'node:worker_threads';
import {
  _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, ControlBlock, mkPteHi, mkPteLo, PageTableOps, PhysMem,
} from '../../machine/index.ts';

const { memBuffer, cbBuffer, word, pfnA, pfnB, stop } = workerData.data as {
  memBuffer: SharedArrayBuffer; cbBuffer: SharedArrayBuffer; word: number; pfnA: number; pfnB: number; stop: SharedArrayBuffer;
};
const ops = new PageTableOps(PhysMem.fromBuffer(memBuffer), ControlBlock.fromBuffer(cbBuffer));
const flags = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER;
const stopFlag = new Int32Array(stop);
let edits = 0;
while (Atomics.load(stopFlag, 0) === 0) {
  const toA = (edits & 1) === 0;
  const pfn = toA ? pfnA : pfnB;
  ops.ptepModify(word, mkPteLo(pfn, flags), mkPteHi(pfn, toA), true);
  edits++;
  // Leave the walker a window now and then, as a real kernel does between edits.
  for (let spin = 0; spin < 64; spin++) Atomics.load(stopFlag, 0);
}
parentPort?.postMessage(edits);
