// The raw host operation the syscall round trip is measured against: two threads ping-pong
// over a SharedArrayBuffer with the same wait policy as a CPU and the kernel: spin, then
// Atomics.wait, and notify only a side that announced it sleeps (machine/doorbell.ts).
// Role 'server' answers until told to stop; role 'client' runs batches on request.
import { parentPort, workerData } from 'node:worker_threads';

const { sab, role, spin } = workerData;
const w = new Int32Array(sab); // [0] request, [1] reply, [2] server sleeps, [3] client sleeps

function sleepWhile(word, value, flag) {
  Atomics.store(w, flag, 1);
  if (Atomics.load(w, word) === value) Atomics.wait(w, word, value, 1000);
  Atomics.store(w, flag, 0);
}

function post(word, value, flag) {
  Atomics.store(w, word, value);
  if (Atomics.load(w, flag) !== 0) Atomics.notify(w, word);
}

if (role === 'server') {
  let seen = 0;
  for (;;) {
    let n = 0;
    while (Atomics.load(w, 0) === seen) {
      if (++n > spin) sleepWhile(0, seen, 2);
    }
    seen = Atomics.load(w, 0);
    if (seen < 0) break;
    post(1, seen, 3);
  }
} else {
  let seq = 0;
  parentPort.on('message', (count) => {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      seq++;
      post(0, seq, 2);
      let n = 0;
      while (Atomics.load(w, 1) !== seq) {
        if (++n > spin) sleepWhile(1, seq - 1, 3);
      }
    }
    parentPort.postMessage((performance.now() - t0) / count);
  });
}
