// The Zygote experiment: Android starts every app by forking a Zygote process that has
// preloaded the framework (fork without exec), so each app starts with a copy-on-write copy
// of the Zygote's address space and, with it, its own copy of the page tables that map the
// preloaded image. The Android developers put this at "upwards of 200 MB of redundant page
// table overhead per device" (Kalesh Singh, linux-mm, February 2026; see
// ../shared/reference/mshare.md), one reason they asked for mshare.
//
// A Zygote maps and populates an image of S MiB: half a private mapping of a file (read in,
// a word written every 64 pages, as relocations do, so the mapping has an anon_vma and fork
// copies its page tables), half private anonymous memory (written). It forks N apps; each
// reads a quarter of the image's pages and writes one in 50 of those, then (once every app
// has) reports its VmPTE, Rss and Pss. The second way puts the image in an mshare region:
// fork copies the region's VMA but not its tables, and each app links to the region's shared
// page tables on its first fault (writes there are shared, not copied: mshare memory is
// shared memory). For each way: page-table bytes per app, COW copies, RSS and PSS per app,
// fork time (modeled, README.md "Modeled time", and the host's), and the extrapolation to a
// phone with 100 apps. It reports those figures as values (report(): ptlab stat lists them,
// ptlab sweep records them), with the PTEs the forks copied per app (/proc/vmstat's
// fork_ptes_copied over the forks): for one way under their own names (tables_kib_per_app,
// tables_kib_all_apps, ptes_copied_per_app...), for several as NAME[way=W].
//
//   node bin/ptlab.mjs run examples/zygote.ts [--image-mib S] [--apps N] [--ways fork,mshare]
//
// The defaults are 256 MiB and 32 apps (the default 1 GiB of memory holds them).
import {
  accessors, close, counters, fork, ftruncate, mshareCreate, mshareCreateMapping, mshareDetach, mshareMap, madvise, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
  MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, memfdCreate, mmap, modeledSeconds, munmap, print, progress, PROT_READ, PROT_WRITE, readFile,
  store32, load32, unlink, waitpid,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';
import { reportResults } from './output.ts';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const REGION = '/sys/fs/mshare/zygote';
/** The results page: a go flag at 0, then a slot of 16 bytes per app (ready, VmPTE, Rss, Pss in kB). */
const SLOT = 16;

const USAGE = 'usage: zygote.ts [--image-mib S] [--apps N] [--ways fork,mshare]';

const kb = (text: string, name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
const vmstat = (name: string): number => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(readFile('/proc/vmstat'))?.[1] ?? NaN);

/** Sleep on the host for `ms` (the app's worker waits without a syscall). */
const nap = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

interface AppArg {
  index: number;
  base: number;
  size: number;
  results: number;
}

/**
 * An app forked from the Zygote: read every fourth page of the image (starting at its own
 * offset), write one in 50 of them, mark itself ready, wait for every app to be, report.
 */
export function app(a: AppArg): number {
  const { load32: ld, store32: st } = accessors();
  const pages = a.size / P;
  let sum = 0;
  for (let i = a.index % 4, n = 0; i < pages; i += 4, n++) {
    sum += ld(a.base + i * P);
    if (n % 50 === 0) st(a.base + i * P + 4, a.index);
  }
  const slot = a.results + SLOT * (a.index + 1);
  store32(slot, 1);
  while (load32(a.results) === 0) nap(1);
  const status = readFile('/proc/self/status');
  const rollup = readFile('/proc/self/smaps_rollup');
  store32(slot + 4, kb(status, 'VmPTE'));
  store32(slot + 8, kb(rollup, 'Rss'));
  store32(slot + 12, kb(rollup, 'Pss'));
  return sum >= 0 ? 0 : 1;
}

/** The fork way's image: a private file mapping read in (relocations written) and private anonymous memory written. */
function forkImage(size: number): { base: number; cleanup: () => void } {
  const half = size / 2;
  const fd = memfdCreate('zygote-image', 0);
  ftruncate(fd, half);
  const fill = mmap(0, half, RW, MAP_SHARED, fd, 0);
  madvise(fill, half, MADV_POPULATE_WRITE); // the file's pages, in the page cache
  munmap(fill, half);
  // One range: the file's private mapping, then anonymous memory right after it.
  const base = mmap(0, size, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  mmap(base, half, RW, MAP_PRIVATE | MAP_FIXED, fd, 0);
  madvise(base, half, MADV_POPULATE_READ);
  for (let off = 0; off < half; off += 64 * P) store32(base + off, 1);
  madvise(base + half, half, MADV_POPULATE_WRITE);
  return { base, cleanup: () => { munmap(base, size); close(fd); } };
}

/** The mshare way's image: an anonymous object in a region, written by the Zygote. */
function mshareImage(size: number): { base: number; cleanup: () => void } {
  const fd = mshareCreate(REGION); // 512 GiB, the smallest region
  mshareCreateMapping(fd, { regionOffset: 0, size, prot: RW }); // anonymous, MAP_SHARED | MAP_FIXED
  const base = mshareMap(fd);
  const { store32: st } = accessors();
  for (let off = 0; off < size; off += P) st(base + off, 0); // madvise is refused on an mshare VMA
  return { base, cleanup: () => { mshareDetach(fd, base); close(fd); unlink(REGION); } };
}

interface Result {
  zygotePteKb: number; pteKb: number; cowFaults: number; rssKb: number; pssKb: number; forkMs: number; modeledForkMs: number;
  /** PTEs (and huge leaves) the forks copied, all apps (/proc/vmstat fork_ptes_copied over the forks). */
  ptesCopied: number;
}

function runWay(way: string, size: number, apps: number): Result {
  const t0 = performance.now();
  const image = way === 'fork' ? forkImage(size) : mshareImage(size);
  print(`  ${way}: image of ${size / 2 ** 20} MiB populated in ${((performance.now() - t0) / 1000).toFixed(2)} s; forking ${apps} apps`);
  const zygotePteKb = kb(readFile('/proc/self/status'), 'VmPTE');
  const resultsLen = Math.ceil((SLOT * (apps + 1)) / P) * P;
  const results = mmap(0, resultsLen, RW, MAP_SHARED | MAP_ANONYMOUS);
  const cow0 = vmstat('cow_faults');
  const copied0 = vmstat('fork_ptes_copied');
  let forkMs = 0;
  let forkCycles = 0;
  const pids: number[] = [];
  const bar = progress(`zygote, ${way}`, 2 * apps);
  for (let i = 0; i < apps; i++) {
    const t = performance.now();
    const c = counters().cycles;
    pids.push(fork('app', { index: i, base: image.base, size, results } satisfies AppArg));
    forkCycles += counters().cycles - c;
    forkMs += performance.now() - t;
    bar.update(i + 1, `${i + 1}/${apps} apps forked`);
  }
  const ptesCopied = vmstat('fork_ptes_copied') - copied0;
  const ready = () => { let n = 0; for (let i = 1; i <= apps; i++) n += load32(results + SLOT * i); return n; };
  for (let n = ready(); n < apps; n = ready()) {
    bar.update(apps + n, `${n}/${apps} apps have touched their share`);
    nap(5);
  }
  bar.finish(`${apps}/${apps} apps have touched their share`);
  const cowFaults = vmstat('cow_faults') - cow0;
  store32(results, 1); // every app measures now, with all of them alive
  for (const pid of pids) {
    const w = waitpid(pid);
    if (w.exitCode !== 0) throw new Error(`app ${pid} failed: status ${w.status}`);
  }
  let pteKb = 0;
  let rssKb = 0;
  let pssKb = 0;
  for (let i = 1; i <= apps; i++) {
    pteKb += load32(results + SLOT * i + 4);
    rssKb += load32(results + SLOT * i + 8);
    pssKb += load32(results + SLOT * i + 12);
  }
  munmap(results, resultsLen);
  image.cleanup();
  return { zygotePteKb, pteKb: pteKb / apps, cowFaults, rssKb: rssKb / apps, pssKb: pssKb / apps, forkMs, modeledForkMs: modeledSeconds(forkCycles) * 1000, ptesCopied };
}

/** A way's figures as report() values (the table's, per app where it says so). */
function values(r: Result, apps: number): Record<string, number> {
  return {
    zygote_tables_kib: r.zygotePteKb, tables_kib_per_app: r.pteKb, tables_kib_all_apps: r.pteKb * apps, ptes_copied_per_app: r.ptesCopied / apps,
    cow_copies: r.cowFaults, rss_kib_per_app: r.rssKb, pss_kib_per_app: r.pssKb, fork_modeled_ms_per_app: r.modeledForkMs / apps, fork_host_ms_per_app: r.forkMs / apps,
  };
}

const LABELS: Record<string, string> = { fork: 'fork (private page tables)', mshare: 'mshare region' };

function parse(o: Record<'image-mib' | 'apps' | 'ways', string>): { size: number; apps: number; ways: string[] } | null {
  const size = Number(o['image-mib']) * 2 ** 20;
  const apps = Number(o.apps);
  const ways = o.ways.split(',');
  if (!(size >= 8 * P && size % (8 * P) === 0 && size <= 2 ** 32) || !(Number.isInteger(apps) && apps >= 1)) return null;
  return ways.every((w) => w in LABELS) ? { size, apps, ways } : null;
}

export default function main(argv: string[]): number {
  const v = exampleOptions(argv, USAGE, {
    'image-mib': { default: '256', help: 'the preloaded image, in MiB (a multiple of 32 KiB)' },
    apps: { default: '32', help: 'apps forked from it' },
    ways: { default: 'fork,mshare', help: 'ways, comma-separated: fork, mshare' },
  });
  if (typeof v === 'number') return v;
  const o = parse(v);
  if (o === null) return refuse(USAGE, '--image-mib is a multiple of 32 KiB up to 4 GiB, --apps a positive integer, --ways from fork, mshare');
  print(`Zygote: a ${o.size / 2 ** 20} MiB preloaded image, ${o.apps} apps forked from it`);
  const rows: [string, Result][] = o.ways.map((w) => [w, runWay(w, o.size, o.apps)]);
  const mib = (k: number) => (k / 1024).toFixed(2);
  print('\n| way | Zygote VmPTE | page tables per app | COW copies (all apps) | RSS per app | PSS per app | fork time per app (modeled) | (host) | page tables, 100 apps |');
  print('|---|---|---|---|---|---|---|---|---|');
  for (const [w, r] of rows) {
    print(`| ${LABELS[w]} | ${r.zygotePteKb.toLocaleString('en')} KiB | ${r.pteKb.toFixed(0)} KiB | ${r.cowFaults.toLocaleString('en')} | ${mib(r.rssKb)} MiB | ${mib(r.pssKb)} MiB | ${(r.modeledForkMs / o.apps).toFixed(3)} ms | ${(r.forkMs / o.apps).toFixed(2)} ms | ${mib(r.pteKb * 100)} MiB |`);
  }
  if (rows.some(([w]) => w === 'mshare')) {
    print('\nmshare: the region\'s tables are the host mm\'s, counted once in PageTables (not in any VmPTE); its pages are');
    print('mapped once, by that host mm, so every app\'s smaps counts them whole in Rss and Pss, and writes to them are shared.');
  }
  reportResults(rows.map(([w, r]) => ({ point: { way: w, image_mib: o.size / 2 ** 20, apps: o.apps }, values: values(r, o.apps) })));
  const f = rows.find(([w]) => w === 'fork')?.[1];
  if (f !== undefined) {
    print(`\nWith private page tables each app carries ${f.pteKb.toFixed(0)} KiB of tables for a ${o.size / 2 ** 20} MiB image: ${(f.pteKb / (o.size / 2 ** 20)).toFixed(2)} KiB per MiB mapped,`);
    print(`so 100 apps carry ${mib(f.pteKb * 100)} MiB; Android reports "upwards of 200 MB" per device for its much larger mapped framework.`);
  }
  return 0;
}
