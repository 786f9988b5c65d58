// Guest programs for the fork tests on real workers: `main(argv)` runs scenario argv[0].
import {
  fork, getpid, getppid, kill, load32, mmap, open, O_RDWR, print, PROT_READ, PROT_WRITE, MAP_ANONYMOUS, MAP_PRIVATE,
  MAP_SHARED, readFile, SIGKILL, store32, syscall, SYS_sched_yield, threadCreate, threadJoin, vbufCreate, vbufHarvest,
  vfork, waitpid,
} from 'ptlab/userland';

const RW = PROT_READ | PROT_WRITE;
const P = 4096;
const WORDS = P / 4;

/** The value a status line of /proc/self/status shows, in kB. */
function status(name: string): number {
  return Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(readFile('/proc/self/status'))?.[1] ?? -1);
}

/** A child of `basic`: checks it sees the parent's data, writes its own, forks a grandchild. */
export function basicChild(arg: { p: number; s: number; depth: number }): number {
  if (load32(arg.p) !== 1000 + arg.depth - 1) return 10;
  store32(arg.p, 1000 + arg.depth);
  store32(arg.s + 4 * arg.depth, getpid());
  if (arg.depth < 3) {
    const pid = fork('basicChild', { ...arg, depth: arg.depth + 1 });
    const w = waitpid(pid);
    if (w.exitCode !== 0) return 20 + (w.exitCode ?? 0);
    if (load32(arg.p) !== 1000 + arg.depth) return 11; // the grandchild's write is its own
  }
  print(`depth ${arg.depth} pid ${getpid()} ppid ${getppid()}\n`);
  return 0;
}

/** fork three generations deep: private data copied, shared memory shared, statuses returned. */
function basic(): number {
  const p = mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  const s = mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
  store32(p, 1000);
  const pid = fork('basicChild', { p, s, depth: 1 });
  const w = waitpid(pid);
  print(`exit ${w.exitCode} parent ${load32(p)} pids ${load32(s + 4)} ${load32(s + 8)} ${load32(s + 12)}\n`);
  return w.exitCode === 0 && load32(p) === 1000 ? 0 : 1;
}

/** A vfork child: writes into the parent's memory, returns 9. */
export function vforkChild(arg: { p: number }): number {
  store32(arg.p, getpid());
  return 9;
}

function vforkScenario(): number {
  const p = mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  const pid = vfork('vforkChild', { p });
  // vfork returned: the child has exited; its write is ours.
  const seen = load32(p);
  const w = waitpid(pid);
  print(`vfork ${pid} wrote ${seen} exit ${w.exitCode}`);
  return seen === pid && w.exitCode === 9 ? 0 : 1;
}

interface RaceArg {
  buf: number;
  pages: number;
  ctl: number;
}

/**
 * The writer of `race`: round after round, stores the round number into every word of every
 * page, in address order, until told to stop; the last round it completed goes in ctl + 4.
 */
export function raceWriter(a: RaceArg): number {
  for (let round = 1; ; round++) {
    for (let i = 0; i < a.pages * WORDS; i++) store32(a.buf + 4 * i, round);
    store32(a.ctl + 4, round);
    if (load32(a.ctl) !== 0) return 0;
  }
}

/**
 * A child of `race`: its copy is the parent's memory at one instant. The writer goes in
 * address order, so every word must hold a round, non-increasing along the buffer, with at
 * most one between the first and the last: anything else is a torn or lost page.
 */
export function raceChild(a: RaceArg): number {
  const first = load32(a.buf);
  let prev = first;
  for (let i = 0; i < a.pages * WORDS; i++) {
    const v = load32(a.buf + 4 * i);
    if (v > prev || first - v > 1) {
      print(`torn at word ${i}: ${v} after ${prev}, first ${first}\n`);
      return 1;
    }
    prev = v;
  }
  return 0;
}

/**
 * fork while another thread of the parent writes: each child sees a consistent snapshot,
 * and none of the parent's writes is lost.
 */
function race(argv: string[]): number {
  const pages = Number(argv[1] ?? 32);
  const forks = Number(argv[2] ?? 12);
  const buf = mmap(0, pages * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  const ctl = mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  const a: RaceArg = { buf, pages, ctl };
  const tid = threadCreate('raceWriter', a);
  while (load32(ctl + 4) < 1) syscall(SYS_sched_yield);
  let bad = 0;
  const rounds: number[] = [];
  for (let i = 0; i < forks; i++) {
    const w = waitpid(fork('raceChild', a));
    if (w.exitCode !== 0) bad++;
    rounds.push(load32(ctl + 4));
  }
  store32(ctl, 1);
  threadJoin(tid);
  const last = load32(ctl + 4);
  let lost = 0;
  for (let i = 0; i < pages * WORDS; i++) if (load32(buf + 4 * i) !== last) lost++;
  print(`forks ${forks} bad ${bad} lost ${lost} rounds ${rounds.join(',')} last ${last}\n`);
  return bad === 0 && lost === 0 ? 0 : 1;
}

/** A child that touches its copy `rounds` times, then waits to be killed or returns. */
export function sleeper(a: { p: number; pages: number; hold: boolean; rounds?: number }): number {
  for (let r = 0; r < (a.rounds ?? 1); r++) for (let i = 0; i < a.pages; i += 2) store32(a.p + i * P, i + r);
  while (a.hold) syscall(SYS_sched_yield);
  return 0;
}

/** Children that write, exit or are killed, in every order with the parent: no frame leaks (checked by the test). */
function churn(): number {
  const pages = 64;
  const p = mmap(0, pages * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < pages; i++) store32(p + i * P, 1);
  const held: number[] = [];
  for (let i = 0; i < 6; i++) held.push(fork('sleeper', { p, pages, hold: i % 2 === 0 }));
  for (let i = 0; i < pages; i += 3) store32(p + i * P, 2);
  for (const pid of held) {
    if (held.indexOf(pid) % 2 === 0) kill(pid, SIGKILL);
    waitpid(pid);
  }
  // Still running when the parent exits: reaped as an orphan when it ends.
  fork('sleeper', { p, pages, hold: false, rounds: 2000 });
  print(`VmPTE ${status('VmPTE')} RssAnon ${status('RssAnon')}\n`);
  return 0;
}

/** A forked child writes one page of the parent's /dev/vbuf mapping and waits for the harvest. */
export function vbufChild(a: { fb: number; ctl: number }): number {
  store32(a.fb + 7 * P, 77);
  store32(a.ctl, 1);
  while (load32(a.ctl) !== 2) syscall(SYS_sched_yield);
  return 0;
}

/**
 * /dev/vbuf across fork: the child inherits the buffer object's mapping as a shared file
 * mapping (no PTEs copied; it faults its own in), and the parent's harvest sees the pages
 * both wrote, one PTE cleaned in each process.
 */
function vbufScenario(): number {
  const dev = open('/dev/vbuf', O_RDWR);
  const bo = vbufCreate(dev, 16);
  const fb = mmap(0, 16 * P, RW, MAP_SHARED, dev, bo.offset);
  const ctl = mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
  const bitmap = mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  store32(fb + 5 * P, 55);
  vbufHarvest(dev, bo.handle, bitmap); // start from clean pages
  store32(fb + 5 * P, 56);
  const pid = fork('vbufChild', { fb, ctl });
  while (load32(ctl) !== 1) syscall(SYS_sched_yield);
  const h = vbufHarvest(dev, bo.handle, bitmap);
  store32(ctl, 2);
  const w = waitpid(pid);
  print(`ptes ${h.ptes} pages ${h.dirty} bits ${load32(bitmap).toString(2)} parent sees ${load32(fb + 7 * P)} exit ${w.exitCode}`);
  return 0;
}

export default function main(argv: string[]): number {
  switch (argv[0]) {
    case 'basic': return basic();
    case 'vfork': return vforkScenario();
    case 'race': return race(argv);
    case 'churn': return churn();
    case 'vbuf': return vbufScenario();
    default: throw new Error(`no scenario ${argv[0]}`);
  }
}
