// A bare worker that sits idle (its event loop waits for a message) until 'stop' arrives over
// the BroadcastChannel named workerData: the reference for the idle-memory benchmark.
import { workerData } from 'node:worker_threads';

const ch = new BroadcastChannel(workerData);
ch.onmessage = (ev) => {
  if (ev.data === 'stop') ch.close();
};
ch.postMessage('ready');
