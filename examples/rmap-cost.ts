// What reclaim's reverse map costs when many processes map one page, and what mshare changes:
// the mshare reviewer's question ("if 1000 processes share one page, we are reading 1000
// PTEs, with it, are we reading just one? or are we reading the same PTE 1000 times?",
// ../shared/reference/mshare.md section 2.9 and fork-reclaim.md section 3).
//
// A region of S MiB is mapped by N processes, three ways: MAP_SHARED of a memfd (each process
// has its own PTEs for the region: a page has mapcount N), an mshare region (the pages are
// mapped once, in the region's host mm: mapcount 1), and hugetlb PMD sharing (a memfd of
// 2 MiB pages at 1 GiB-aligned addresses: never on an LRU list). Each process maps the
// region, reads and writes a word in every page (every PTE young and dirty) and then idles,
// blocked in wait4: the N processes form a chain, mapper i spawning mapper i+1 and waiting
// for it, because a CPU blocked in a system call needs no wait for a TLB shootdown, while
// one sleeping in guest code would hold every flush for 100 ms (the shootdown timeout).
//
// The last mapper is also the pressure. It fills memory with mlocked (unevictable) anonymous
// memory down to just above the high watermark; then, measured, it writes S/2 more mlocked
// pages, a fault each, while kswapd (woken below low, running on the kernel thread between
// requests) reclaims, and then gives kswapd turns until it has brought free memory back to
// high (writing more if kswapd slept above low before that). The watermarks are widened
// (vm.watermark_scale_factor) so that high - min holds S/2: without anything to reclaim
// (hugetlb) free memory stays above min and nothing is OOM-killed. Everything else each
// process has is mlocked too, so reclaim has only the region to take, and /proc/vmstat's
// counters before and after the phase are the region's: pages scanned and reclaimed, the
// folio_referenced and try_to_unmap walks with the VMAs and PTEs they visited, the accessed
// bits they cleared and the CPUs their TLB flushes went to, and kswapd's modeled time
// (kswapd_modeled_ns: its reclaim on a clock of its own, README.md "Modeled time"). It
// reports the phase's figures as values (report(): ptlab stat lists them, ptlab sweep
// records them; the setup is not in them): for one row under their own names
// (rmap_pte_visits, pte_visits_per_page, modeled_ms, kswapd_modeled_ms...), for several as
// NAME[way=W,procs=N] (the parameters that differ).
//
//   node bin/ptlab.mjs run --swap 256M examples/rmap-cost.ts [--size-mib S] [--procs N[,N...]] [--ways file,mshare,hugetlb]
//
// The defaults are 16 MiB and 256 processes (the default --max-procs and --cpus; more need
// both raised to N or more, as for examples/sga.ts). Without --swap, shmem cannot be
// reclaimed and the program stops with its usage. hugetlb runs last whatever the order
// given: its pressure finds nothing to reclaim, and a kswapd that gave up sleeps until direct
// reclaim succeeds.
import {
  accessors, close, counters, EAGAIN, getpid, ftruncate, madvise, MADV_NOHUGEPAGE, MADV_POPULATE_WRITE, MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE,
  MAP_SHARED, MCL_CURRENT, memfdCreate, MFD_HUGETLB, mlock, mlock2, MLOCK_ONFAULT, mlockall, mmap, modeledSeconds, mshareCreateMapping, munmap,
  O_CREAT, O_RDWR, O_TRUNC, O_WRONLY, open, print, programPath, progress, PROT_READ, PROT_WRITE, readFile, spawn, syscall,
  SyscallError, SYS_mincore, load8, store8, unlink, waitpid, writeFile, writeString,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';
import { reportResults } from './output.ts';

const P = 4096;
const H = 2 ** 21;
const G = 2 ** 30;
const G512 = 2 ** 39;
const RW = PROT_READ | PROT_WRITE;
const REGION = '/sys/fs/mshare/rmap-cost';
const RESULT = '/tmp/rmap-cost-result.json';
const HUGE_POOL = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';
const WSF = '/proc/sys/vm/watermark_scale_factor';
/** Pages kept between the pressure and the watermark it aims at (page tables, the program's own allocations). */
const MARGIN = 64;

const USAGE = 'usage: ptlab run --swap SIZE [--max-procs M --cpus M] rmap-cost.ts [--size-mib S] [--procs N[,N...]] [--ways file,mshare,hugetlb]';

/** The /proc/vmstat counters read before and after the pressure phase. */
const COUNTERS = [
  'pgscan_kswapd', 'pgscan_direct', 'pgsteal_kswapd', 'pgsteal_direct', 'pgrefill', 'pgactivate', 'pgdeactivate', 'pswpout',
  'allocstall_normal', 'oom_kill', 'pageoutrun', 'rmap_walks', 'rmap_vma_visits', 'rmap_pte_visits', 'rmap_abit_clears',
  'rmap_flush_targets', 'nr_tlb_remote_flush', 'nr_tlb_remote_flush_received', 'kswapd_modeled_ns',
] as const;
type Counts = Record<(typeof COUNTERS)[number], number>;

const field = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
const vmstat = (): Record<string, number> => Object.fromEntries(readFile('/proc/vmstat').trim().split('\n').map((l) => {
  const [name, v] = l.split(' ');
  return [name, Number(v)];
}));
const zone = (): { free: number; min: number; low: number; high: number; managed: number } => {
  const z = readFile('/proc/zoneinfo');
  const f = (name: string) => field(z, new RegExp(`^\\s+${name}\\s+(\\d+)`, 'm'));
  return { free: field(z, /pages free\s+(\d+)/), min: f('min'), low: f('low'), high: f('high'), managed: f('managed') };
};

/** The region's length in the mapping: hugetlb maps whole GiBs (PMD sharing needs 1 GiB-aligned, 1 GiB-long ranges). */
const mapLen = (way: string, size: number): number => (way === 'mshare' ? G512 : way === 'hugetlb' ? Math.ceil(size / G) * G : size);

/** Map the region of `way` from its descriptor: anywhere, or a 1 GiB slot of its own for hugetlb. */
function mapRegion(way: string, fd: number, size: number, index: number): number {
  if (way === 'hugetlb') return mmap((16 + (index % 1024) * (mapLen(way, size) / G)) * G, mapLen(way, size), RW, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0);
  return mmap(0, mapLen(way, size), RW, MAP_SHARED, fd, 0);
}

/** Pages of [base, base + size) resident (mincore: a present PTE, or the page in its cache). */
function resident(base: number, size: number, vec: number): number {
  const pages = size / P;
  const r = syscall(SYS_mincore, base, size, vec);
  if (r < 0) throw new Error(`mincore: errno ${-r}`);
  let n = 0;
  for (let i = 0; i < pages; i++) n += load8(vec + i) & 1;
  return n;
}

interface Member { way: string; fd: number; size: number; index: number; n: number; readyFd: number }

/**
 * Mapper `index` of the chain (the driver is mapper 0). It starts the next mapper first (so
 * that the next worker boots while this one works), locks what the process has (the
 * userland's scratch buffer, made by that spawn, and the ready flags: mlocked, so that
 * reclaim has only the region to take), maps the region, reads and writes a word in every
 * page and sets its ready flag; then it waits for the next mapper, or, as the last one,
 * waits for every flag and is the pressure. Returns the chain's exit status and where the
 * region and the flags are mapped here.
 */
function attach(m: Member): { status: number; base: number; ready: number } {
  const last = m.index + 1 === m.n;
  // The last one's first call with a buffer (progress's isatty, which makes the scratch buffer) is this line.
  const bar = last ? progress(`rmap-cost, ${m.way}, ${procs(m.n)}`, m.n) : null;
  const next = last ? 0 : spawnNext(m);
  const ready = mmap(0, readyLen(m.n), RW, MAP_SHARED, m.readyFd, 0);
  mlockall(MCL_CURRENT);
  const base = mapRegion(m.way, m.fd, m.size, m.index);
  // The PTEs in one call rather than a fault per 64 KiB (madvise is refused on an mshare
  // VMA, whose tables are linked on the first fault); then every page read and written
  // through the MMU, which sets the accessed and dirty bits.
  if (m.way !== 'mshare') madvise(base, m.size, MADV_POPULATE_WRITE);
  const { load32: ld, store32: st } = accessors();
  for (let off = 0; off < m.size; off += P) st(base + off + 8, ld(base + off) + 1);
  store8(ready + m.index, 1);
  if (!last) {
    if (next < 0) return { status: 3, base, ready };
    const w = waitpid(next);
    return { status: w.exitCode ?? 128 + (w.signal ?? 0), base, ready };
  }
  for (let n = 0; n < m.n; n = countReady(ready, m.n)) {
    bar?.update(n, 'have mapped and touched the region');
    nap(20);
  }
  bar?.finish('have mapped and touched the region; pressure');
  return { status: pressure(base, m.size), base, ready };
}

/** Start mapper index + 1; its pid, or -1 with a message if no process slot is left. */
function spawnNext(m: Member): number {
  const argv = ['member', m.way, String(m.fd), String(m.size), String(m.index + 1), String(m.n), String(m.readyFd)];
  try {
    return spawn(programPath(), argv);
  } catch (e) {
    if (!(e instanceof SyscallError) || e.errno !== EAGAIN) throw e;
    writeString(2, `\nrmap-cost: mapper ${m.index + 2} of ${m.n} cannot start (EAGAIN): run ptlab with --max-procs and --cpus of at least ${m.n}\n`);
    return -1;
  }
}

const procs = (n: number): string => `${n} process${n === 1 ? '' : 'es'}`;

/** The ready flags: a byte per mapper in a shared memfd. */
const readyLen = (n: number): number => Math.ceil(n / P) * P;

function countReady(ready: number, n: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) k += load8(ready + i);
  return k;
}

/** Sleep on the host for `ms` (no system call: the kernel thread is left to kswapd and the others). */
const nap = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Anonymous memory of `pages`, mlocked now (populated) or as it is written (MLOCK_ONFAULT). */
function lockedAnon(pages: number, onFault: boolean): number {
  const len = Math.max(1, pages) * P;
  const a = mmap(0, len, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  madvise(a, len, MADV_NOHUGEPAGE); // page by page: the pressure must not jump 512 pages at once
  if (onFault) mlock2(a, len, MLOCK_ONFAULT);
  else mlock(a, len);
  return a;
}

/**
 * Ask kswapd to finish: system calls, each of which gives the kernel thread a turn between
 * requests, until kswapd has stopped running (pageoutrun unchanged over 200 calls: free memory
 * above high, or it gave up). Throws after 120 s.
 */
function drainKswapd(): void {
  const t0 = performance.now();
  for (let last = -1; ;) {
    for (let i = 0; i < 200; i++) getpid();
    const runs = vmstat().pageoutrun;
    if (runs === last) return;
    last = runs;
    if (performance.now() - t0 > 120_000) throw new Error('kswapd still running after 120 s');
  }
}

interface Result {
  regionPages: number;
  before: number;
  after: number;
  ms: number;
  /** The pressure process's modeled time over the phase, ms (README.md, "Modeled time"). */
  modeledMs: number;
  d: Counts;
  /** Swap still in use once the way's region is gone (KiB): 0 unless swap entries leaked. */
  swapLeftKb?: number;
}

/**
 * Write `pages` more pages of the pressure at a[at...], one fault each (each page mlocked
 * as it comes): kswapd gets the kernel thread between faults, and a fault reclaims itself
 * only below min (a system call would reclaim at its entry below low). Returns the new `at`.
 */
function write(a: number, at: number, pages: number): number {
  const { store32: st } = accessors();
  for (let i = 0; i < pages; i++) st(a + (at + i) * P, at + i);
  return at + pages;
}

/**
 * The measured phase: write `target` mlocked pages (of at most `room`, mapped here) starting
 * at high, then let reclaim bring free memory back to high. Kswapd may reach high during the
 * writes and sleep again above low; then more pages are written until free memory is below
 * low once more (at most high - low more). Returns the pages written (with free memory back
 * at high, as many were reclaimed) and where. With nothing to reclaim, free memory stays
 * below low and above min: no OOM.
 */
function push(target: number, room: number): { pages: number; addr: number } {
  const a = lockedAnon(room, true);
  let at = write(a, 0, target);
  for (;;) {
    drainKswapd();
    const z = zone();
    if (z.free < z.low || z.free >= z.high || at >= room) break;
    at = write(a, at, Math.min(room - at, z.free - z.low + 1));
  }
  return { pages: at, addr: a };
}

/**
 * The last mapper: fill memory with mlocked memory to just above high, then, measured, push
 * half the region's size below it (push) and let reclaim take it back. Writes the result for
 * the driver to RESULT; exit status 4 if the region was not all resident to start with.
 */
function pressure(base: number, size: number): number {
  const regionPages = size / P;
  const vec = lockedAnon(Math.ceil(regionPages / P), false);
  const before = resident(base, size, vec);
  // Two steps: the first leaves room for its own page tables (1/512), the second is exact.
  let z = zone();
  const fill = Math.max(0, Math.floor((z.free - z.high - MARGIN) * 0.995));
  const a1 = lockedAnon(fill, false);
  z = zone();
  const fill2 = Math.max(0, z.free - z.high - MARGIN);
  const a2 = lockedAnon(fill2, false);
  z = zone();
  const target = Math.ceil(regionPages / 2);
  const room = target + (z.high - z.low) + MARGIN;
  const v0 = vmstat();
  const t0 = performance.now();
  const c0 = counters().cycles;
  const p = push(target, room);
  const modeledMs = modeledSeconds(counters().cycles - c0) * 1000;
  const ms = performance.now() - t0;
  const v1 = vmstat();
  const after = resident(base, size, vec);
  munmap(p.addr, room * P);
  munmap(a2, Math.max(1, fill2) * P);
  munmap(a1, Math.max(1, fill) * P);
  const d = Object.fromEntries(COUNTERS.map((c) => [c, v1[c] - v0[c]])) as Counts;
  const r: Result = { regionPages, before, after, ms, modeledMs, d };
  const fd = open(RESULT, O_WRONLY | O_CREAT | O_TRUNC, 0o600);
  writeString(fd, JSON.stringify(r));
  close(fd);
  return before === regionPages ? 0 : 4;
}

/** The region for one way, created by the driver: its descriptor (nothing mapped yet). */
function createRegion(way: string, size: number): number {
  if (way === 'file') {
    const fd = memfdCreate('rmap-cost', 0);
    ftruncate(fd, size);
    return fd;
  }
  if (way === 'hugetlb') {
    writeFile(HUGE_POOL, String(Math.ceil(size / H) + 1));
    const fd = memfdCreate('rmap-cost', MFD_HUGETLB);
    ftruncate(fd, mapLen(way, size));
    return fd;
  }
  const fd = open(REGION, O_RDWR | O_CREAT, 0o600);
  ftruncate(fd, G512);
  mshareCreateMapping(fd, { regionOffset: 0, size, prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED });
  return fd;
}

/** One row: create the region, run the chain of n mappers (this process first), read the result, clean up. */
function runWay(way: string, size: number, n: number): Result {
  const fd = createRegion(way, size);
  const readyFd = memfdCreate('rmap-cost-ready', 0);
  ftruncate(readyFd, readyLen(n));
  const { status, base, ready } = attach({ way, fd, size, index: 0, n, readyFd });
  if (status === 3) throw new Error('not enough process slots');
  if (status !== 0) throw new Error(`the chain of mappers failed: status ${status}${status === 4 ? ' (the region was not all resident before the pressure)' : ''}`);
  const r = JSON.parse(readFile(RESULT)) as Result;
  const reclaimed = r.d.pgsteal_kswapd + r.d.pgsteal_direct;
  writeString(2, `  ${way}, ${procs(n)}: ${reclaimed} pages reclaimed in ${(r.ms / 1000).toFixed(2)} s (host)\n`);
  unlink(RESULT);
  munmap(base, mapLen(way, size));
  munmap(ready, readyLen(n));
  close(fd);
  close(readyFd);
  if (way === 'mshare') unlink(REGION);
  if (way === 'hugetlb') writeFile(HUGE_POOL, '0');
  const mi = readFile('/proc/meminfo');
  r.swapLeftKb = field(mi, /^SwapTotal:\s+(\d+)/m) - field(mi, /^SwapFree:\s+(\d+)/m);
  return r;
}

const LABELS: Record<string, string> = { file: 'MAP_SHARED of a memfd', mshare: 'mshare region', hugetlb: 'hugetlb PMD sharing' };
const ORDER = ['file', 'mshare', 'hugetlb'];

interface Options { size: number; procs: number[]; ways: string[] }

function parse(o: Record<'size-mib' | 'procs' | 'ways', string>): Options | null {
  const size = Number(o['size-mib']) * 2 ** 20;
  const procs = o.procs.split(',').map(Number);
  const ways = o.ways.split(',');
  if (!(Number.isInteger(size / P) && size >= 64 * P && size <= 2 ** 32)) return null;
  if (!procs.every((n) => Number.isInteger(n) && n >= 1 && n <= 4096)) return null;
  if (!ways.every((w) => w in LABELS)) return null;
  // hugetlb last: see the header.
  return { size, procs, ways: ORDER.filter((w) => ways.includes(w)) };
}

/**
 * Widen the watermarks (vm.watermark_scale_factor) so that reclaim from just above min to
 * high takes about half the region: high - min = 2 * delta. Returns the old value.
 */
function widenWatermarks(size: number): string {
  const old = readFile(WSF).trim();
  const delta = Math.ceil((size / P / 2 + MARGIN) / 2);
  const wsf = Math.min(3000, Math.ceil((delta * 10000) / zone().managed));
  writeFile(WSF, String(wsf));
  return old;
}

const num = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

/** One table row: what the phase did per page reclaimed (pgsteal), and per walk. */
function row(way: string, n: number, r: Result): string[] {
  const d = r.d;
  const reclaimed = d.pgsteal_kswapd + d.pgsteal_direct;
  const per = (x: number, digits = 1) => (reclaimed > 0 ? num(x / reclaimed, digits) : '-');
  // Every page freed had one try_to_unmap; the other walks are folio_referenced.
  const referencedCalls = d.rmap_walks - reclaimed;
  return [
    LABELS[way], String(n), `${r.before - r.after}/${r.regionPages}`, String(d.pgscan_kswapd + d.pgscan_direct + d.pgrefill),
    String(d.pgactivate), per(d.rmap_walks, 2), d.rmap_walks > 0 ? num(d.rmap_pte_visits / d.rmap_walks) : '-', per(d.rmap_vma_visits),
    per(d.rmap_pte_visits), referencedCalls > 0 ? num(d.rmap_abit_clears / referencedCalls, 2) : '-', per(d.rmap_flush_targets),
    per(d.nr_tlb_remote_flush_received, 2), reclaimed > 0 ? `${num((r.modeledMs * 1000) / reclaimed, 1)} us` : `(${num(r.modeledMs / 1000, 3)} s)`,
    reclaimed > 0 ? `${num(d.kswapd_modeled_ns / 1000 / reclaimed, 1)} us` : `(${num(d.kswapd_modeled_ns / 1e9, 3)} s)`,
    reclaimed > 0 ? `${num((r.ms * 1000) / reclaimed, 0)} us` : `(${num(r.ms / 1000, 2)} s)`,
  ];
}

/**
 * The pressure phase's figures as report() values (the table's, from the same counters; the
 * totals besides the per-page ones): nothing of the setup (mapping, touching, filling) counts.
 */
function values(r: Result): Record<string, number> {
  const d = r.d;
  const reclaimed = d.pgsteal_kswapd + d.pgsteal_direct;
  const per = (x: number) => (reclaimed > 0 ? x / reclaimed : NaN);
  return {
    pages_reclaimed: reclaimed, region_pages_freed: r.before - r.after, pages_scanned: d.pgscan_kswapd + d.pgscan_direct + d.pgrefill,
    rmap_walks: d.rmap_walks, rmap_vma_visits: d.rmap_vma_visits, rmap_pte_visits: d.rmap_pte_visits, rmap_flush_targets: d.rmap_flush_targets,
    tlb_ipis: d.nr_tlb_remote_flush_received, pte_visits_per_page: per(d.rmap_pte_visits), walks_per_page: per(d.rmap_walks),
    modeled_ms: r.modeledMs, modeled_us_per_page: per(r.modeledMs * 1000), kswapd_modeled_ms: d.kswapd_modeled_ns / 1e6,
    kswapd_modeled_us_per_page: per(d.kswapd_modeled_ns / 1000), host_ms: r.ms, oom_kills: d.oom_kill,
  };
}

const HEADER = [
  'way', 'procs', 'reclaimed', 'scanned', 'activated', 'walks/page', 'PTEs/walk', 'VMA visits/page', 'PTE visits/page',
  'young/folio_ref', 'flush targets/page', 'IPIs/page', 'modeled/page', 'kswapd modeled/page', 'host time/page',
];

function printTable(rows: string[][]): void {
  const table = [HEADER, ...rows];
  const widths = HEADER.map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const r of table) print(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
}

function explain(results: [string, number, Result][]): void {
  print('');
  print('reclaimed: pages of the region no longer resident (mincore) / its pages; scanned: pages reclaim looked at on the');
  print('inactive and active lists (pgscan + pgrefill); activated: pgactivate. Per page: per page reclaimed (pgsteal), every');
  print('other page being mlocked. walks: folio_referenced and try_to_unmap calls (rmap_walks); young/folio_ref: accessed bits');
  print('found set (and cleared) per folio_referenced call (the walks less one try_to_unmap per page reclaimed); flush targets:');
  print('CPUs that try_to_unmap\'s TLB flushes went to (rmap_flush_targets); IPIs: remote flushes received, after batching');
  print('(nr_tlb_remote_flush_received); modeled: the pressure process\'s modeled time over the phase (its faults and system');
  print('calls, with the direct reclaim they did); kswapd modeled: kswapd\'s own modeled clock over the phase (its reclaim,');
  print('charged to no process: kswapd_modeled_ns); both price each VMA and PTE a walk visits (rmapVma, rmapPte) and each');
  print('PTE written (pteWrite); and host time: the phase\'s, each per page reclaimed (in parentheses the whole phase if none was).');
  for (const [way, n, r] of results) {
    const d = r.d;
    const reclaimed = d.pgsteal_kswapd + d.pgsteal_direct;
    if (reclaimed !== r.before - r.after) print(`note: ${way}, ${procs(n)}: reclaim freed ${reclaimed} pages, ${r.before - r.after} of them the region's`);
    if (d.oom_kill > 0) print(`note: ${way}, ${procs(n)}: the OOM killer ran ${d.oom_kill} times`);
    if (r.swapLeftKb !== 0) print(`note: ${way}, ${procs(n)}: ${r.swapLeftKb} KiB of swap still in use after the region was freed`);
  }
  print('');
  const ran = new Set(results.map(([way]) => way));
  for (const way of ORDER) if (ran.has(way)) for (const line of MEANING[way]) print(line);
}

/** What each way's row says, in words. */
const MEANING: Record<string, string[]> = {
  file: [
    'file:    every page has a PTE in each of the N processes: a walk visits N VMAs and reads N PTEs (it stops at mapcount),',
    '         and try_to_unmap flushes N address spaces. The first look finds N young PTEs of N and activates the page;',
    '         a page touched by one process of N would show 1 young PTE of N.',
  ],
  mshare: [
    'mshare:  the page is mapped once, in the region\'s host mm: a walk visits 1 VMA and reads 1 PTE, whatever N; the',
    '         flush goes to every CPU the region may be cached on. The one accessed bit stands for all N processes: a page',
    '         touched by one of them looks as hot as one touched by all, and one young PTE only earns a second trip.',
  ],
  hugetlb: ['hugetlb: the pages are on no LRU list: reclaim never scans them and nothing is reclaimed.'],
};

export function member(argv: string[]): number {
  const [fd, size, index, n, readyFd] = argv.slice(2).map(Number);
  return attach({ way: argv[1], fd, size, index, n, readyFd }).status;
}

export default function main(argv: string[]): number {
  if (argv[0] === 'member') return member(argv);
  const v = exampleOptions(argv, USAGE, {
    'size-mib': { default: '16', help: 'the region, in MiB' },
    procs: { default: '256', help: 'processes mapping it, comma-separated counts for several rows' },
    ways: { default: ORDER.join(','), help: 'ways, comma-separated: file, mshare, hugetlb' },
  });
  if (typeof v === 'number') return v;
  const o = parse(v);
  if (o === null) return refuse(USAGE, '--size-mib is at least 256 KiB and at most 4 GiB in pages, --procs counts from 1 to 4096, --ways from file, mshare, hugetlb');
  const swapKb = field(readFile('/proc/meminfo'), /^SwapTotal:\s+(\d+)/m);
  if (!(swapKb >= o.size / 1024) && o.ways.some((w) => w !== 'hugetlb')) {
    const what = swapKb > 0 ? `${swapKb} KiB of swap is less than the region` : 'no swap';
    writeString(2, `rmap-cost: ${what}: shmem (a memfd, an mshare region) is reclaimed only to swap; run ptlab with --swap SIZE of at least the region (e.g. --swap 256M)\n${USAGE}\n`);
    return 2;
  }
  print(`rmap cost of reclaim: a ${o.size / 2 ** 20} MiB region mapped by ${o.procs.join(', ')} processes, each having read and written every page`);
  const old = widenWatermarks(o.size);
  const results: [string, number, Result][] = [];
  const t0 = performance.now();
  try {
    for (const way of o.ways) for (const n of o.procs) results.push([way, n, runWay(way, o.size, n)]);
  } catch (e) {
    writeString(2, `rmap-cost: ${(e as Error).message}\n`);
    return 1;
  } finally {
    writeFile(WSF, old);
  }
  print('');
  printTable(results.map(([way, n, r]) => row(way, n, r)));
  reportResults(results.map(([way, n, r]) => ({ point: { way, size_mib: o.size / 2 ** 20, procs: n }, values: values(r) })));
  explain(results);
  print(`\n(${num((performance.now() - t0) / 1000)} s)`);
  return 0;
}
