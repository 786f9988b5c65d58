// MAP_FIXED over a live mapping (the "vms gather/complete" series, Linux 6.12): replacing a
// mapping with mmap(MAP_FIXED) is one step for every other thread of the process. The old
// VMAs are gathered and kept in the tree until the new one is in place, so a concurrent
// access finds either the old mapping or the new one, never a hole; the same replacement
// done as munmap then mmap opens a hole that the others fall into (SIGSEGV). And a MAP_FIXED
// that fails before the point of no return leaves the old mapping as it was.
//
//   node bin/ptlab.mjs run examples/map-fixed.ts [--rounds N] [--threads N] [--pages N]
//
// Part 1: the main thread replaces a mapping of --pages pages --rounds times while --threads
// threads load from and store to it in a loop, each counting the SIGSEGVs its handler took
// and its page faults; once with MAP_FIXED, once with munmap then mmap.
// Part 2: three MAP_FIXED calls that fail over a mapping holding data, and what is at the
// address afterwards.
import {
  counters, getrlimit, load32, mincore, mmap, mseal, munmap, print, progress, type Progress, readFile, setrlimit, sigaction, store32,
  SyscallError, threadCreate, threadJoin, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, PROT_READ,
  PROT_WRITE, RLIMIT_AS, SIGSEGV,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
// Control page words: the stop flag, then per thread [started, loads, segvs, faults].
const STOP = 0;
const STATS = 16;
const stats = (ctl: number, index: number): number => ctl + STATS + index * 16;

interface WorkerArg { ctl: number; base: number; len: number; index: number }

/** Load and store all over the mapping until told to stop; count what went wrong. */
export function worker({ ctl, base, len, index }: WorkerArg): number {
  let segvs = 0;
  sigaction(SIGSEGV, () => {
    segvs++; // returning retries the access, which succeeds once the mapping is back
  });
  const faults = counters().page_faults;
  const s = stats(ctl, index);
  store32(s, 1);
  let loads = 0;
  for (let i = index; load32(ctl + STOP) === 0; i++) {
    const at = base + ((i * 7919 * P) % len) + (i % 1024) * 4;
    store32(at, i);
    loads += load32(at) === i ? 1 : 0; // the page may be replaced between the two: still fine
  }
  store32(s + 4, loads);
  store32(s + 8, segvs);
  store32(s + 12, counters().page_faults - faults);
  return 0;
}

interface WayResult { loads: number; segvs: number; faults: number }

function run(way: 'MAP_FIXED' | 'munmap + mmap', rounds: number, threads: number, pages: number, bar: Progress): WayResult {
  const len = pages * P;
  const ctl = mmap(0, P, RW, ANON);
  const base = mmap(0, len, RW, ANON);
  const tids = Array.from({ length: threads }, (_, index) => threadCreate('worker', { ctl, base, len, index } satisfies WorkerArg));
  for (let i = 0; i < threads; i++) while (load32(stats(ctl, i)) === 0); // every worker in its loop first
  for (let r = 0; r < rounds; r++) {
    if (way === 'munmap + mmap') munmap(base, len);
    mmap(base, len, RW, ANON | MAP_FIXED);
    bar.advance(way);
  }
  store32(ctl + STOP, 1);
  for (const tid of tids) threadJoin(tid);
  const total = { loads: 0, segvs: 0, faults: 0 };
  for (let i = 0; i < threads; i++) {
    const s = stats(ctl, i);
    total.loads += load32(s + 4);
    total.segvs += load32(s + 8);
    total.faults += load32(s + 12);
  }
  munmap(base, len);
  munmap(ctl, P);
  return total;
}

/** What a call failed with ("ok" if it did not). */
function errnoOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
}

/** What is at p after the call: the old data, a fresh page, or a hole. */
function whatIsAt(p: number): string {
  if (errnoOf(() => mincore(p, P)) === 'ENOMEM') return 'a hole';
  const v = load32(p);
  return v === 42 ? 'the old data' : v === 0 ? 'a new page' : `a page reading ${v}`;
}

/** A case: what it is, Linux's errno and what Linux leaves (Linux 6.18), ptlab's. */
type Case = [string, string, string, string, string];

function failures(): Case[] {
  const rows: Case[] = [];
  // A sealed range cannot be replaced: EPERM before anything is touched.
  const sealed = mmap(0, P, RW, ANON);
  store32(sealed, 42);
  mseal(sealed, P);
  rows.push(['over a sealed page', 'EPERM', 'the old data', errnoOf(() => mmap(sealed, P, RW, ANON | MAP_FIXED)), whatIsAt(sealed)]);
  // RLIMIT_AS counts the net growth only: replacing 16 pages with 16 pages fits under a limit
  // with no room left; replacing them with 32 pages does not, and fails before the unmap.
  const d = mmap(0, 32 * P, RW, ANON);
  munmap(d + 16 * P, 16 * P);
  store32(d, 42);
  const vmKiB = Number(/VmSize:\s+(\d+)/.exec(readFile('/proc/self/status'))?.[1]);
  const old = getrlimit(RLIMIT_AS);
  setrlimit(RLIMIT_AS, [vmKiB * 1024, old[1]]);
  rows.push(['RLIMIT_AS full, twice the size', 'ENOMEM', 'the old data', errnoOf(() => mmap(d, 32 * P, RW, ANON | MAP_FIXED)), whatIsAt(d)]);
  rows.push(['RLIMIT_AS full, the same size', 'ok', 'a new page', errnoOf(() => mmap(d, 16 * P, RW, ANON | MAP_FIXED)), whatIsAt(d)]);
  setrlimit(RLIMIT_AS, old);
  // No hugetlb pages: hugetlbfs's mmap hook fails, and Linux calls it only after the old
  // page tables were cleared, so the range is left empty ("the old failure method").
  const huge = 2 << 20;
  const h = Math.ceil(mmap(0, 2 * huge, RW, ANON) / huge) * huge;
  store32(h, 42);
  rows.push(['MAP_HUGETLB, empty pool', 'ENOMEM', 'a hole', errnoOf(() => mmap(h, huge, RW, ANON | MAP_FIXED | MAP_HUGETLB)), whatIsAt(h)]);
  return rows;
}

export default function main(argv: string[]): number {
  const usage = 'usage: ptlab run examples/map-fixed.ts [--rounds N] [--threads N] [--pages N]';
  const o = exampleOptions(argv, usage, {
    rounds: { default: '2000', help: 'replacements of the mapping per way' },
    threads: { default: '2', help: 'threads loading and storing meanwhile' },
    pages: { default: '16', help: 'size of the mapping in pages' },
  });
  if (typeof o === 'number') return o;
  const [rounds, threads, pages] = [Number(o.rounds), Number(o.threads), Number(o.pages)];
  if (!Number.isInteger(rounds) || rounds < 1) return refuse(usage, `--rounds ${o.rounds}: a count above 0`);
  if (!Number.isInteger(threads) || threads < 1 || threads > 16) return refuse(usage, `--threads ${o.threads}: 1 to 16`);
  if (!Number.isInteger(pages) || pages < 1 || pages > 4096) return refuse(usage, `--pages ${o.pages}: 1 to 4096`);

  print(`Replacing a ${pages}-page mapping ${rounds} times while ${threads} threads load and store in it:\n`);
  print(`${'way'.padEnd(16)}${'accesses'.padStart(12)}${'page faults'.padStart(13)}${'SIGSEGVs'.padStart(10)}`);
  const bar = progress('map-fixed', 2 * rounds); // a step per replacement, both ways
  const results = (['MAP_FIXED', 'munmap + mmap'] as const).map((way) => {
    const r = run(way, rounds, threads, pages, bar);
    print(`${way.padEnd(16)}${String(r.loads).padStart(12)}${String(r.faults).padStart(13)}${String(r.segvs).padStart(10)}`);
    return r;
  });
  bar.finish();
  print('\nMAP_FIXED over a page holding data, when the call fails (or barely fits):\n');
  print(`${'case'.padEnd(32)}${'Linux 6.18'.padEnd(24)}ptlab`);
  const rows = failures();
  for (const [what, errno, after, got, gotAfter] of rows) print(`${what.padEnd(32)}${`${errno}, ${after}`.padEnd(24)}${got}, ${gotAfter}`);
  // The claims: MAP_FIXED never shows a hole to another thread; each case is as Linux's.
  return results[0]!.segvs === 0 && rows.every(([, e, a, got, gotAfter]) => e === got && a === gotAfter) ? 0 : 1;
}
