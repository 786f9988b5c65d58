// Many processes (DESIGN.md section 8), rows for the table printed at the end (report.ts):
//
//   fault throughput   P guest processes first-touch anonymous pages at once
//                      (test/guests/faulter.ts: map 256 pages, touch each, unmap, again),
//                      each max(4096, 65536/P) pages a round; aggregate faults/s = all faults
//                      / (last end - first start), host time. Every worker is its own V8
//                      isolate that compiles the MMU's fast path for itself: the first
//                      rounds of a fresh process run its code unoptimized (on this machine
//                      one process's first 16,384 faults ran at 30,000/s, its third batch at
//                      400,000/s), so WARM rounds go before the measured ones. Each P runs on a machine of its
//                      own, one after the other (an idle machine with processes on it slowed
//                      a second one's single process from 250,000 to 3,700 faults/s: its
//                      kernel thread polls), so a row's rounds are paired with the
//                      one-process rounds by their order only. Target: 64 processes >= 0.5x
//                      one process, same run. 8 processes is shown too; 256 with
//                      PTLAB_BENCH_256=1 (slow: 256 workers).
//   idle memory        resident memory per idle guest process against a bare idle worker
//                      (test/bench/idlemem.ts, each measurement in a fresh Node process).
//                      Target <= 1.2x.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BroadcastChannel } from 'node:worker_threads';
import { bench, describe } from 'vitest';
import { Machine } from '../../host/machine.ts';
import { firstCallOnly, ONCE, recordRow } from './report.ts';

const CHUNK = 256; // pages mapped, touched and unmapped at a time
const pagesEach = (procs: number): number => Math.max(4096, 65_536 / procs);
const WARM = 3;
const ROUNDS = 3;
const faulter = fileURLToPath(new URL('../guests/faulter.ts', import.meta.url));
const counts = [1, 8, 64, ...(process.env.PTLAB_BENCH_256 === '1' ? [256] : [])];

interface Done { op: string; round: number; t0: number; t1: number }

/** P faulter processes on a machine of their own, idle between rounds. */
class Group {
  private waiting = 0;
  private dones: Done[] = [];
  private wake: () => void = () => undefined;
  private round = 0;

  private constructor(readonly procs: number, readonly machine: Machine, readonly ch: BroadcastChannel, readonly pids: number[]) {}

  static async start(procs: number): Promise<Group> {
    const machine = await Machine.boot({ memBytes: 512 << 20, nrCpus: procs + 8, maxProcs: procs + 8, output: () => undefined });
    const name = `ptlab-procs-${process.pid}-${procs}`;
    const g = new Group(procs, machine, new BroadcastChannel(name), []);
    g.ch.onmessage = (ev: MessageEvent) => g.receive(ev.data as Done);
    const up = g.all();
    const argv = [name, String(pagesEach(procs)), String(CHUNK)];
    g.pids.push(...await Promise.all(Array.from({ length: procs }, () => machine.spawn(faulter, argv))));
    await up;
    return g;
  }

  private receive(m: Done): void {
    if (m.op === 'done') this.dones.push(m);
    if ((m.op === 'ready' || m.op === 'done') && --this.waiting === 0) this.wake();
  }

  private all(): Promise<void> {
    this.waiting = this.procs;
    return new Promise((resolve) => { this.wake = resolve; });
  }

  /** One round: every process first-touches its pages; the aggregate faults/s. */
  async faults(): Promise<number> {
    this.dones = [];
    const done = this.all();
    this.ch.postMessage({ op: 'go', round: this.round++ });
    await done;
    const start = Math.min(...this.dones.map((d) => d.t0));
    const end = Math.max(...this.dones.map((d) => d.t1));
    return (this.procs * pagesEach(this.procs)) / ((end - start) / 1000);
  }

  async stop(): Promise<void> {
    this.ch.postMessage({ op: 'stop', round: 0 });
    const exits = await Promise.all(this.pids.map((pid) => this.machine.waitExit(pid)));
    this.ch.close();
    await this.machine.shutdown();
    const bad = exits.find((e) => e.exitCode !== 0);
    if (bad !== undefined) throw new Error(`faulter pid ${bad.pid}: ${bad.report}`);
  }
}

/** ROUNDS rounds of P processes on a machine of their own, after WARM rounds not counted. */
async function rounds(procs: number): Promise<number[]> {
  const g = await Group.start(procs);
  for (let i = 0; i < WARM; i++) await g.faults();
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) out.push(await g.faults());
  await g.stop();
  return out;
}

describe('fault throughput with many processes', () => {
  bench(`${counts.slice(1).join(', ')} processes first-touching pages at once, against 1`, firstCallOnly(async () => {
    const one = await rounds(1);
    for (const p of counts.slice(1)) {
      recordRow({
        order: p === 64 ? 80 : 80 + p / 1000, what: `first-touch faults, ${p} processes at once${p === 64 ? '' : ' (no target)'}`,
        refName: '1 process', unit: 'rate', measured: await rounds(p), reference: one, ...(p === 64 ? { target: 0.5, atLeast: true } : {}),
      });
    }
  }), ONCE);
});

const IDLE = 16;
const MEM_ROUNDS = 3;
const run = promisify(execFile);
const idlemem = fileURLToPath(new URL('./idlemem.ts', import.meta.url));

async function idleBytes(kind: 'guest' | 'bare'): Promise<number> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', idlemem, kind, String(IDLE)], { env: { ...process.env, NODE_OPTIONS: '' } });
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { bytesPerProcess: number }).bytesPerProcess;
}

describe('idle memory', () => {
  bench(`resident memory per idle guest process against a bare idle worker, ${IDLE} of each`, firstCallOnly(async () => {
    const measured: number[] = [];
    const reference: number[] = [];
    for (let i = 0; i < MEM_ROUNDS; i++) {
      reference.push(await idleBytes('bare'));
      measured.push(await idleBytes('guest'));
    }
    recordRow({ order: 90, what: `resident memory per idle guest process (${IDLE} at once)`, refName: 'bare worker idle in an empty module', unit: 'bytes', measured, reference, target: 1.2 });
  }), ONCE);
});
