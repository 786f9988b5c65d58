// Guest for the reclaim tests on real workers: several processes, each with several
// threads, write and check more memory than the machine has, so kswapd and direct reclaim
// swap pages out and faults read them back while other threads write. Every word read
// back must be the word written. `main([procs, threads, pagesPerThread, rounds])`.
import {
  accessors, fork, getpid, mmap, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, print, PROT_READ, PROT_WRITE, readFile,
  threadCreate, threadJoin, waitpid,
} from 'ptlab/userland';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;

interface Work {
  base: number;
  pages: number;
  rounds: number;
  seed: number;
}

/** One thread's share: write a word per page (two per page: start and middle), then check all, `rounds` times. */
export function worker(w: Work): number {
  const { load32, store32 } = accessors();
  let bad = 0;
  for (let r = 0; r < w.rounds; r++) {
    for (let i = 0; i < w.pages; i++) {
      const v = (w.seed * 131 + i * 7 + r * 1_000_003) >>> 0;
      store32(w.base + i * P, v);
      store32(w.base + i * P + 2048, v ^ 0x5a5a5a5a);
    }
    for (let i = 0; i < w.pages; i++) {
      const v = (w.seed * 131 + i * 7 + r * 1_000_003) >>> 0;
      if (load32(w.base + i * P) !== v || load32(w.base + i * P + 2048) !== (v ^ 0x5a5a5a5a) >>> 0) bad++;
    }
  }
  return bad;
}

/** A process: private memory for its threads, plus a shared page all of them count in. */
export function proc(a: { threads: number; pages: number; rounds: number; index: number; shared: number }): number {
  const tids: number[] = [];
  const base = mmap(0, a.threads * a.pages * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let t = 0; t < a.threads; t++) {
    tids.push(threadCreate('worker', { base: base + t * a.pages * P, pages: a.pages, rounds: a.rounds, seed: a.index * 100 + t }));
  }
  let bad = 0;
  for (const tid of tids) bad += threadJoin(tid);
  const { store32, load32 } = accessors();
  store32(a.shared + 4 * a.index, bad + 1);
  return load32(a.shared + 4 * a.index) === bad + 1 ? Math.min(bad, 100) : 101;
}

export default function main(argv: string[]): number {
  const [procs, threads, pages, rounds] = argv.map(Number);
  const shared = mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
  const pids: number[] = [];
  for (let i = 0; i < procs; i++) pids.push(fork('proc', { threads, pages, rounds, index: i, shared }));
  let bad = 0;
  for (const pid of pids) bad += waitpid(pid).exitCode ?? 1000;
  const vm = readFile('/proc/vmstat');
  const n = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(vm)?.[1] ?? -1);
  print(`pid ${getpid()} bad ${bad} pswpout ${n('pswpout')} pswpin ${n('pswpin')} pgmajfault ${n('pgmajfault')}`);
  return bad === 0 ? 0 : 1;
}
