// Guest of test/kernel/task/idle.test.ts: a thread idle in its event loop while another
// thread of the same mm unmaps and mprotects in a loop. Scenarios (argv[0]):
//   timer N   the idle thread caches two pages, then awaits timers until a message says go;
//             meanwhile main runs N mmap/mprotect/munmap rounds, unmaps the first page,
//             makes the second read-only and reuses the freed frame; woken, the thread must
//             fault on both (never read or write through its stale TLB entries).
//   forever N the idle thread awaits a message nobody sends; main runs N rounds and exits
//             (exit_group ends the thread).
import {
  load32, MAP_ANONYMOUS, MAP_PRIVATE, mmap, mprotect, munmap, print, PROT_READ, PROT_WRITE,
  SEGV_ACCERR, SEGV_MAPERR, sigaction, SIGSEGV, store32, threadCreate, threadJoin,
} from 'ptlab/userland';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const MAGIC = 0x5a5a5a5a;

// ctl words: 4 read fault code, 8 write fault code, 12 bad (1: stale read, 2: stale write
// went through, 3: first read wrong), 16 value read from the read-only page.
//
// The thread says 'ready' over a BroadcastChannel, not through memory (a store would wake its
// CPU), and only from a setImmediate callback: the idle mark, armed by its first access, is
// an earlier setImmediate and has run by then. So every shootdown of the churn finds it idle,
// however late the host schedules it.
interface Arg { gone: number; ro: number; ctl: number; channel: string }

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The first message on `ch` (BroadcastChannel does not deliver a sender's own posts). */
const message = (ch: InstanceType<typeof BroadcastChannel>) => new Promise<unknown>((resolve) => {
  ch.onmessage = (ev: MessageEvent) => resolve(ev.data);
});

/** Catches SIGSEGV of `f`: its si_code, or 0 if `f` did not fault. */
function faultOf(f: () => void): number {
  let code = 0;
  sigaction(SIGSEGV, (info) => {
    code = info.code;
    throw new Error('segv');
  });
  try {
    f();
  } catch (e) {
    if (code === 0) throw e;
  }
  return code;
}

export async function timerSleeper(arg: Arg): Promise<number> {
  let go = false;
  const ch = new BroadcastChannel(arg.channel);
  if (load32(arg.gone) !== MAGIC) store32(arg.ctl + 12, 3);
  store32(arg.ro, MAGIC + 1); // a writable, dirty translation in this CPU's TLB
  await nextMacrotask();
  void message(ch).then(() => {
    go = true;
  });
  ch.postMessage('ready');
  while (!go) await sleep(20); // timers only: no memory access until the message
  ch.close();
  store32(arg.ctl + 4, faultOf(() => {
    if (load32(arg.gone) !== 0) store32(arg.ctl + 12, 1);
  }));
  store32(arg.ctl + 16, load32(arg.ro));
  store32(arg.ctl + 8, faultOf(() => store32(arg.ro, 7)));
  if (load32(arg.ro) === 7) store32(arg.ctl + 12, 2);
  return 0;
}

export async function foreverSleeper(arg: Arg): Promise<number> {
  const ch = new BroadcastChannel(arg.channel);
  if (load32(arg.gone) !== MAGIC) store32(arg.ctl + 12, 3);
  await nextMacrotask();
  const never = message(ch); // nobody sends a second message
  ch.postMessage('ready');
  // A channel left open keeps the event loop alive. (A bare `new Promise(() => {})` would
  // leave it empty: Node ends such a worker, and the kernel kills the process.)
  await never;
  return 1;
}

/** n rounds of map, touch, mprotect read-only, unmap: two shootdowns each. */
function churn(n: number): void {
  for (let i = 0; i < n; i++) {
    const p = mmap(0, 4096, RW, ANON);
    store32(p, i);
    mprotect(p, 4096, PROT_READ);
    munmap(p, 4096);
  }
}

export default async function main(argv: string[]): Promise<number> {
  const n = Number(argv[1] ?? 50);
  const ctl = mmap(0, 4096, RW, ANON);
  const gone = mmap(0, 4096, RW, ANON);
  const ro = mmap(0, 4096, RW, ANON);
  store32(gone, MAGIC);
  store32(ro, MAGIC);
  const channel = `ptlab-idler-${argv[2] ?? ''}`;
  const ch = new BroadcastChannel(channel); // left open: exit closes it
  const ready = message(ch);
  const forever = argv[0] === 'forever';
  const t = threadCreate(forever ? 'foreverSleeper' : 'timerSleeper', { gone, ro, ctl, channel } satisfies Arg);
  const again = mmap(0, 64 * 4096, RW, ANON); // before the munmap: it cannot take gone's address
  await ready; // the thread has both pages in its TLB and is idle
  churn(n);
  if (forever) {
    print(`FOREVER bad=${load32(ctl + 12)}`);
    return 0; // exit_group ends the thread
  }
  munmap(gone, 4096);
  mprotect(ro, 4096, PROT_READ);
  for (let i = 0; i < 64; i++) store32(again + i * 4096, 0x11111111); // the freed frame, reused
  ch.postMessage('go');
  threadJoin(t);
  const read = load32(ctl + 4);
  const write = load32(ctl + 8);
  print(`TIMER read=${read === SEGV_MAPERR ? 'SEGV_MAPERR' : read} write=${write === SEGV_ACCERR ? 'SEGV_ACCERR' : write} `
    + `bad=${load32(ctl + 12)} ro=${load32(ctl + 16) === MAGIC + 1 ? 'ok' : load32(ctl + 16)}`);
  return 0;
}
