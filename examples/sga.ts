// The mshare experiment: a database's shared global area (SGA) mapped by many processes.
// One process creates an area of S bytes, then N clients map it and touch every page, two
// ways: MAP_SHARED of a tmpfs file (each client builds its own page tables for the whole
// area) and mshare (the clients link one PML4 entry to the region's shared tables). For each
// way it prints page-table memory in total and per client, minor faults, the time for all
// clients to attach and touch the area, and TLB misses per 1000 accesses; then the
// extrapolation to the seed discussion's 300 GB area and 1500 processes.
//
//   node bin/ptlab.mjs run --mem 2G examples/sga.ts [--size-mib S] [--clients N]
//   (defaults: 1024 MiB, 64 clients; more clients need more --mem for the file way)
//
// Measured 2026-11-30 on 2 cores with --size-mib 256 --clients 16: 30 s in all; the file
// way 8.3 MiB of page tables, 534,898 faults, 23.4 s; mshare 0.8 MiB, 90,259 faults, 4.5 s;
// extrapolation 906 GiB against about 600 MiB. The defaults take several minutes so far
// (many client workers on two cores): making them fast is still to do.
import {
  close, counters, ftruncate, load32, MAP_ANONYMOUS, MAP_FIXED, MAP_SHARED, mmap, O_CREAT, O_RDWR, open, print,
  programPath, PROT_READ, PROT_WRITE, readFile, spawn, store32, store64, ioctl, unlink, waitpid, accessors, syscall,
  SYS_sched_yield,
} from 'ptlab/userland';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const G512 = 2 ** 39;
const RESULTS = '/tmp/sga-results';

function option(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : fallback;
}

const pageTablesKb = () => Number(/PageTables:\s+(\d+)/.exec(readFile('/proc/meminfo'))?.[1]);

/** A client: map the area, read and write one word in every page, report its counters. */
function client(argv: string[]): number {
  const [, way, path, sizeText, slotText] = argv;
  const size = Number(sizeText);
  const fd = open(path, O_RDWR);
  const base = way === 'mshare' ? mmap(0, G512, RW, MAP_SHARED, fd, 0) : mmap(0, size, RW, MAP_SHARED, fd, 0);
  const { load32: ld, store32: st } = accessors();
  const before = counters();
  let sum = 0;
  for (let off = 0; off < size; off += P) sum += ld(base + off);
  for (let off = 0; off < size; off += P) st(base + off + 8, sum);
  const after = counters();
  const rfd = open(RESULTS, O_RDWR);
  const results = mmap(0, 1 << 20, RW, MAP_SHARED, rfd, 0);
  const slot = results + 32 * Number(slotText);
  const d = (name: string) => after[name] - before[name];
  store32(slot, d('page_faults'));
  store32(slot + 4, d('dtlb_loads') + d('dtlb_stores'));
  store32(slot + 8, d('dtlb_load_misses.walk_completed') + d('dtlb_store_misses.walk_completed'));
  store32(slot + 12, 1);
  // Stay mapped until the creator has measured everyone's page tables.
  while (load32(slot + 16) === 0) syscall(SYS_sched_yield);
  close(fd);
  return 0;
}

function runWay(way: string, size: number, clients: number): { ptKb: number; faults: number; ms: number; missesPer1000: number } {
  const path = way === 'mshare' ? '/sys/fs/mshare/sga' : '/tmp/sga';
  const fd = open(path, O_RDWR | O_CREAT, 0o600);
  if (way === 'mshare') {
    ftruncate(fd, G512);
    const buf = mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    store64(buf, 0n);
    store64(buf + 8, BigInt(size));
    store64(buf + 16, 0n);
    store32(buf + 24, RW);
    store32(buf + 28, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    store32(buf + 32, -1);
    ioctl(fd, 0x40287800, buf); // MSHAREFS_CREATE_MAPPING: the area, at region offset 0
  } else {
    ftruncate(fd, size);
  }
  const rfd = open(RESULTS, O_RDWR | O_CREAT, 0o600);
  ftruncate(rfd, 0);
  ftruncate(rfd, 1 << 20);
  const results = mmap(0, 1 << 20, RW, MAP_SHARED, rfd, 0);
  const pt0 = pageTablesKb();
  const t0 = performance.now();
  const pids: number[] = [];
  for (let i = 0; i < clients; i++) pids.push(spawn(programPath(), ['client', way, path, String(size), String(i)]));
  let done = 0;
  const step = Math.max(1, Math.floor(clients / 8));
  while (done < clients) {
    let now = 0;
    for (let i = 0; i < clients; i++) now += load32(results + 32 * i + 12);
    if (now === done) {
      syscall(SYS_sched_yield);
      continue;
    }
    for (let d = done + 1; d <= now; d++) if (d % step === 0 || d === clients) print(`  ${way}: ${d}/${clients} clients attached and done`);
    done = now;
  }
  const ms = performance.now() - t0;
  // The page tables the clients built, while every client still maps the area.
  const ptKb = pageTablesKb() - pt0;
  for (let i = 0; i < clients; i++) store32(results + 32 * i + 16, 1);
  for (const pid of pids) waitpid(pid);
  let faults = 0;
  let accesses = 0;
  let misses = 0;
  for (let i = 0; i < clients; i++) {
    faults += load32(results + 32 * i);
    accesses += load32(results + 32 * i + 4);
    misses += load32(results + 32 * i + 8);
  }
  close(fd);
  close(rfd);
  unlink(path);
  return { ptKb, faults, ms, missesPer1000: (misses * 1000) / accesses };
}

export default function main(argv: string[]): number {
  if (argv[0] === 'client') return client(argv);
  const size = option(argv, 'size-mib', 1024) * 2 ** 20;
  const clients = option(argv, 'clients', 64);
  print(`SGA of ${size / 2 ** 20} MiB, ${clients} clients, each touching every page`);
  const rows: [string, ReturnType<typeof runWay>][] = [];
  for (const way of ['file', 'mshare']) {
    rows.push([way, runWay(way, size, clients)]);
  }
  print('');
  print('way                        page tables    per client   minor faults   attach+touch   TLB misses/1000');
  for (const [way, r] of rows) {
    const label = way === 'file' ? 'MAP_SHARED of a tmpfs file' : 'mshare';
    print(`${label.padEnd(26)} ${`${(r.ptKb / 1024).toFixed(1)} MiB`.padStart(12)} ${`${(r.ptKb / clients).toFixed(0)} KiB`.padStart(13)} ${String(r.faults).padStart(14)} ${`${(r.ms / 1000).toFixed(2)} s`.padStart(14)} ${r.missesPer1000.toFixed(1).padStart(17)}`);
  }
  // 8 bytes of PTE per 4 KiB page per process, plus the upper levels, against one copy.
  const perClientFile = rows[0][1].ptKb / clients / size; // KiB of tables per byte of area per client
  const gb300 = 300 * 2 ** 30;
  const fileTotal = perClientFile * gb300 * 1500 * 1024;
  const mshareTotal = (gb300 / 2 ** 21) * P + 1500 * 8;
  print('');
  print(`extrapolated to a 300 GiB area in 1500 processes: ${(fileTotal / 2 ** 30).toFixed(1)} GiB of page tables with the file,`);
  print(`about ${(mshareTotal / 2 ** 20).toFixed(0)} MiB with mshare (one set of tables and a PML4 entry per process)`);
  return 0;
}
