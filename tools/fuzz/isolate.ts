// A fuzz run in a child process of its own. A guest can do worse than crash the kernel
// thread: a fatal V8 error in any worker (an array grown past V8's limit, a heap
// exhausted) aborts the whole host process, and with it the fuzzer. So the machine runs in
// a child process (bin/fuzz.mjs with PTLAB_FUZZ_CHILD set), which sends its progress about
// every second and its result at the end; if it dies without a result, the run's failure
// is a crash of the host process, with how far every process had got and the child's last
// stderr lines (V8's message), so that the reproducer can still be written. A time limit
// (the minimizer's budget) kills the child and ends the run without a failure.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { newProfile } from './profile.ts';
import { type Jobs, type MachineSpec, type RunOptions, type RunResult, runJobs } from './run.ts';

const ENTRY = fileURLToPath(new URL('../../bin/fuzz.mjs', import.meta.url));
export const CHILD_ENV = 'PTLAB_FUZZ_CHILD';

type FromChild =
  | { t: 'progress'; progress: Map<number, number[]>; live: number[]; calls: number }
  | { t: 'exit'; calls: number }
  | { t: 'result'; result: RunResult };

interface Request {
  spec: MachineSpec;
  jobs: Jobs;
  concurrency: number;
  watchdogMs: number;
  checkLeaks: boolean;
}

/** runJobs in a child process; a death of that process is a 'crash' failure. */
export function runIsolated(spec: MachineSpec, jobs: Jobs, o: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const child = fork(ENTRY, [], { env: { ...process.env, [CHILD_ENV]: '1' }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let last: { progress: Map<number, number[]>; live: number[]; calls: number } = { progress: new Map(), live: [], calls: 0 };
  let result: RunResult | null = null;
  let cutShort = false;
  const limit = o.timeLimitMs === undefined ? undefined : setTimeout(() => {
    cutShort = true;
    child.kill('SIGKILL');
  }, Math.max(0, o.timeLimitMs));
  child.on('message', (m: FromChild) => {
    if (m.t === 'progress') {
      last = m;
      o.onProgress?.(m.progress, m.live, m.calls);
    }
    else if (m.t === 'exit') o.onExit?.(m.calls);
    else result = m.result;
  });
  child.send({ spec, jobs, concurrency: o.concurrency, watchdogMs: o.watchdogMs, checkLeaks: o.checkLeaks ?? true } satisfies Request);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      if (result !== null) return resolve(result);
      const common = {
        calls: last.calls, seconds: (performance.now() - t0) / 1000, tally: {}, ends: {}, progress: last.progress, live: last.live,
        kernelLog: [], guestErrors: [], slow: [], kernel: {}, profile: newProfile(), deadlocks: [],
      };
      if (cutShort) return resolve({ failure: null, cutShort: true, ...common });
      const v8 = stderr.split('\n').filter((l) => /\S/.test(l) && !/^\s*\d+: 0x/.test(l)).slice(-8).join(' | ');
      resolve({
        failure: { kind: 'crash', detail: `the host process died (exit ${code}, signal ${signal}): ${v8}`, inflight: [] }, ...common,
      });
    });
  });
}

/** The child's side: take one request, run it, send progress and the result. */
export function childMain(): void {
  process.once('message', (r: Request) => {
    let lastSent = 0;
    void runJobs(r.spec, r.jobs, {
      concurrency: r.concurrency, watchdogMs: r.watchdogMs, checkLeaks: r.checkLeaks,
      onExit: (calls) => process.send!({ t: 'exit', calls } satisfies FromChild),
      onProgress: (progress, live, calls) => {
        if (Date.now() - lastSent < 1000) return;
        lastSent = Date.now();
        process.send!({ t: 'progress', progress, live, calls } satisfies FromChild);
      },
    }).then((result) => {
      process.send!({ t: 'result', result } satisfies FromChild, () => process.exit(0));
    });
  });
}
