// Entry of every ptlab worker thread: teach this thread's module loader TypeScript (tsx),
// then import the real entry module. Node 20 does not carry a parent's loader hooks into a
// worker, and `--import tsx` in a worker's execArgv is not honoured there either.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
