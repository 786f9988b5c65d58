// Guest programs for the OOM killer tests on real workers: `main(argv)` runs scenario argv[0].
import {
  CAP_SYS_RESOURCE, clone, CLONE_VM, dropCapabilities, fork, getpid, getppid, load32, MAP_ANONYMOUS, MAP_PRIVATE,
  MAP_SHARED, mmap, print, PROT_READ, PROT_WRITE, readFile, SIGCHLD, store32, syscall, SYS_sched_yield, SyscallError,
  waitpid, writeFile,
} from 'ptlab/userland';

const RW = PROT_READ | PROT_WRITE;
const P = 4096;
const MiB = 1 << 20;

/** A new private mapping of `bytes`, every page written: its address. */
function touch(bytes: number): number {
  const p = mmap(0, bytes, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let o = 0; o < bytes; o += P) store32(p + o, o);
  return p;
}

/** Yield until told to stop (ctl + 4) or orphaned (a parent killed instead of us). */
function idle(ctl: number): void {
  while (load32(ctl + 4) === 0 && getppid() !== 0) syscall(SYS_sched_yield);
}

interface HogArg {
  ctl: number;
  mib: number;
  adj: number;
  sharer: boolean;
}

/**
 * A child of `hog`: sets its oom_score_adj, writes `mib` MiB, starts a CLONE_VM sharer of
 * its memory if asked (its pid in ctl + 8), says it is ready (ctl = 1), then idles.
 */
export function hogChild(a: HogArg): number {
  if (a.adj !== 0) writeFile('/proc/self/oom_score_adj', `${a.adj}\n`);
  touch(a.mib * MiB);
  if (a.sharer) store32(a.ctl + 8, clone(CLONE_VM | SIGCHLD, 'sharer', { ctl: a.ctl }));
  store32(a.ctl, 1);
  idle(a.ctl);
  return 0;
}

export function sharer(a: { ctl: number }): number {
  idle(a.ctl);
  return 0;
}

/**
 * hog HOG_MIB ALLOC_MIB [ADJ] [sharer]: a child writes HOG_MIB MiB and idles (with
 * oom_score_adj ADJ, and a CLONE_VM sharer); then this process writes ALLOC_MIB MiB, more
 * than is left, and reports how the child ended and the oom_kill count.
 */
function hog(argv: string[]): number {
  const ctl = mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
  const arg: HogArg = { ctl, mib: Number(argv[1]), adj: Number(argv[3] ?? 0), sharer: argv[4] === 'sharer' };
  const before = oomKills();
  const pid = fork('hogChild', arg);
  while (load32(ctl) === 0) syscall(SYS_sched_yield);
  print(`HOG ${pid} SHARER ${load32(ctl + 8)}`);
  touch(Number(argv[2]) * MiB);
  store32(ctl + 4, 1); // a hog that survived can go
  const w = waitpid(pid);
  print(`DONE signal ${w.signal} exit ${w.exitCode} oom_kill +${oomKills() - before}`);
  return 0;
}

/** /proc/vmstat's oom_kill. */
function oomKills(): number {
  return Number(/^oom_kill (\d+)$/m.exec(readFile('/proc/vmstat'))?.[1]);
}

/** write(2) of text to a /proc file: 'ok' or the errno's name. */
function tryWrite(path: string, text: string): string {
  try {
    writeFile(path, text);
    return 'ok';
  } catch (e) {
    return (e as SyscallError).code;
  }
}

export function printAdj(): number {
  print(`CHILD ${readFile('/proc/self/oom_score_adj').trim()}`);
  return 0;
}

/** /proc/self/oom_score_adj's semantics as a guest sees them, with and without CAP_SYS_RESOURCE. */
function procFiles(): number {
  const f = '/proc/self/oom_score_adj';
  const out = [readFile(f).trim(), tryWrite(f, '1001'), tryWrite(f, 'x')];
  // Without CAP_SYS_RESOURCE: up is free, down only to oom_score_adj_min (0 here).
  dropCapabilities(CAP_SYS_RESOURCE);
  out.push(tryWrite(f, '300\n'), readFile(f).trim(), tryWrite(f, '0'), tryWrite(f, '-1'), tryWrite(f, '-1000'), readFile(f).trim());
  out.push(tryWrite(`/proc/${getpid()}/oom_adj`, '-17'), readFile('/proc/self/oom_adj').trim());
  out.push(String(Number(readFile('/proc/self/oom_score').trim()) > 0), tryWrite(f, '500'));
  print(`PROC ${out.join(' ')}`);
  waitpid(fork('printAdj'));
  return 0;
}

const SCENARIOS: Record<string, (argv: string[]) => number> = { hog, procFiles };

export default function main(argv: string[]): number {
  const s = SCENARIOS[argv[0]];
  if (s === undefined) throw new Error(`no scenario ${argv[0]}`);
  return s(argv);
}
