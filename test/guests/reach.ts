// What a guest finds of the machine's shared buffers without going through its MMU:
// workerData and the global object's string-keyed properties. Prints one line.
import { workerData } from 'node:worker_threads';
import { print } from 'ptlab/userland';

export default function main(): number {
  const shared = (v: unknown) => v instanceof SharedArrayBuffer || (ArrayBuffer.isView(v) && v.buffer instanceof SharedArrayBuffer);
  const inWorkerData = Object.entries((workerData ?? {}) as Record<string, unknown>).filter(([, v]) => shared(v)).map(([k]) => k);
  const inGlobals = Object.getOwnPropertyNames(globalThis).filter((k) => {
    try {
      return shared((globalThis as Record<string, unknown>)[k]);
    } catch {
      return false;
    }
  });
  print(`workerData keys ${Object.keys((workerData ?? {}) as object).length}, shared in workerData [${inWorkerData.join(',')}], shared in globals [${inGlobals.join(',')}]`);
  return 0;
}
