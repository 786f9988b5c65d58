// The ptlab side of the fork differential test: runs the fork scripts of fork-scripts.ts as
// fork-helper.c does, printing the same lines. ptlab has no pipes: process 0 drives the
// others through a MAP_SHARED mailbox mapped before the first fork (outside the compared
// range), one slot per process id, and prints their replies itself.
//
//   ptlab run test/diff/fork-guest.ts random FIRST_SEED COUNT THP   (random scripts)
//   ptlab run test/diff/fork-guest.ts cases THP                      (the named cases)
//
// THP is 1 if the host gives huge pages (the random scripts use them, the THP cases run).
import {
  close, fork, ftruncate, load32, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, memfdCreate, mmap,
  open, O_RDONLY, pread, print, PROT_NONE, PROT_READ, PROT_WRITE, readBytes, readFile, SIGBUS, SIGSEGV, sigaction, store32,
  syscall, SYS_madvise, SYS_mincore, SYS_mlock, SYS_mmap, SYS_mprotect, SYS_munlock, SYS_munmap, SYS_pwrite64,
  load8, waitpid, writeBytes,
} from 'ptlab/userland';
import { FORK_CASES, forkCases } from './fork-cases.ts';
import {
  FILE_PAGES, FORK_PAGES, type ForkOp, MAX_PROCS, parseForkScript, ProcTree, randomForkScript,
} from './fork-scripts.ts';

const P = 4096;
const RANGE = FORK_PAGES * P;
const HUGE = 2 ** 21;
const ABOVE = 64 << 20;

// The mailbox: a slot of SLOT bytes per process id. STATE is IDLE, then REQUEST (process 0
// wrote a command line of CMD_LEN bytes at CMD), then REPLY_READY (the process wrote its
// reply of REPLY_LEN bytes at REPLY); process 0 sets it back to IDLE. "exit" has no reply:
// the process sets IDLE and ends.
const SLOT = 1 << 16;
const STATE = 0;
const CMD_LEN = 4;
const REPLY_LEN = 8;
const CMD = 16;
const REPLY = 1024;
const IDLE = 0;
const REQUEST = 1;
const REPLY_READY = 2;

/** What every process of a script knows: passed to each child as fork's argument. */
interface Ctx {
  id: number;
  base: number;
  mailbox: number;
  memfd: number;
  /** A private buffer outside the range (mincore's vector, pagemap entries, pwrite's word). */
  vec: number;
}

let ctx: Ctx = { id: 0, base: 0, mailbox: 0, memfd: -1, vec: 0 };
/** This process's children, pid by id. */
const kids = new Map<number, number>();

/** A SIGSEGV or SIGBUS taken by write or read. */
class Fault {
  constructor(readonly signo: number) {}
}

function catchFaults(): void {
  const h = (info: { signo: number }): never => {
    throw new Fault(info.signo);
  };
  sigaction(SIGSEGV, h);
  sigaction(SIGBUS, h);
}

/** One word per page from range + off: stored (VAL + i) or loaded; as helper.c's touch. */
function touch(write: boolean, off: number, pages: number, val: number): string {
  let line = write ? '' : 'r';
  let i = 0;
  try {
    for (; i < pages; i++) {
      const va = ctx.base + off + i * P;
      if (write) store32(va, (val + i) | 0);
      else line += ` ${(load32(va) >>> 0).toString(16)}`;
    }
  } catch (e) {
    if (!(e instanceof Fault)) throw e;
    return `${line}${write ? '' : ' '}f ${e.signo} ${i}`;
  }
  return write ? 'r 0' : line;
}

const result = (r: number): string => (r < 0 ? `e ${-r}` : `r ${r}`);

const FIELDS = ['Size', 'Rss', 'Pss', 'Pss_Dirty', 'Shared_Clean', 'Shared_Dirty', 'Private_Clean', 'Private_Dirty', 'Anonymous', 'AnonHugePages', 'Locked'];

/** This process's view of the range, from its own smaps: as fork-helper.c's state. */
function state(): string[] {
  const out = [`p ${ctx.id}`];
  const { base } = ctx;
  let vals: Record<string, number> | null = null;
  let start = 0;
  for (const line of readFile('/proc/self/smaps').split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \S+ *(.*)$/.exec(line);
    if (h !== null) {
      const s = parseInt(h[1], 16);
      const e = parseInt(h[2], 16);
      vals = e <= base || s >= base + RANGE ? null : {};
      if (vals === null) continue;
      start = s < base ? 0 : s - base;
      out.push(`m ${start} ${Math.min(e, base + RANGE) - base} ${h[3]} ${parseInt(h[4], 16).toString(16)} ${h[5]}`);
      continue;
    }
    if (vals === null) continue;
    if (line.startsWith('VmFlags:')) {
      out.push(`s ${start} ${FIELDS.map((f) => vals![f] ?? 0).join(' ')} ${line.slice(9)}`);
      vals = null;
      continue;
    }
    const f = /^(\w+):\s+(\d+)/.exec(line);
    if (f !== null) vals[f[1]] = Number(f[2]);
  }
  return out;
}

function mincoreLine(off: number, len: number): string {
  const r = syscall(SYS_mincore, ctx.base + off, len, ctx.vec);
  if (r < 0) return result(r);
  let bits = '';
  for (let i = 0; i < Math.ceil(len / P); i++) bits += String(load8(ctx.vec + i) & 1);
  return `r 0 ${bits}`;
}

function pagemapLine(off: number, pages: number): string {
  const fd = open('/proc/self/pagemap', O_RDONLY);
  pread(fd, ctx.vec, pages * 8, ((ctx.base + off) / P) * 8);
  close(fd);
  let line = 'r 0';
  for (let i = 0; i < pages; i++) line += ` ${(load32(ctx.vec + i * 8 + 4) >>> 23).toString(16)}`;
  return line;
}

/** Run one command line in this process (fork, reap, state or an operation); its lines. */
function execute(line: string): string[] {
  const [op, ...rest] = line.split(' ');
  const a = rest.map(Number);
  const at = ctx.base + a[1];
  switch (op) {
    case 'fork': {
      const pid = fork('forkChild', { ...ctx, id: a[1] });
      kids.set(a[1], pid);
      return ['r 0'];
    }
    case 'reap': {
      const w = waitpid(kids.get(a[0]));
      kids.delete(a[0]);
      return [w.exitCode === 0 ? 'r 0' : `e status ${w.status}`];
    }
    case 'state': return state();
    case 'mmap':
    case 'mmapf': {
      const r = syscall(SYS_mmap, at, a[2], a[3], a[4], op === 'mmap' ? -1 : ctx.memfd, op === 'mmap' ? 0 : a[5]);
      return [result(r < 0 ? r : r - ctx.base)];
    }
    case 'munmap': return [result(syscall(SYS_munmap, at, a[2]))];
    case 'mprotect': return [result(syscall(SYS_mprotect, at, a[2], a[3]))];
    case 'madvise': return [result(syscall(SYS_madvise, at, a[2], a[3]))];
    case 'mlock': return [result(syscall(SYS_mlock, at, a[2]))];
    case 'munlock': return [result(syscall(SYS_munlock, at, a[2]))];
    case 'write': return [touch(true, a[1], a[2], a[3])];
    case 'read': return [touch(false, a[1], a[2], 0)];
    case 'mincore': return [mincoreLine(a[1], a[2])];
    case 'pagemap': return [pagemapLine(a[1], a[2])];
    case 'fwrite':
      store32(ctx.vec, a[1] | 0);
      return [result(syscall(SYS_pwrite64, ctx.memfd, ctx.vec, 4, a[0]))];
    default: throw new Error(`fork-guest: bad command ${line}`);
  }
}

const slotOf = (id: number): number => ctx.mailbox + id * SLOT;

/** A host word nobody changes: Atomics.wait on it sleeps. */
const NAP = new Int32Array(new SharedArrayBuffer(4));

/**
 * Poll the mailbox word at `at` (a guest load, which also takes TLB shootdowns) until it
 * holds value, napping 0.1 ms on the host between polls. The nap is invisible to the
 * machine (no access, no syscall); sched_yield in its place made every waiting process
 * load the kernel thread with a syscall per poll.
 */
function waitFor(at: number, value: number): void {
  while (load32(at) !== value) Atomics.wait(NAP, 0, 0, 0.1);
}

/** A forked process of a script: runs the commands process 0 posts in its slot until "exit". */
export function forkChild(arg: Ctx): number {
  ctx = arg;
  catchFaults();
  const slot = slotOf(ctx.id);
  for (;;) {
    waitFor(slot + STATE, REQUEST);
    const line = new TextDecoder().decode(readBytes(slot + CMD, load32(slot + CMD_LEN)));
    if (line === 'exit') {
      store32(slot + STATE, IDLE);
      return 0;
    }
    const reply = new TextEncoder().encode(`${execute(line).join('\n')}\n`);
    if (reply.length > SLOT - REPLY) throw new Error('fork-guest: reply too long for the mailbox');
    writeBytes(slot + REPLY, reply);
    store32(slot + REPLY_LEN, reply.length);
    store32(slot + STATE, REPLY_READY);
  }
}

/** Run line in process id (here, or through its slot); its reply lines. */
function runIn(id: number, line: string): string[] {
  if (id === 0) return execute(line);
  const slot = slotOf(id);
  const cmd = new TextEncoder().encode(line);
  writeBytes(slot + CMD, cmd);
  store32(slot + CMD_LEN, cmd.length);
  store32(slot + STATE, REQUEST);
  if (line === 'exit') return [];
  waitFor(slot + STATE, REPLY_READY);
  const text = new TextDecoder().decode(readBytes(slot + REPLY, load32(slot + REPLY_LEN)));
  store32(slot + STATE, IDLE);
  return text.slice(0, -1).split('\n');
}

/** id exits and its parent reaps it: the reaper's lines. */
function endProcess(tree: ProcTree, id: number): string[] {
  runIn(id, 'exit');
  return runIn(tree.parent[id], `reap ${id}`);
}

/** One script, as fork-helper.c runs it: its output lines. */
function runScript(ops: ForkOp[]): string[] {
  syscall(SYS_munmap, ctx.base, RANGE);
  ctx.memfd = memfdCreate('fork');
  ftruncate(ctx.memfd, FILE_PAGES * P);
  for (let id = 0; id < MAX_PROCS; id++) store32(slotOf(id) + STATE, IDLE);
  const tree = new ProcTree();
  const out: string[] = [];
  for (const op of ops) {
    const text = op.join(' ');
    out.push(`> ${text}`);
    const who = op[0] === 'fwrite' ? 0 : op[1];
    if (op[0] === 'exit') out.push(...endProcess(tree, who));
    else if (op[0] === 'fork') out.push(...runIn(who, `fork ${who} ${tree.parent.length}`));
    else out.push(...runIn(who, text));
    const bad = tree.apply(op);
    if (bad !== null) throw new Error(`fork-guest: ${text}: ${bad}`);
    for (const id of tree.liveIds()) out.push(...runIn(id, 'state'));
  }
  for (let id = tree.parent.length - 1; id > 0; id--) if (tree.live[id]) endProcess(tree, id);
  close(ctx.memfd);
  out.push('end');
  return out;
}

/** As fork-helper.c: a 2 MiB-aligned hole with a guard page on each side and 64 MiB free above. */
function reserve(): number {
  const total = HUGE + P + RANGE + P + ABOVE;
  const p = mmap(0, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
  const base = Math.ceil((p + P) / HUGE) * HUGE;
  if (base - P > p) syscall(SYS_munmap, p, base - P - p);
  syscall(SYS_munmap, base + RANGE + P, p + total - (base + RANGE + P));
  return base;
}

export default function main(argv: string[]): number {
  const thp = argv[argv.length - 1] === '1';
  const scripts = argv[0] === 'cases'
    ? forkCases(thp).map((name) => parseForkScript(FORK_CASES[name].script))
    : Array.from({ length: Number(argv[2]) }, (_, i) => randomForkScript(Number(argv[1]) + i, thp));
  catchFaults();
  ctx.mailbox = mmap(0, MAX_PROCS * SLOT, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  ctx.vec = mmap(0, FORK_PAGES * 8 + P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  ctx.base = reserve();
  for (const ops of scripts) print(runScript(ops).join('\n'));
  return 0;
}
