// The entry of every CPU worker: build this CPU's MMU, load CR3, install the Cpu on
// globalThis, import the guest module and run it. A process's main returns its exit status
// (exit_group); a thread's function returns its exit value (exit). An uncaught error is
// printed to the process's stderr and the process dies of SIGABRT, as abort() would.

import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import {
  ControlBlock, CPU_STATE, CPU_USER, cpuI32Base, Mmu, PhysMem, RecordingMmu, tlbConfig, TraceWriter, type PolicyName,
} from '../machine/index.ts';
import { SIGABRT, SYS_exit, SYS_exit_group, SYS_kill } from '../kernel/uapi.ts';
import { Cpu } from './cpu.ts';
import { writeString } from './index.ts';

export interface CpuBoot {
  mem: SharedArrayBuffer;
  control: SharedArrayBuffer;
  cpu: number;
  pid: number;
  tid: number;
  cr3: number;
  preset: string;
  policy: PolicyName;
  /** file: URL of the bundled guest module. */
  guestUrl: string;
  /** The guest's source path (what the process was started from). */
  path: string;
  /** The source path of ptlab's userland library ('ptlab/userland'): its frames are not the guest's own line. */
  userland: string;
  exportName: string;
  argv: string[];
  arg: unknown;
  /** The initial stack pointer (0: no stack in guest memory), and the stack below its page. */
  sp: number;
  stackRoom: number;
  spin: number;
  /** ptlab --record: the shared buffer this CPU writes its trace stream into. */
  trace?: SharedArrayBuffer;
}

const boot = workerData as CpuBoot;
// Host scheduling: on Linux setpriority(PRIO_PROCESS, 0) sets the nice value of the calling
// thread only. A CPU worker runs below the kernel thread, so that with many more workers
// than host cores the kernel is not starved of its share.
setPriority(0, 19);
const cb = ControlBlock.fromBuffer(boot.control);
const mmuOptions = { tlb: tlbConfig(boot.preset, boot.policy) };
let mmu: Mmu;
if (boot.trace === undefined) {
  mmu = new Mmu(PhysMem.fromBuffer(boot.mem), cb, boot.cpu, mmuOptions);
} else {
  const rec = new TraceWriter(boot.trace);
  rec.onChunk = (bytes) => parentPort?.postMessage({ t: 'trace', bytes }, [bytes.buffer as ArrayBuffer]);
  mmu = new RecordingMmu(PhysMem.fromBuffer(boot.mem), cb, boot.cpu, rec, mmuOptions);
}
mmu.loadCr3(boot.cr3);
// The guest runs in this isolate: once the CPU holds the physical-memory and control-block
// buffers, they go from workerData, so no guest code comes upon them there by accident (the
// README's threat model: guest code is trusted JavaScript; isolation is the MMU's).
const captured = boot as Partial<CpuBoot>;
delete captured.mem;
delete captured.control;
const cpu = new Cpu(mmu, cb, boot.cpu, boot.pid, boot.tid, boot.path, boot.spin);
cpu.sp = boot.sp;
cpu.stackRoom = boot.stackRoom;
Cpu.install(cpu);
Atomics.store(cb.i32, cpuI32Base(boot.cpu) + CPU_STATE, CPU_USER);
// Idle while the guest module loads (its import waits in the event loop): a shootdown of
// this mm meanwhile does not wait for it. The first access wakes it (the first after a CR3
// load misses the fast cache anyway, so no counter changes).
mmu.idle();

/** Print an uncaught error to the process's stderr and die of SIGABRT, as abort() would. */
function abort(e: unknown): void {
  // The runtime's own frames (this bundle, loaded before source maps were on) are ptlab's,
  // not the guest's: left out.
  const stack = e instanceof Error ? e.stack ?? String(e) : String(e);
  const text = stack.split('\n').filter((l) => !l.includes(import.meta.url)).join('\n');
  try {
    writeString(2, `ptlab: pid ${boot.pid} tid ${boot.tid}: uncaught ${text}\n`);
  } catch {
    process.stderr.write(`ptlab: pid ${boot.pid}: uncaught ${text}\n`);
  }
  cpu.syscall(SYS_kill, boot.pid, SIGABRT);
}

/** The place of a stack frame as V8 prints it, "fn (file:line:col)" or "file:line:col". */
function place(frame: string): string {
  return /\(([^()]*)\)$/.exec(frame)?.[1] ?? frame;
}

// A request of this thread killed it (a fatal fault, a kernel bug): where the guest was goes
// to the host, which hands it to the kernel with this worker's exit (messages posted before
// process.exit arrive before the worker's 'exit' event), so that the death's report and the
// kernel log's segfault line name the guest's own file and line.
cpu.onDie = () => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const frames = stack.split('\n').slice(1).map((l) => l.trim().replace(/^at /, '')).filter((l) => !l.includes(import.meta.url)).slice(0, 16);
  const at = frames.map(place).find((p) => !p.startsWith(`${boot.userland}:`)) ?? frames.map(place)[0];
  parentPort?.postMessage({ t: 'died', frames, at });
};

// A throw from a timer or event callback, or a rejection nobody handles, is not caught by
// the try below: it takes the same way out, not the worker's silent death.
const abortUncaught = (e: unknown): never => {
  abort(e);
  process.exit(0);
};
process.on('uncaughtException', abortUncaught);
process.on('unhandledRejection', abortUncaught);
// Stack traces name the guest's own source lines (the bundle's map is a file beside it).
process.setSourceMapsEnabled(true);

const isMain = boot.exportName === 'default';
try {
  const mod = await import(boot.guestUrl) as Record<string, unknown>;
  const fn = mod[boot.exportName];
  if (typeof fn !== 'function') {
    // Nothing to run: status 127, as a shell's for a command it could not execute.
    const what = isMain ? 'no default export (a guest is `export default function main(argv)`)' : `no exported function '${boot.exportName}'`;
    writeString(2, `ptlab: ${boot.path}: ${what}\n`);
    cpu.syscall(SYS_exit_group, 127);
    process.exit(0);
  }
  const ret = (fn as (x: unknown) => unknown)(isMain ? boot.argv : boot.arg);
  // A guest that awaits something leaves its event loop idle: shootdowns stop waiting for
  // this CPU then (Cpu.idleWhenQuiet). One that returned a plain value, or a promise that
  // settles in microtasks, exits below before the idle mark could run.
  if (ret instanceof Promise) cpu.idleWhenQuiet();
  const result = await ret;
  const code = typeof result === 'number' && Number.isFinite(result) ? result : 0;
  cpu.syscall(isMain ? SYS_exit_group : SYS_exit, code);
} catch (e) {
  abort(e);
}
process.exit(0);
