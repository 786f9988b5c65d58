// Worker threads that run TypeScript modules (CPU workers, the kernel thread, test helpers).

import { Worker, type WorkerOptions } from 'node:worker_threads';

const BOOT = new URL('./tsworker-boot.mjs', import.meta.url);

/**
 * Start a worker thread running the TypeScript module at `entry`. The module reads its
 * input from `workerData.data`.
 */
export function startTsWorker(entry: URL, data: unknown, options: Omit<WorkerOptions, 'workerData'> = {}): Worker {
  return new Worker(BOOT, { ...options, workerData: { entry: entry.href, data } });
}
