// Modeled time (README.md, "Modeled time"): the same program gives the same cycles every
// run; a preset's latencies and a cost table's entries move them by exactly count x delta;
// a shootdown's initiator waits for the latest acknowledgement; reclaim's reverse-map walks
// are charged (rmapVma, rmapPte), direct reclaim's to the process, kswapd's to its own clock;
// the cost table round-trips and a table without the later entries loads with the shipped
// ones; calibrate writes a table --costs loads; stat prints the modeled lines.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Machine, type ProcessExit } from '../../host/machine.ts';
import { DEFAULT_COSTS, FILLED_COSTS, type KernelCosts, ModelClock, parseCosts } from '../../kernel/mm/index.ts';
import { KernelWork } from '../../kernel/mm/clock.ts';
import {
  ControlBlock, chargeKernelNs, type CounterValues, latenciesOf, PageTableOps, PhysMem, PRESETS, readCpuClock, readKernelCounters,
  startClock, type TlbLatencies, writeLatencies, X86_PF_USER, X86_PF_WRITE,
} from '../../machine/index.ts';
import { PageAllocator } from '../../kernel/mm/page_alloc.ts';
import { VmaTree } from '../../kernel/mm/vmatree.ts';
import * as U from '../../kernel/uapi.ts';
import { KernelHarness } from '../harness/kernel.ts';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const GUEST = fileURLToPath(new URL('../guests/modeltime.ts', import.meta.url));
const RECLAIM = fileURLToPath(new URL('../guests/reclaim.ts', import.meta.url));

/** The user-side cycles of a set of counters at latencies l (machine/timing.ts's sum, written out). */
function userCycles(c: CounterValues, l: TlbLatencies): number {
  return l.access * (c.dtlb_loads + c.dtlb_stores) +
    l.stlbHit * (c['dtlb_load_misses.stlb_hit'] + c['dtlb_store_misses.stlb_hit']) +
    l.walk * (c['dtlb_load_misses.miss_causes_a_walk'] + c['dtlb_store_misses.miss_causes_a_walk']) +
    l.refPml4e * c['walk_mem_refs.pml4e'] + l.refPdpte * c['walk_mem_refs.pdpte'] + l.refPde * c['walk_mem_refs.pde'] +
    l.refPte * c['walk_mem_refs.pte'] + l.adUpdate * c.ad_bit_updates;
}

async function run(argv: string[], preset = 'skylake', costs?: KernelCosts): Promise<ProcessExit[]> {
  const m = await Machine.boot({ memBytes: 64 << 20, nrCpus: 8, preset, ...(costs === undefined ? {} : { costs }), output: () => undefined });
  try {
    await m.run(GUEST, argv);
    return m.exits;
  } finally {
    await m.shutdown();
  }
}

/**
 * 16 MiB of anonymous pages written on an 8 MiB machine with 64 MiB of swap, through the
 * kernel without workers (deterministic): reclaim's rmap walks on every page it takes.
 * With `kswapdEvery`, kswapd gets a turn (Kernel.tick) every that many faults, as between
 * requests; else all reclaim is direct, in the faults. Returns the process's cycles, what
 * kswapd's turns did and the kernel counters at the end.
 */
function pressure(costs: KernelCosts, kswapdEvery = 0): { cycles: number; kswapd: { ns: number; ptes: number; ticks: number }; kc: Record<string, number> } {
  const h = new KernelHarness({ memBytes: 8 << 20, swapBytes: 64 << 20, costs });
  writeLatencies(h.cb, latenciesOf(PRESETS.skylake));
  try {
    const t = h.spawn();
    const pages = 4096;
    const a = h.call(t, U.SYS_mmap, 0, pages * 4096, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const kswapd = { ns: 0, ptes: 0, ticks: 0 };
    for (let i = 0; i < pages; i++) {
      expect(h.fault(t, a + i * 4096, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
      if (kswapdEvery === 0 || i % kswapdEvery !== 0) continue;
      const before = readKernelCounters(h.cb);
      const clock = readCpuClock(h.cb, t.cpu);
      h.kernel.tick();
      const after = readKernelCounters(h.cb);
      // kswapd's turn is charged to no CPU: the process's clock stays where it was.
      expect(readCpuClock(h.cb, t.cpu)).toBe(clock);
      kswapd.ns += after.kswapd_modeled_ns - before.kswapd_modeled_ns;
      kswapd.ptes += after.rmap_pte_visits - before.rmap_pte_visits;
      if (after.pgscan > before.pgscan) kswapd.ticks++;
    }
    // The shootdown latencies are the host's time: left out.
    const { shootdown_latency_ns_max: _max, shootdown_latency_ns_sum: _sum, ...kc } = readKernelCounters(h.cb);
    return { cycles: readCpuClock(h.cb, t.cpu), kswapd, kc };
  } finally {
    h.killAll();
  }
}

/** The shipped table with whole-ns entries only (uaccessByte 0), so that sums are exact. */
const WHOLE: KernelCosts = { ...DEFAULT_COSTS, uaccessByte: 0 };

const summary = (exits: ProcessExit[]) => exits.map((e) => [e.pid, e.counters.cycles, e.clockStart, e.clockEnd]);
const calls = (e: ProcessExit) => Object.values(e.syscalls).reduce((n, [c]) => n + c, 0);

describe('modeled time', () => {
  it('is the same on every run of a program, with a forked child', async () => {
    const a = await run(['48', 'fork']);
    const b = await run(['48', 'fork']);
    expect(a.length).toBe(2);
    expect(a[0].counters.cycles).toBeGreaterThan(0);
    expect(summary(b)).toEqual(summary(a));
    // The parent waited for the child: it ends after it, and the child started at the fork.
    const [child, parent] = a[0].pid === 1 ? [a[1], a[0]] : [a[0], a[1]];
    expect(child.clockStart).toBeGreaterThan(parent.clockStart);
    expect(parent.clockEnd).toBeGreaterThanOrEqual(child.clockEnd);
  }, 120_000);

  it('moves with the preset exactly as its latencies say; the kernel part stays', async () => {
    const kernelPart = async (preset: string) => {
      const [e] = await run(['64'], preset);
      return e.counters.cycles - userCycles(e.counters, latenciesOf(PRESETS[preset]));
    };
    const sky = await kernelPart('skylake');
    expect(sky).toBeGreaterThan(0);
    expect(await kernelPart('haswell')).toBe(sky); // both 3 GHz: the same kernel cycles
    const [teach] = await run(['64'], 'teaching');
    const sk = (await run(['64'], 'skylake'))[0];
    expect(teach.counters.cycles).not.toBe(sk.counters.cycles);
  }, 120_000);

  it('moves with a cost table entry by exactly count x delta x GHz', async () => {
    const [base] = await run(['32']);
    const [more] = await run(['32'], 'skylake', { ...DEFAULT_COSTS, syscall: DEFAULT_COSTS.syscall + 1000 });
    expect(calls(more)).toBe(calls(base));
    expect(more.counters.cycles - base.counters.cycles).toBe(calls(base) * 1000 * 3);
    const [faults] = await run(['32'], 'skylake', { ...DEFAULT_COSTS, faultMinor: DEFAULT_COSTS.faultMinor + 10 });
    // 16 read faults map the zero page (minor); the writes allocate (anon).
    expect(faults.counters.cycles - base.counters.cycles).toBe(16 * 10 * 3);
  }, 120_000);

  it('keeps a shootdown causal: the initiator pays its IPIs and waits for the latest acknowledgement', () => {
    const cb = ControlBlock.create(3);
    const mem = PhysMem.create(1 << 20);
    const lat = latenciesOf(PRESETS.skylake);
    writeLatencies(cb, lat);
    const clock = new ModelClock(cb, new KernelWork(), new PageAllocator(mem), new PageTableOps(mem, cb));
    clock.setCosts({ ...DEFAULT_COSTS, ipiSend: 100, ipiReceive: 50, flushPage: 0, flushFull: 0 });
    startClock(cb, 0, 3000, 0);
    startClock(cb, 1, 0, 0);
    startClock(cb, 2, 9000, 0);
    chargeKernelNs(cb, 1, 2000); // CPU 1 at 6000 cycles, CPU 2 at 9000
    clock.shootdown(0, 2, [1, 2]);
    expect(readCpuClock(cb, 0)).toBe(9000);
    // Ahead of every acknowledgement, it only pays for sending: 2 x 100 ns = 600 cycles.
    clock.shootdown(0, 2, [1]);
    expect(readCpuClock(cb, 0)).toBe(9600);
    // A CPU that did not acknowledge (idle, in the kernel) is not waited for.
    chargeKernelNs(cb, 2, 10_000);
    clock.shootdown(0, 1, []);
    expect(readCpuClock(cb, 0)).toBe(9900);
  });

  it('charges work done for a blocked thread (a pipe waiter served by the other end) to that thread, not to the request', () => {
    const cb = ControlBlock.create(2);
    const mem = PhysMem.create(1 << 20);
    writeLatencies(cb, latenciesOf(PRESETS.skylake)); // 3 GHz
    const work = new KernelWork();
    const clock = new ModelClock(cb, work, new PageAllocator(mem), new PageTableOps(mem, cb));
    clock.setCosts({ ...DEFAULT_COSTS, syscall: 100, uaccessByte: 1 });
    startClock(cb, 0, 0, 0);
    startClock(cb, 1, 0, 0);
    clock.begin(new VmaTree()); // CPU 0's write
    work.uaccessBytes += 500; // its own bytes
    expect(clock.onBehalfOf(1, () => { work.uaccessBytes += 1000; return 7; })).toBe(7); // the blocked reader's
    clock.end(0, false);
    expect(readCpuClock(cb, 0)).toBe((100 + 500) * 3);
    expect(readCpuClock(cb, 1)).toBe(1000 * 3);
  });
  it('charges direct reclaim\'s reverse-map walks to the faulting process: rmapPte and rmapVma move its cycles by exactly count x delta x GHz', () => {
    const base = pressure(WHOLE);
    expect(base.kc.allocstall).toBeGreaterThan(0);
    expect(base.kc.rmap_pte_visits).toBeGreaterThan(4096 / 2); // at least a walk per page reclaimed
    expect(base.kc.kswapd_modeled_ns).toBe(0); // kswapd never had a turn
    const pte = pressure({ ...WHOLE, rmapPte: WHOLE.rmapPte + 7 });
    expect(pte.kc).toEqual(base.kc); // the same run: only its price moved
    expect(pte.cycles - base.cycles).toBe(base.kc.rmap_pte_visits * 7 * 3);
    const vma = pressure({ ...WHOLE, rmapVma: WHOLE.rmapVma + 5 });
    expect(vma.cycles - base.cycles).toBe(base.kc.rmap_vma_visits * 5 * 3);
    // Free walks: the same run, cheaper by every visit's price.
    const free = pressure({ ...WHOLE, rmapPte: 0, rmapVma: 0 });
    expect(base.cycles - free.cycles).toBe((base.kc.rmap_pte_visits * WHOLE.rmapPte + base.kc.rmap_vma_visits * WHOLE.rmapVma) * 3);
  }, 120_000);

  it('runs kswapd on a clock of its own: nonzero when it reclaims, priced like the rest, charged to no process', () => {
    const base = pressure(WHOLE, 16);
    expect(base.kswapd.ticks).toBeGreaterThan(0);
    expect(base.kc.pgsteal).toBeGreaterThan(0);
    expect(base.kswapd.ns).toBeGreaterThan(0);
    expect(base.kc.kswapd_modeled_ns).toBe(base.kswapd.ns); // all of it from the turns (pressure checks each left the CPU's clock alone)
    const more = pressure({ ...WHOLE, rmapPte: WHOLE.rmapPte + 7 }, 16);
    expect(more.kc.rmap_pte_visits).toBe(base.kc.rmap_pte_visits);
    expect(more.kswapd.ptes).toBe(base.kswapd.ptes);
    expect(base.kswapd.ptes).toBeGreaterThan(0);
    // kswapd's visits move kswapd's clock; the rest, the direct reclaim's, the process's.
    expect(more.kswapd.ns - base.kswapd.ns).toBe(base.kswapd.ptes * 7);
    expect(more.cycles - base.cycles).toBe((base.kc.rmap_pte_visits - base.kswapd.ptes) * 7 * 3);
    // A page written to swap is priced as a page copy, on whichever clock wrote it.
    const copy = pressure({ ...WHOLE, pageCopy: WHOLE.pageCopy + 11 }, 16);
    const total = (copy.kswapd.ns - base.kswapd.ns) + (copy.cycles - base.cycles) / 3;
    expect(total).toBe(base.kc.pswpout * 11); // anonymous first-touch faults copy nothing else
  }, 120_000);

  it('stat prints kswapd\'s modeled time when it reclaimed, the kswapd_modeled_ns counter in seconds', () => {
    // 36 MiB written on a 32 MiB machine (test/guests/reclaim.ts: 1 process, 1 thread, 9216 pages, 1 round).
    const r = spawnSync(process.execPath, [BIN, 'stat', '--no-check', '--mem', '32M', '--swap', '128M', RECLAIM, '1', '1', '9216', '1'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const ns = Number(/^\s+([\d,]+)\s+kswapd_modeled_ns$/m.exec(r.stderr)![1].replaceAll(',', ''));
    const line = /^\s+(\d+\.\d{9}) seconds kswapd \(modeled, charged to no process\)$/m.exec(r.stderr);
    expect(ns).toBeGreaterThan(0);
    expect(Number(line![1])).toBe(Number((ns / 1e9).toFixed(9)));
  }, 120_000);

  it('loads a cost table that round-trips through JSON, and names a bad entry', () => {
    expect(parseCosts(JSON.parse(JSON.stringify(DEFAULT_COSTS)))).toEqual(DEFAULT_COSTS);
    // A table written before rmapVma and rmapPte: those two from the shipped table, said in its note.
    const old: Record<string, unknown> = JSON.parse(JSON.stringify({ ...DEFAULT_COSTS, rmapVma: 1, rmapPte: 2, note: 'old' }));
    for (const k of FILLED_COSTS) delete old[k];
    const loaded = parseCosts(old);
    expect(loaded).toEqual({ ...DEFAULT_COSTS, note: 'old; from the shipped table: rmapVma, rmapPte' });
    // Present, they are the table's own; any other entry missing is still an error.
    expect(parseCosts({ ...old, rmapPte: 2 }).rmapPte).toBe(2);
    expect(parseCosts({ ...old, rmapPte: 2 }).note).toBe('old; from the shipped table: rmapVma');
    expect(() => parseCosts({ ...old, forkPte: undefined })).toThrow(/'forkPte'/);
    expect(() => parseCosts({ ...DEFAULT_COSTS, rmapPte: -1 })).toThrow(/'rmapPte' must be a number of ns >= 0/);
    expect(() => parseCosts({ ...DEFAULT_COSTS, syscall: -1 })).toThrow(/'syscall' must be a number of ns >= 0/);
    expect(() => parseCosts({ ...DEFAULT_COSTS, pageZero: undefined })).toThrow(/'pageZero'/);
    expect(() => parseCosts({ ...DEFAULT_COSTS, bogus: 1 })).toThrow(/no entry 'bogus'/);
  });

  it('calibrate writes a table that --costs loads; stat prints cycles and modeled seconds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-calibrate-'));
    try {
      const file = join(dir, 'costs.json');
      const cal = spawnSync(process.execPath, [BIN, 'calibrate', '--scale', '0.01', '--rounds', '1', '-o', file], { encoding: 'utf8', timeout: 120_000 });
      expect(cal.status).toBe(0);
      expect(cal.stdout).toMatch(/cost table written to/);
      const costs = parseCosts(JSON.parse(readFileSync(file, 'utf8')));
      expect(costs.syscall).toBeGreaterThan(0);
      // A table with syscalls 1 us dearer than the default, loaded with --costs.
      writeFileSync(file, JSON.stringify({ ...DEFAULT_COSTS, syscall: DEFAULT_COSTS.syscall + 1000 }));
      const stat = (...opts: string[]) => spawnSync(process.execPath, [BIN, 'stat', '--no-check', '--mem', '64M', ...opts, GUEST, '16'], { encoding: 'utf8', timeout: 120_000 });
      const a = stat();
      const b = stat('--costs', file);
      expect(a.status).toBe(0);
      expect(b.status).toBe(0);
      const cycles = (err: string) => Number(/^\s+([\d,]+)\s+cycles\s+# modeled, 3 GHz$/m.exec(err)![1].replaceAll(',', ''));
      expect(a.stderr).toMatch(/^\s+\d\.\d{9} seconds time elapsed \(modeled\)$/m);
      // Nothing to reclaim in 64 MiB: kswapd's clock line, at zero.
      expect(a.stderr).toMatch(/^\s+0\.000000000 seconds kswapd \(modeled, charged to no process\)$/m);
      expect(a.stderr).toMatch(/^\s+\d+\.\d{3} seconds time elapsed$/m);
      const syscalls = Number(/^\s+([\d,]+)\s+syscalls$/m.exec(a.stderr)![1].replaceAll(',', ''));
      expect(cycles(b.stderr) - cycles(a.stderr)).toBe(syscalls * 3000);
      const bad = spawnSync(process.execPath, [BIN, 'run', '--costs', join(dir, 'none.json'), GUEST], { encoding: 'utf8' });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/^ptlab: --costs .*none\.json: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
