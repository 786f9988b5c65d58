// The soak's host side: boot one machine and run its three phases on it, block after block,
// sampling after each block once its processes have exited:
//   spawn  cycles of a parent spawning a child and reaping it, a thread created and joined
//          on each side (guest.ts 'spawn');
//   maps   mmap/mprotect/munmap calls from a few processes at once (guest.ts 'maps');
//   fork   cycles of fork under memory pressure: private pages filled, children rewriting
//          half of them, reclaim swapping (guest.ts 'fork').
// A sample is the block's wall time, the host process's RSS (the kernel thread and every CPU
// worker are threads of this process: it is the whole machine's host memory), and the
// machine's free frames, swap slots and live processes once the block's processes are gone.
// After every block free frames must be back to the boot count and no swap slot used: a
// difference that outlasts `settleMs` is a leak and ends the soak.

import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Machine, type MemInfo, type ProcessExit } from '../../host/machine.ts';
import type { CounterValues } from '../../machine/index.ts';
import { yardsticks } from './reference.ts';

export const GUEST = fileURLToPath(new URL('./guest.ts', import.meta.url));

export type PhaseName = 'spawn' | 'maps' | 'fork';

export interface SoakConfig {
  /** Spawn cycles in all, and per block. */
  cycles: number;
  cycleBlock: number;
  /** mmap/mprotect/munmap calls in all, and per block (split over `procs` processes). */
  calls: number;
  callBlock: number;
  procs: number;
  /** Fork cycles in all, and per block; private pages each cycle fills; children per cycle. */
  forks: number;
  forkBlock: number;
  forkPages: number;
  forkKids: number;
  memBytes: number;
  swapBytes: number;
  seed: number;
  /** How long teardown may take before a difference from the boot state is a leak. */
  settleMs: number;
  /** How long a block may take before it is a hang. */
  watchdogMs: number;
}

export const DEFAULTS: SoakConfig = {
  cycles: 2000, cycleBlock: 100, calls: 1_000_000, callBlock: 50_000, procs: 3,
  forks: 100, forkBlock: 5, forkPages: 2048, forkKids: 3,
  memBytes: 16 << 20, swapBytes: 64 << 20, seed: 1, settleMs: 20_000, watchdogMs: 900_000,
};

export interface Sample {
  phase: PhaseName;
  block: number;
  /** Cycles or calls done in this phase, this block's included. */
  done: number;
  /** Wall time of the block, until its last process was reaped. */
  ms: number;
  /** The host process's resident set, MiB (after a full GC of the host's main thread and of the kernel thread). */
  rssMiB: number;
  /** The host main thread's V8 heap in use after that GC, MiB (the Machine object's side). */
  heapMiB: number;
  /** The kernel thread's V8 heap in use after a full GC of it, MiB (Machine.kernelHeap: the kernel's objects). */
  kheapMiB: number;
  /** The machine once the block's processes are gone. */
  nrFree: number;
  swapUsed: number;
  procs: number;
  /** Host load average (1 minute) at the sample: what time per block is up against. */
  load: number;
  /** Raw host operations timed right after the block (reference.ts): a worker's start and end, 1,000 Atomics round trips. */
  workerMs: number;
  pingMs: number;
  /** Kernel counters over the block: what work it made the kernel do. */
  syscalls: number;
  pgfault: number;
  pswpout: number;
  pswpin: number;
}

export interface SoakResult {
  bootFree: number;
  nrFrames: number;
  samples: Sample[];
  /** A leak, a guest that failed, or a kernel crash: what ended the soak early (null: none). */
  failure: string | null;
  seconds: number;
}

interface Phase {
  name: PhaseName;
  total: number;
  perBlock: number;
  /** The processes of one block: their argv, given the block's index and size. */
  argvs: (block: number, n: number) => string[][];
}

function phasesOf(c: SoakConfig): Phase[] {
  return [
    { name: 'spawn', total: c.cycles, perBlock: c.cycleBlock, argvs: (_b, n) => [['spawn', String(n)]] },
    {
      name: 'maps', total: c.calls, perBlock: c.callBlock,
      argvs: (b, n) => Array.from({ length: c.procs }, (_, p) => {
        const share = Math.floor(n / c.procs) + (p < n % c.procs ? 1 : 0);
        return ['maps', String(c.seed * 1_000_003 + b * c.procs + p), String(share)];
      }),
    },
    { name: 'fork', total: c.forks, perBlock: c.forkBlock, argvs: (_b, n) => [['fork', String(n), String(c.forkPages), String(c.forkKids)]] },
  ];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** p's value, or null if it takes longer than ms (the timer is cleared either way). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const clean = (info: MemInfo): boolean => info.procs === 0 && info.nrFree === info.bootFree && info.swapUsed === 0;

/** Poll until no process is left and frames and swap are back to the boot state, or `ms` passed. */
export async function settle(m: Machine, ms: number): Promise<MemInfo> {
  const until = Date.now() + ms;
  let info = await m.meminfo();
  while (!clean(info) && Date.now() < until) {
    await sleep(20);
    info = await m.meminfo();
  }
  return info;
}

/** What a settled machine still holds that it held not at boot, or null: the leak check. */
export function leakOf(info: MemInfo): string | null {
  if (clean(info)) return null;
  return `${info.bootFree - info.nrFree} frames not free (boot ${info.bootFree}, now ${info.nrFree}), ${info.swapUsed} swap slots used, ${info.procs} processes left`;
}

/**
 * V8's gc() for this (the host's main) thread. The kernel thread is collected through
 * Machine.kernelHeap; the CPU workers collect on their own schedule (those of the block
 * have ended by the sample).
 */
function hostGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const delta = (a: CounterValues, b: CounterValues, k: string): number => (b[k] ?? 0) - (a[k] ?? 0);

function exitProblem(e: ProcessExit, stderr: Map<number, string>): string | null {
  if (e.exitCode === 0) return null;
  const why = e.signal !== null ? e.report : `exit ${e.exitCode}`;
  return `pid ${e.pid} (${e.path.replace(/.*\//, '')}): ${why}${stderr.has(e.pid) ? `: ${stderr.get(e.pid)!.trim()}` : ''}`;
}

/**
 * Run the soak. `onSample` sees each sample as it is taken (progress output). Never throws
 * for what the machine does: a crash, a leak or a failed guest is in the result.
 */
export async function soak(c: SoakConfig, onSample?: (s: Sample) => void): Promise<SoakResult> {
  const t0 = performance.now();
  const stderr = new Map<number, string>();
  const dec = new TextDecoder();
  const m = await Machine.boot({
    memBytes: c.memBytes, swapBytes: c.swapBytes, nrCpus: 64, maxProcs: 64, klog: false, keepExits: false,
    output: (pid, fd, data) => {
      if (fd === 2) stderr.set(pid, ((stderr.get(pid) ?? '') + dec.decode(data)).slice(-2000));
    },
  });
  const samples: Sample[] = [];
  const gc = hostGc();
  let failure: string | null = null;
  let boot: MemInfo | undefined;
  try {
    boot = await m.meminfo();
    for (const phase of phasesOf(c)) {
      for (let b = 0, done = 0; done < phase.total && failure === null; b++) {
        const n = Math.min(phase.perBlock, phase.total - done);
        const k0 = m.kernelCounters();
        const start = performance.now();
        const exits = await within(Promise.all(phase.argvs(b, n).map((argv) => m.run(GUEST, argv))), c.watchdogMs);
        if (exits === null) {
          failure = `hang: ${phase.name} block ${b} did not end within ${c.watchdogMs / 1000} s`;
          break;
        }
        const ms = performance.now() - start;
        const k1 = m.kernelCounters();
        done += n;
        failure = exits.map((e) => exitProblem(e, stderr)).find((p) => p !== null) ?? null;
        stderr.clear();
        const info = await settle(m, c.settleMs);
        const kheap = await m.kernelHeap();
        gc();
        const mem = process.memoryUsage();
        const ref = await yardsticks();
        const s: Sample = {
          phase: phase.name, block: b, done, ms, rssMiB: mem.rss / 2 ** 20, heapMiB: mem.heapUsed / 2 ** 20, kheapMiB: kheap.used / 2 ** 20, nrFree: info.nrFree,
          swapUsed: info.swapUsed, procs: info.procs, load: loadavg()[0], ...ref, syscalls: delta(k0, k1, 'syscalls'),
          pgfault: delta(k0, k1, 'pgfault'), pswpout: delta(k0, k1, 'pswpout'), pswpin: delta(k0, k1, 'pswpin'),
        };
        samples.push(s);
        onSample?.(s);
        const leak = leakOf(info);
        if (failure === null && leak !== null) failure = `leak after ${phase.name} block ${b}: ${leak}, ${c.settleMs} ms after the block's last exit`;
      }
      if (failure !== null) break;
    }
  } catch (e) {
    failure = `the machine failed: ${m.crashed?.message ?? (e instanceof Error ? e.message : String(e))}`;
  } finally {
    await m.shutdown();
  }
  return { bootFree: boot?.bootFree ?? 0, nrFrames: boot?.nrFrames ?? 0, samples, failure, seconds: (performance.now() - t0) / 1000 };
}
