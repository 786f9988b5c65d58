// The mshare experiment: a database's shared global area (SGA) mapped by many processes.
// One process creates an area of S bytes and writes every page of it (a database fills its
// SGA at startup), then N clients map it, read and write a word in every page, and stay
// attached until every client has done so (or been killed). Three ways: MAP_SHARED of a
// memfd (each client builds its own page tables for the whole area), mshare (each client
// links one PML4 entry to the region's shared tables), and hugetlb PMD sharing (a memfd of
// 2 MiB pages mapped at 1 GiB-aligned addresses: each client links the page directory of
// each GiB). For each way it prints how many clients completed and how many were killed (by
// which signal: the OOM killer's SIGKILL when their page tables do not fit), the page-table
// memory the clients added, in total and per client, their minor faults, the time for all
// of them to attach and touch the area (wall clock, and modeled: README.md, "Modeled time"),
// and TLB misses (completed page walks) per 1000 accesses; then a headline (how many clients
// each way fits in the machine's memory) and the extrapolation to the seed discussion's
// 300 GB area mapped by 1500 processes. It reports the same figures as values (report():
// ptlab stat lists them, ptlab sweep records them), those of its --json results: for one way
// under their own names (clients_tables_kib, minor_faults, modeled_seconds...), for several
// as NAME[way=W].
//
//   node bin/ptlab.mjs run --mem 3G examples/sga.ts [--size-mib S] [--clients N] [--ways file,mshare,hugetlb] [--json] [--plot FILE]
//   node bin/ptlab.mjs run --mem 136M examples/sga.ts --size-mib 128 --clients 64 --ways file,mshare
//
// The defaults are 1024 MiB and 64 clients. --mem must hold the area; with less than the
// file way's page tables besides (S/512 per client), the OOM killer kills MAP_SHARED
// clients (the creator is exempt: oom_score_adj -1000). 512 clients need --max-procs and
// --cpus above N as well.
import {
  accessors, close, munmap, counters, ftruncate, mshareCreate, mshareCreateMapping, mshareMap, madvise, MADV_POPULATE_WRITE, MAP_FIXED, MAP_SHARED,
  memfdCreate, MFD_HUGETLB, MAP_NORESERVE, mmap, MSHARE_ALIGN, print, progress, type Progress, writeFile, programPath, PROT_READ, PROT_WRITE, readFile, spawn, store32,
  load32, modeledSeconds, unlink, waitpid, SyscallError, EAGAIN, SIGNAL_NAMES, pipe, readAll,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';
import { OUTPUT_OPTIONS, printJson, reportResults, type Result as JsonResult, writePlot } from './output.ts';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const G512 = MSHARE_ALIGN;
const RESULT_BYTES = 32;

const pageTablesKb = () => Number(/PageTables:\s+(\d+)/.exec(readFile('/proc/meminfo'))?.[1]);

const vmPteKb = () => Number(/VmPTE:\s+(\d+)/.exec(readFile('/proc/self/status'))?.[1]);

/**
 * A client, started with the area's descriptor, a shared results page and two pipes
 * inherited at the numbers in argv: map the area, read and write one word in every page,
 * write to its slot of the results page what that cost it (faults, accesses, completed page
 * walks and the growth of its page tables, VmPTE), close its end of the "attached" pipe and stay
 * attached, as a database's client does, until the creator closes the "release" pipe: then
 * every client that fits holds its page tables at once.
 */
function client(argv: string[]): number {
  const way = argv[1];
  const [fd, size, resultsFd, slotIndex, attachedRead, attachedWrite, releaseRead, releaseWrite] = argv.slice(2).map(Number);
  close(attachedRead);
  close(releaseWrite);
  // The creator is exempt from the OOM killer; its clients are not.
  writeFile('/proc/self/oom_score_adj', '0');
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
  // Attached: its end of the "attached" pipe closes (a close allocates nothing, as a write
  // to the pipe would, with memory short).
  close(attachedWrite);
  readAll(releaseRead);
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

interface Result {
  createMs: number; creatorKb: number; ptKb: number; faults: number; ms: number; modeled: number; missesPer1000: number;
  /** Clients that exited 0, that a signal killed (by signal name), and the OOM kills (/proc/vmstat oom_kill) meanwhile. */
  completed: number; killed: Map<string, number>; oomKills: number;
}

const oomKills = () => Number(/^oom_kill (\d+)$/m.exec(readFile('/proc/vmstat'))?.[1]);

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
    setPool(Math.ceil(size / (2 << 20)) + 1);
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

/** Start `clients` clients of `way` on the area (`args(i)`: client i's argv): the slot of each by pid. */
function startClients(clients: number, args: (i: number) => string[]): Map<number, number> {
  const slots = new Map<number, number>();
  for (let i = 0; i < clients; i++) {
    try {
      slots.set(spawn(programPath(), args(i)), i);
    } catch (e) {
      if (!(e instanceof SyscallError) || e.errno !== EAGAIN) throw e;
      throw new Error(`client ${i + 1} of ${clients} cannot start (EAGAIN): run ptlab with --max-procs and --cpus above ${clients}`);
    }
  }
  return slots;
}

/**
 * Wait for the clients: the slots of those that exited 0, and how many a signal killed, by
 * signal (SIGKILL from the OOM killer when memory runs out). A client that exits with a
 * status of its own is an error.
 */
function reapClients(slots: Map<number, number>): { completed: number[]; killed: Map<string, number> } {
  const completed: number[] = [];
  const killed = new Map<string, number>();
  for (let n = 0; n < slots.size; n++) {
    const w = waitpid(-1);
    if (w.signal !== null) {
      const name = SIGNAL_NAMES[w.signal] ?? `signal ${w.signal}`;
      killed.set(name, (killed.get(name) ?? 0) + 1);
    } else if (w.exitCode === 0) completed.push(slots.get(w.pid)!);
    else throw new Error(`client ${w.pid} failed: exit status ${w.exitCode}`);
  }
  return { completed, killed };
}

function runWay(way: string, size: number, clients: number, say: (line: string) => void, bar: Progress): Result {
  const ptBefore = pageTablesKb();
  const t0 = performance.now();
  const area = createArea(way, size);
  const createMs = performance.now() - t0;
  const creatorKb = pageTablesKb() - ptBefore;
  say(`  ${way}: area created and written in ${(createMs / 1000).toFixed(2)} s; starting ${clients} clients`);
  bar.advance(`${way}: ${clients} clients attaching`);
  const resultsBytes = Math.ceil((RESULT_BYTES * clients) / P) * P;
  const resultsFd = memfdCreate('sga-results', 0);
  ftruncate(resultsFd, resultsBytes);
  const results = mmap(0, resultsBytes, RW, MAP_SHARED, resultsFd, 0);
  const [attachedRead, attachedWrite] = pipe();
  const [releaseRead, releaseWrite] = pipe();
  const oom0 = oomKills();
  const t1 = performance.now();
  // This process's modeled clock: waitpid leaves it no earlier than the child's end.
  const cycles1 = counters().cycles;
  const slots = startClients(clients, (i) => ['client', way, ...[area.fd, size, resultsFd, i, attachedRead, attachedWrite, releaseRead, releaseWrite].map(String)]);
  // End of file on the "attached" pipe: every client has attached or been killed.
  close(attachedWrite);
  readAll(attachedRead);
  say(`  ${way}: every client attached and touched the area, or was killed (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
  close(releaseWrite);
  const { completed, killed } = reapClients(slots);
  bar.advance(`${way}: done`);
  const ms = performance.now() - t1;
  const modeled = modeledSeconds(counters().cycles - cycles1);
  const sum = (field: number) => completed.reduce((total, i) => total + load32(results + RESULT_BYTES * i + field), 0);
  const [faults, accesses, misses, ptKb] = [sum(0), sum(4), sum(8), sum(12)];
  munmap(area.base, way === 'mshare' ? G512 : way === 'hugetlb' ? gibs(size) : size);
  munmap(results, resultsBytes);
  for (const fd of [area.fd, resultsFd, attachedRead, releaseRead]) close(fd);
  if (way === 'mshare') unlink('/sys/fs/mshare/sga');
  if (way === 'hugetlb') setPool(0);
  const missesPer1000 = accesses > 0 ? (misses * 1000) / accesses : NaN;
  return { createMs, creatorKb, ptKb, faults, ms, modeled, missesPer1000, completed: completed.length, killed, oomKills: oomKills() - oom0 };
}

const LABELS: Record<string, string> = { file: 'MAP_SHARED of a memfd', mshare: 'mshare', hugetlb: 'hugetlb PMD sharing' };

/**
 * Physical memory a run takes at its peak (ways run one after another): the area; for the
 * file way with `clientTables`, each client's page tables for all of it (S/512) besides the
 * creator's; for hugetlb, the area in 2 MiB pages; and room for the kernel's reserves and
 * the processes' own pages (a few each). Without `clientTables`, what a run needs to start at all: the file
 * way's clients then take what page tables fit, and the OOM killer kills the others.
 */
function memoryNeeded(size: number, clients: number, ways: string[], clientTables: boolean): number {
  const tables = clientTables ? (clients + 1) * (size / 512) : size / 512;
  const peak = ways.map((w) => (w === 'file' ? size + tables : w === 'mshare' ? size + size / 256 : Math.ceil(size / (2 << 20)) * (2 << 20)));
  return Math.max(...peak) + 2 * 2 ** 20 + clients * 32 * 1024;
}

const bytes = (n: number) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n.toFixed(0)} B`);

/** "12 (SIGKILL)": the clients a signal killed, by signal; "0" if none. */
function killedText(r: Result): string {
  const dead = [...r.killed.values()].reduce((a, b) => a + b, 0);
  return dead === 0 ? '0' : `${dead} (${[...r.killed].map(([sig, n]) => (r.killed.size > 1 ? `${n} ${sig}` : sig)).join(', ')})`;
}

/** The table of the ways run; the per-client columns average over the clients that completed. */
function printTable(rows: (readonly [string, Result])[], clients: number): void {
  const table = [['way', 'completed', 'killed', 'area tables', 'clients\' tables', 'per client', 'minor faults', 'attach+touch', 'modeled', 'TLB misses/1000']];
  for (const [way, r] of rows) {
    const perClient = r.completed > 0 ? bytes((r.ptKb * 1024) / r.completed) : '-';
    table.push([LABELS[way], `${r.completed}/${clients}`, killedText(r), bytes(r.creatorKb * 1024), bytes(r.ptKb * 1024), perClient, String(r.faults),
      `${(r.ms / 1000).toFixed(2)} s`, `${r.modeled.toFixed(3)} s`, Number.isNaN(r.missesPer1000) ? '-' : r.missesPer1000.toFixed(1)]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) print(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   '));
  print('area tables: built by the creator (file) or in the region\'s host mm (mshare); the clients\'');
  print('tables, faults and misses are counted from their mmap of the area to their last access,');
  print('over the clients that completed.');
}

/**
 * The headline: how many clients each way fits in the machine's memory, and what killed the
 * others (the signal from wait4; the OOM killer's count from /proc/vmstat, its log on stderr).
 */
function printHeadline(rows: (readonly [string, Result])[], clients: number, size: number, memKb: number): void {
  const fits = rows.map(([way, r]) => {
    if (r.completed === clients) return `${LABELS[way]} fits all ${clients}`;
    const oom = r.oomKills > 0 ? `, ${r.oomKills} OOM kill${r.oomKills > 1 ? 's' : ''} in /proc/vmstat` : '';
    return `${LABELS[way]} fits ${r.completed} of ${clients} clients (killed: ${killedText(r)}${oom})`;
  });
  print('');
  print(`with ${Math.floor(memKb / 1024)} MiB of memory and a ${size / 2 ** 20} MiB area: ${fits.join('; ')}`);
}

/**
 * The extrapolation to the seed discussion's database, for the ways run: per client the
 * file way costs its measured page-table bytes per byte of area; mshare costs one set of
 * tables (8 bytes per 4 KiB page plus the levels above) and nothing per client but a PML4
 * entry in a table the process has anyway; 2 MiB pages need a page directory per GiB, and
 * PMD sharing keeps one per GiB of the file.
 */
function printExtrapolation(rows: (readonly [string, Result])[], size: number): void {
  const gb300 = 300 * 10 ** 9;
  const procs = 1500;
  print('');
  print(`extrapolated to a 300 GB area mapped by ${procs} processes (the seed discussion's database):`);
  for (const [way, r] of rows) {
    if (way === 'file' && r.completed > 0) print(`  MAP_SHARED: ${((r.ptKb * 1024 / r.completed / size) * gb300 * procs / 2 ** 30).toFixed(0)} GiB of page tables`);
    if (way === 'mshare') print(`  mshare:     ${((gb300 / P) * 8 * (1 + 1 / 512 + 1 / 512 ** 2) / 2 ** 20).toFixed(0)} MiB of page tables, once, whatever the number of processes`);
    if (way === 'hugetlb') print(`  hugetlb:    ${((gb300 / G) * P / 2 ** 20).toFixed(1)} MiB of page directories, shared (each process still counts them in VmPTE)`);
  }
}

/** A run per way, in the format of sweep results (the per-client values only if a client completed). */
function asResults(rows: (readonly [string, Result])[], size: number, clients: number): JsonResult[] {
  return rows.map(([way, r]) => ({
    point: { way, size_mib: size / 2 ** 20, clients },
    values: {
      clients_completed: r.completed, clients_killed: clients - r.completed, oom_kills: r.oomKills,
      area_tables_kib: r.creatorKb, clients_tables_kib: r.ptKb, minor_faults: r.faults, seconds: r.ms / 1000, modeled_seconds: r.modeled,
      ...(r.completed > 0 ? { per_client_tables_kib: r.ptKb / r.completed, tlb_misses_per_1000: r.missesPer1000 } : {}),
    },
  }));
}

export default async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'client') return client(argv);
  const usage = 'usage: ptlab run --mem 3G examples/sga.ts [--size-mib S] [--clients N] [--ways file,mshare,hugetlb] [--json] [--plot FILE]';
  const o = exampleOptions(argv, usage, {
    'size-mib': { default: '1024', help: 'the area, in MiB' },
    clients: { default: '64', help: 'client processes mapping it' },
    ways: { default: 'file,mshare,hugetlb', help: 'ways to share it, comma-separated' },
    ...OUTPUT_OPTIONS,
  });
  if (typeof o === 'number') return o;
  const size = Number(o['size-mib']) * 2 ** 20;
  const clients = Number(o.clients);
  const ways = o.ways.split(',');
  if (!(size >= P && size % P === 0 && size <= G512) || !(Number.isInteger(clients) && clients >= 1) || !ways.every((w) => w in LABELS)) {
    return refuse(usage, '--size-mib is a whole number of pages up to 512 GiB, --clients a positive integer, --ways from file, mshare, hugetlb');
  }
  const need = memoryNeeded(size, clients, ways, false);
  const have = Number(/MemTotal:\s+(\d+)/.exec(readFile('/proc/meminfo'))?.[1]) * 1024;
  if (have < need) {
    return refuse(usage, `sga.ts: this run needs about ${Math.ceil(need / 2 ** 20)} MiB of memory and the machine has ${Math.floor(have / 2 ** 20)} MiB: run ptlab with --mem ${Math.ceil(need / 2 ** 24) * 16}M`);
  }
  const json = o.json === 'true';
  const say = json ? () => {} : print;
  say(`SGA of ${size / 2 ** 20} MiB, ${clients} clients, each reading and writing a word in every page`);
  if (ways.includes('file') && have < memoryNeeded(size, clients, ways, true)) {
    say(`(${Math.floor(have / 2 ** 20)} MiB of memory: too little for every MAP_SHARED client's page tables, about ${Math.ceil(memoryNeeded(size, clients, ways, true) / 2 ** 20)} MiB; the OOM killer will kill some)`);
  }
  // The creator owns the area, as a database's SGA owner does: the OOM killer leaves it
  // alone (its clients set their own oom_score_adj back to 0).
  writeFile('/proc/self/oom_score_adj', '-1000');
  const rows: (readonly [string, Result])[] = [];
  const bar = progress('sga', ways.length * 2);
  for (const way of ways) {
    try {
      rows.push([way, runWay(way, size, clients, say, bar)]);
    } catch (e) {
      print(`sga: ${(e as Error).message}`);
      return 1;
    }
  }
  bar.finish();
  // Its own values for ptlab stat and sweep (a sweep's figure plots them, not the whole run's counters).
  reportResults(asResults(rows, size, clients));
  if (json) printJson(asResults(rows, size, clients), argv);
  else {
    print('');
    printTable(rows, clients);
    printHeadline(rows, clients, size, have / 1024);
    printExtrapolation(rows, size);
  }
  if (o.plot !== '') {
    await writePlot(o.plot, asResults(rows, size, clients), { x: 'way', y: 'clients_tables_kib', title: `page tables the ${clients} clients built for a ${size / 2 ** 20} MiB area (KiB)` });
  }
  return 0;
}
