// The mshare experiment: a database's shared global area (SGA) mapped by many processes.
// One process creates an area of S bytes and writes every page of it (a database fills its
// SGA at startup), then N clients map it and read and write a word in every page. Three ways:
// MAP_SHARED of a memfd (each client builds its own page tables for the whole area), mshare
// (each client links one PML4 entry to the region's shared tables), and hugetlb PMD sharing
// (a memfd of 2 MiB pages mapped at 1 GiB-aligned addresses: each client links the page
// directory of each GiB). For each way it prints the page-table memory the clients added, in
// total and per client, their minor faults, the time for all of them to attach and touch the
// area (wall clock, and modeled: README.md, "Modeled time"), and TLB misses (completed page walks) per 1000 accesses; then the extrapolation to
// the seed discussion's 300 GB area mapped by 1500 processes.
//
//   node bin/ptlab.mjs run --mem 3G examples/sga.ts [--size-mib S] [--clients N] [--ways file,mshare,hugetlb]
//
// The defaults are 1024 MiB and 64 clients. --mem must hold the area, the file way's page
// tables (S/512 per client) and the host's worker memory; 512 clients need --max-procs and
// --cpus above N as well.
import {
  accessors, close, munmap, counters, ftruncate, mshareCreate, mshareCreateMapping, mshareMap, madvise, MADV_POPULATE_WRITE, MAP_FIXED, MAP_SHARED,
  memfdCreate, MFD_HUGETLB, MAP_NORESERVE, mmap, MSHARE_ALIGN, print, progress, type Progress, writeFile, programPath, PROT_READ, PROT_WRITE, readFile, spawn, store32,
  load32, modeledSeconds, unlink, waitpid, SyscallError, EAGAIN,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const G512 = MSHARE_ALIGN;
const RESULT_BYTES = 32;

const pageTablesKb = () => Number(/PageTables:\s+(\d+)/.exec(readFile('/proc/meminfo'))?.[1]);

const vmPteKb = () => Number(/VmPTE:\s+(\d+)/.exec(readFile('/proc/self/status'))?.[1]);

/**
 * A client, started with the area's descriptor and a shared results page inherited at the
 * numbers in argv: map the area, read and write one word in every page, and write to its
 * slot of the results page what that cost it: faults, accesses, completed page walks and the
 * growth of its page tables (VmPTE).
 */
function client(argv: string[]): number {
  const way = argv[1];
  const [fd, size, resultsFd, slotIndex] = argv.slice(2).map(Number);
  const at = RESULT_BYTES * slotIndex;
  const slot = mmap(0, P, RW, MAP_SHARED, resultsFd, at - (at % P)) + (at % P);
  // Fault the results page in now: its page table is not the area's.
  load32(slot);
  const pte0 = vmPteKb();
  const before = counters();
  const base = mapArea(way, fd, size, slotIndex);
  const { load32: ld, store32: st } = accessors();
  for (let off = 0; off < size; off += P) st(base + off + 8, ld(base + off) + 1);
  const after = counters();
  const d = (name: string) => after[name] - before[name];
  store32(slot, d('page_faults'));
  store32(slot + 4, d('dtlb_loads') + d('dtlb_stores'));
  store32(slot + 8, d('dtlb_load_misses.walk_completed') + d('dtlb_store_misses.walk_completed'));
  store32(slot + 12, vmPteKb() - pte0);
  return 0;
}

/** The hugetlb way's mapping: whole GiBs of the file, at 1 GiB-aligned addresses (PMD sharing needs both). */
const G = 2 ** 30;
const gibs = (size: number) => Math.ceil(size / G) * G;

/** Map the area of `way` from its descriptor: at any address, or a 1 GiB slot of its own for hugetlb. */
function mapArea(way: string, fd: number, size: number, slotIndex: number): number {
  if (way === 'mshare') return mshareMap(fd);
  if (way === 'hugetlb') return mmap((16 + (slotIndex % 1024) * (gibs(size) / G)) * G, gibs(size), RW, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0);
  return mmap(0, size, RW, MAP_SHARED, fd, 0);
}

const HUGE_POOL = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';

const setPool = (pages: number): void => writeFile(HUGE_POOL, String(pages));

interface Result { createMs: number; creatorKb: number; ptKb: number; faults: number; ms: number; modeled: number; missesPer1000: number }

/** The area for one way, mapped and written by the creator: its descriptor and address. */
function createArea(way: string, size: number): { fd: number; base: number } {
  if (way === 'file') {
    const fd = memfdCreate('sga', 0);
    ftruncate(fd, size);
    const base = mmap(0, size, RW, MAP_SHARED, fd, 0);
    madvise(base, size, MADV_POPULATE_WRITE);
    return { fd, base };
  }
  if (way === 'hugetlb') {
    // A hugetlbfs file of whole GiBs (2 MiB pages, only the area's taken from the pool).
    setPool(size / (2 << 20) + 1);
    const fd = memfdCreate('sga', MFD_HUGETLB);
    ftruncate(fd, gibs(size));
    const base = mapArea(way, fd, size, 1023);
    madvise(base, size, MADV_POPULATE_WRITE);
    return { fd, base };
  }
  // A region of 512 GiB (its size and mapping address are multiples of that), an anonymous
  // object at its start (MAP_SHARED | MAP_FIXED | MAP_ANONYMOUS by default), mapped here whole.
  const fd = mshareCreate('/sys/fs/mshare/sga', G512);
  mshareCreateMapping(fd, { regionOffset: 0, size, prot: RW });
  const base = mshareMap(fd);
  // madvise is refused on an mshare VMA (as the series intends), so the owner writes each page.
  const { store32: st } = accessors();
  for (let off = 0; off < size; off += P) st(base + off, 0);
  return { fd, base };
}

function runWay(way: string, size: number, clients: number, bar: Progress): Result {
  const ptBefore = pageTablesKb();
  const t0 = performance.now();
  const area = createArea(way, size);
  const createMs = performance.now() - t0;
  const creatorKb = pageTablesKb() - ptBefore;
  print(`  ${way}: area created and written in ${(createMs / 1000).toFixed(2)} s; starting ${clients} clients`);
  const resultsBytes = Math.ceil((RESULT_BYTES * clients) / P) * P;
  const resultsFd = memfdCreate('sga-results', 0);
  ftruncate(resultsFd, resultsBytes);
  const results = mmap(0, resultsBytes, RW, MAP_SHARED, resultsFd, 0);
  const t1 = performance.now();
  // This process's modeled clock: waitpid leaves it no earlier than the child's end.
  const cycles1 = counters().cycles;
  const args = (i: number) => ['client', way, String(area.fd), String(size), String(resultsFd), String(i)];
  for (let i = 0; i < clients; i++) {
    try {
      spawn(programPath(), args(i));
    } catch (e) {
      if (!(e instanceof SyscallError) || e.errno !== EAGAIN) throw e;
      throw new Error(`client ${i + 1} of ${clients} cannot start (EAGAIN): run ptlab with --max-procs and --cpus above ${clients}`);
    }
  }
  let shown = 0;
  for (let done = 1; done <= clients; done++) {
    const w = waitpid(-1);
    if (w.exitCode !== 0) throw new Error(`client ${w.pid} failed: status ${w.status}`);
    bar.advance(`${way}: ${done}/${clients} clients done`);
    if (done * 8 >= (shown + 1) * clients) {
      while (done * 8 >= (shown + 1) * clients) shown++;
      print(`  ${way}: ${done}/${clients} clients attached and done (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
    }
  }
  const ms = performance.now() - t1;
  const modeled = modeledSeconds(counters().cycles - cycles1);
  let ptKb = 0;
  let faults = 0;
  let accesses = 0;
  let misses = 0;
  for (let i = 0; i < clients; i++) {
    faults += load32(results + RESULT_BYTES * i);
    accesses += load32(results + RESULT_BYTES * i + 4);
    misses += load32(results + RESULT_BYTES * i + 8);
    ptKb += load32(results + RESULT_BYTES * i + 12);
  }
  munmap(area.base, way === 'mshare' ? G512 : way === 'hugetlb' ? gibs(size) : size);
  close(area.fd);
  close(resultsFd);
  if (way === 'mshare') unlink('/sys/fs/mshare/sga');
  if (way === 'hugetlb') setPool(0);
  return { createMs, creatorKb, ptKb, faults, ms, modeled, missesPer1000: (misses * 1000) / accesses };
}

const LABELS: Record<string, string> = { file: 'MAP_SHARED of a memfd', mshare: 'mshare', hugetlb: 'hugetlb PMD sharing' };

/**
 * Physical memory a run takes at its peak (ways run one after another): the area; for the
 * file way, each client's page tables for all of it (S/512) besides the creator's; for
 * hugetlb, the area in 2 MiB pages; and room for the kernel and the processes' own pages.
 */
function memoryNeeded(size: number, clients: number, ways: string[]): number {
  const peak = ways.map((w) => (w === 'file' ? size + (clients + 1) * (size / 512) : w === 'mshare' ? size + size / 256 : Math.ceil(size / (2 << 20)) * (2 << 20)));
  return Math.max(...peak) + 64 * 2 ** 20 + clients * 256 * 1024;
}

export default function main(argv: string[]): number {
  if (argv[0] === 'client') return client(argv);
  const usage = 'usage: ptlab run --mem 3G examples/sga.ts [--size-mib S] [--clients N] [--ways file,mshare,hugetlb]';
  const o = exampleOptions(argv, usage, {
    'size-mib': { default: '1024', help: 'the area, in MiB' },
    clients: { default: '64', help: 'client processes mapping it' },
    ways: { default: 'file,mshare,hugetlb', help: 'ways to share it, comma-separated' },
  });
  if (typeof o === 'number') return o;
  const size = Number(o['size-mib']) * 2 ** 20;
  const clients = Number(o.clients);
  const ways = o.ways.split(',');
  if (!(size >= P && size % P === 0 && size <= G512) || !(Number.isInteger(clients) && clients >= 1) || !ways.every((w) => w in LABELS)) {
    return refuse(usage, '--size-mib is a whole number of pages up to 512 GiB, --clients a positive integer, --ways from file, mshare, hugetlb');
  }
  const need = memoryNeeded(size, clients, ways);
  const have = Number(/MemTotal:\s+(\d+)/.exec(readFile('/proc/meminfo'))?.[1]) * 1024;
  if (have < need) {
    return refuse(usage, `sga.ts: this run needs about ${Math.ceil(need / 2 ** 20)} MiB of memory and the machine has ${Math.floor(have / 2 ** 20)} MiB: run ptlab with --mem ${Math.ceil(need / G)}G`);
  }
  print(`SGA of ${size / 2 ** 20} MiB, ${clients} clients, each reading and writing a word in every page`);
  const rows: (readonly [string, Result])[] = [];
  const bar = progress('sga', ways.length * clients);
  for (const way of ways) {
    try {
      rows.push([way, runWay(way, size, clients, bar)]);
    } catch (e) {
      print(`sga: ${(e as Error).message}`);
      return 1;
    }
  }
  bar.finish();
  print('');
  const bytes = (n: number) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n.toFixed(0)} B`);
  const table = [['way', 'area tables', 'clients\' tables', 'per client', 'minor faults', 'attach+touch', 'modeled', 'TLB misses/1000']];
  for (const [way, r] of rows) {
    table.push([LABELS[way], bytes(r.creatorKb * 1024), bytes(r.ptKb * 1024), bytes((r.ptKb * 1024) / clients), String(r.faults), `${(r.ms / 1000).toFixed(2)} s`, `${r.modeled.toFixed(3)} s`, r.missesPer1000.toFixed(1)]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) print(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   '));
  print('area tables: built by the creator (file) or in the region\'s host mm (mshare); the clients\'');
  print('tables, faults and misses are counted from their mmap of the area to their last access.');
  // Extrapolation: per client the file way costs its measured page-table bytes per byte of
  // area; mshare costs one set of tables (8 bytes per 4 KiB page plus the levels above) and
  // nothing per client but a PML4 entry in a table the process has anyway.
  const gb300 = 300 * 10 ** 9;
  const procs = 1500;
  const file = rows.find(([w]) => w === 'file')?.[1];
  print('');
  print(`extrapolated to a 300 GB area mapped by ${procs} processes (the seed discussion's database):`);
  if (file !== undefined) print(`  MAP_SHARED: ${((file.ptKb * 1024 / clients / size) * gb300 * procs / 2 ** 30).toFixed(0)} GiB of page tables`);
  const shared = (gb300 / P) * 8 * (1 + 1 / 512 + 1 / 512 ** 2);
  print(`  mshare:     ${(shared / 2 ** 20).toFixed(0)} MiB of page tables, once, whatever the number of processes`);
  // 2 MiB pages need a page directory per GiB; PMD sharing keeps one per GiB of the file.
  print(`  hugetlb:    ${((gb300 / G) * P / 2 ** 20).toFixed(1)} MiB of page directories, shared (each process still counts them in VmPTE)`);
  return 0;
}
