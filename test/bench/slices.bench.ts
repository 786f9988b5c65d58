// How long another process's request waits behind one long call (issue 19: at most 10 ms
// of kernel time). Process A maps 2^32 bytes read-only with MAP_POPULATE (2^20 zero-page
// PTEs, 2,048 page tables); the kernel thread's loop is played as main.ts plays it: a turn
// serves A's call one slice (mm/slice.ts, the default slicePages), then process B's
// getpid. B's wait in a turn is the turn's time; the row is the longest, per round; the
// printed line adds its 99th percentile and the longest turn in CPU time (the process's,
// GC threads included: a loaded host's preemptions are not in it). The same populate in
// one go (slicePages unbounded) is what B waited before, in the note.
// Then range calls, long work inside other calls (mincore, mprotect's population of locked
// memory), mremap's move and msync, fork, and the exit of a process with 2^30 bytes written, torn down in slices.
// Run with `npx vitest bench --run test/bench/slices.bench.ts`.

import { bench, describe } from 'vitest';
import { exitStep } from '../../kernel/task/exit.ts';
import type { Thread } from '../../kernel/task/task.ts';
import * as U from '../../kernel/uapi.ts';
import { KernelHarness } from '../harness/kernel.ts';
import { firstCallOnly, recordRow } from './report.ts';

const LEN = 2 ** 32;
const ROUNDS = 3;
const POPULATE = [U.SYS_mmap, 0, LEN, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE | U.MAP_POPULATE, -1, 0];

function boot(slicePages: number, memBytes = 64 << 20): { h: KernelHarness; a: Thread; b: Thread } {
  const h = new KernelHarness({ memBytes, slicePages });
  return { h, a: h.spawn(), b: h.spawn() };
}

/** CPU time of this process so far (ms): a turn's kernel work without the host's preemptions. */
const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

/**
 * One round in slices: the longest wait of B's getpid (ms) and its 99th percentile, the
 * longest in CPU time, the slices, the whole call's time.
 */
function sliced(setup: (h: KernelHarness, a: Thread) => number[] = () => POPULATE, memBytes?: number): { maxWait: number; p99Wait: number; maxCpu: number; slices: number; total: number } {
  const { h, a, b } = boot(256, memBytes);
  const [nr, ...args] = setup(h, a);
  const start = performance.now();
  let t0 = start;
  let c0 = cpuMs();
  h.startSyscall(a, nr!, ...args);
  const waits: number[] = [];
  let maxCpu = 0;
  for (;;) {
    if (h.startSyscall(b, U.SYS_getpid).kind !== 'return') throw new Error('bench: getpid was not answered');
    const t1 = performance.now();
    const c1 = cpuMs();
    waits.push(t1 - t0);
    maxCpu = Math.max(maxCpu, c1 - c0);
    if (h.answer(a).kind !== 'blocked') break;
    t0 = t1;
    c0 = c1;
    h.kernel.serveCpu(a.cpu);
  }
  const total = performance.now() - start;
  h.killAll();
  waits.sort((x, y) => x - y);
  return { maxWait: waits[waits.length - 1]!, p99Wait: waits[Math.floor(waits.length * 0.99)]!, maxCpu, slices: waits.length, total };
}

/** The same populate in one go: what B waited before slicing. */
function oneGo(setup: (h: KernelHarness, a: Thread) => number[] = () => POPULATE, memBytes?: number): number {
  const { h, a } = boot(1e12, memBytes);
  const [nr, ...args] = setup(h, a);
  const t0 = performance.now();
  h.syscall(a, nr!, ...args);
  const ms = performance.now() - t0;
  h.killAll();
  return ms;
}

type Round = ReturnType<typeof sliced> & { oneGo: number };

describe('a getpid beside a 2^32-byte MAP_POPULATE', () => {
  bench('rounds of the populate in slices, and in one go', firstCallOnly(async () => {
    sliced(); // warm-up: compile the paths
    const rows: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rows.push({ ...sliced(), oneGo: oneGo() });
    report(rows);
  }));
});

function report(rows: Round[]): void {
  const f = (x: number) => x.toFixed(2);
    const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
    const waits = sorted(rows.map((r) => r.maxWait));
    const whole = sorted(rows.map((r) => r.oneGo));
    recordRow({
      order: 95, what: 'longest wait of a getpid behind a 2^32-byte MAP_POPULATE (ms)', refName: '', unit: 'time',
      measured: rows.map((r) => r.maxWait), reference: [], target: 10,
      note: `${rows[0]?.slices ?? 0} slices of 256 pages; the populate took ${f(sorted(rows.map((r) => r.total))[0] ?? NaN)} ms in slices, ${f(whole[0] ?? NaN)}-${f(whole[whole.length - 1] ?? NaN)} ms in one go (the wait before)`,
    });
    console.log(`\nlongest getpid wait per round: ${waits.map(f).join(', ')} ms (99th percentile ${rows.map((r) => f(r.p99Wait)).join(', ')} ms; longest in CPU time ${rows.map((r) => f(r.maxCpu)).join(', ')} ms); one go: ${whole.map(f).join(', ')} ms\n`);
}

/**
 * Range calls (kernel/mm/slice_range.ts): a 2^40-byte mapping with 2^30 bytes of it read
 * in (262,144 zero-page PTEs, 512 page tables), then unmapped, made PROT_NONE or
 * MADV_DONTNEED'd whole while B calls getpid between slices; and the same in one go.
 */
const RANGE = 2 ** 40;
const READ_IN = 2 ** 30;
function rangeSetup(call: (va: number) => number[]): (h: KernelHarness, a: Thread) => number[] {
  return (h, a) => {
    const va = h.call(a, U.SYS_mmap, 0, RANGE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
    if (h.call(a, U.SYS_madvise, va + RANGE / 2, READ_IN, U.MADV_POPULATE_READ) !== 0) throw new Error('bench: populate failed');
    return call(va);
  };
}
const RANGE_CALLS: [string, number, (va: number) => number[]][] = [
  ['munmap', 96, (va) => [U.SYS_munmap, va, RANGE]],
  ['mprotect PROT_NONE', 97, (va) => [U.SYS_mprotect, va, RANGE, U.PROT_NONE]],
  ['madvise MADV_DONTNEED', 98, (va) => [U.SYS_madvise, va, RANGE, U.MADV_DONTNEED]],
  ['mremap shrinking to a page', 98.2, (va) => [U.SYS_mremap, va, RANGE, 4096, 0, 0]],
];

describe('a getpid beside a range call over 2^40 bytes with 262,144 PTEs', () => {
  for (const [name, order, call] of RANGE_CALLS) {
    bench(`${name}: rounds in slices, and in one go`, firstCallOnly(async () => {
      const setup = rangeSetup(call);
      sliced(setup); // warm-up
      const rows: Round[] = [];
      for (let i = 0; i < ROUNDS; i++) rows.push({ ...sliced(setup), oneGo: oneGo(setup) });
      reportRange(name, order, rows);
    }));
  }
});

function reportRange(name: string, order: number, rows: Round[], what = `${name} of 2^40 bytes, 262,144 PTEs`): void {
  const f = (x: number) => x.toFixed(2);
  const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const waits = sorted(rows.map((r) => r.maxWait));
  const whole = sorted(rows.map((r) => r.oneGo));
  recordRow({
    order, what: `longest wait of a getpid behind ${what} (ms)`, refName: '', unit: 'time',
    measured: rows.map((r) => r.maxWait), reference: [], target: 10,
    note: `${rows[0]?.slices ?? 0} slices; the call took ${f(sorted(rows.map((r) => r.total))[0] ?? NaN)} ms in slices, ${f(whole[0] ?? NaN)}-${f(whole[whole.length - 1] ?? NaN)} ms in one go (the wait before)`,
  });
  console.log(`\n${name}: longest getpid wait per round: ${waits.map(f).join(', ')} ms (99th percentile ${rows.map((r) => f(r.p99Wait)).join(', ')} ms; longest in CPU time ${rows.map((r) => f(r.maxCpu)).join(', ')} ms); in one go: ${whole.map(f).join(', ')} ms\n`);
}

/**
 * Long work inside other calls: mincore of 2^34 bytes with 2^30 of them read in (4,194,304
 * bytes of answer, 1,024 chunks of a page each), and mprotect making 2^26 bytes of locked
 * read-only memory writable (16,384 pages written now: COW broken as Linux's
 * populate_vma_page_range does).
 */
const INNER: [string, number, (h: KernelHarness, a: Thread) => number[], number][] = [
  ['mincore of 2^34 bytes, 2^30 of them read in', 98.7, (h, a) => {
    const va = h.call(a, U.SYS_mmap, 0, 2 ** 34, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
    if (h.call(a, U.SYS_madvise, va, READ_IN, U.MADV_POPULATE_READ) !== 0) throw new Error('bench: populate failed');
    const vec = h.call(a, U.SYS_mmap, 0, 2 ** 22, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_POPULATE, -1, 0);
    return [U.SYS_mincore, va, 2 ** 34, vec];
  }, 64 << 20],
  ['mprotect making 2^26 locked read-only bytes read-write', 98.8, (h, a) => {
    // The frames it will write are touched once first (written, then unmapped): the host's
    // first touch of a fresh machine's memory costs 10-20 us a page here, which is not the
    // kernel's work.
    const warm = h.call(a, U.SYS_mmap, 0, 2 ** 26, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_POPULATE, -1, 0);
    if (h.call(a, U.SYS_munmap, warm, 2 ** 26) !== 0) throw new Error('bench: munmap failed');
    const va = h.call(a, U.SYS_mmap, 0, 2 ** 26, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
    if (h.call(a, U.SYS_mlock, va, 2 ** 26) !== 0) throw new Error('bench: mlock failed');
    return [U.SYS_mprotect, va, 2 ** 26, U.PROT_READ | U.PROT_WRITE];
  }, 128 << 20],
];

describe('a getpid beside long work inside other calls', () => {
  for (const [name, order, setup, mem] of INNER) {
    bench(`${name}: rounds in slices, and in one go`, firstCallOnly(async () => {
      sliced(setup, mem); // warm-up
      const rows: Round[] = [];
      for (let i = 0; i < ROUNDS; i++) rows.push({ ...sliced(setup, mem), oneGo: oneGo(setup, mem) });
      reportRange(name, order, rows, name);
    }));
  }
});

/**
 * fork (kernel/mm/mmap.ts dupMmapSliced): a process with the same 262,144 PTEs as above
 * (the mapping given an anon_vma by one write first, so fork copies every PTE, the zero
 * page's included) forks while B calls getpid between slices; and the same in one go.
 */
function forkSetup(h: KernelHarness, a: Thread): number[] {
  const va = h.call(a, U.SYS_mmap, 0, RANGE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
  if (h.call(a, U.SYS_madvise, va, 4096, U.MADV_POPULATE_WRITE) !== 0) throw new Error('bench: write failed');
  if (h.call(a, U.SYS_madvise, va + RANGE / 2, READ_IN, U.MADV_POPULATE_READ) !== 0) throw new Error('bench: populate failed');
  return [U.SYS_clone, U.FORK_FLAGS, ...h.cloneDesc(a)];
}

describe('a getpid beside a fork of 262,144 PTEs', () => {
  bench('fork: rounds in slices, and in one go', firstCallOnly(async () => {
    sliced(forkSetup); // warm-up
    const rows: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rows.push({ ...sliced(forkSetup), oneGo: oneGo(forkSetup) });
    reportRange('fork', 99, rows);
  }));
});

/**
 * mremap and msync in slices (kernel/mm/mremap_move.ts, msync.ts): a 2^40-byte mapping with
 * 2^30 bytes of it read in (262,144 zero-page PTEs) moved whole to a free place
 * (MREMAP_FIXED: its destination's tables made, the entries moved, the old tables freed);
 * and msync(MS_SYNC) over a 2^28-byte memfd mapping with 2^24 bytes written, cut into
 * 64,001 VMAs (tmpfs writes nothing back: the walk over the VMAs is the work). B calls
 * getpid between slices; and the same in one go.
 */
const MOVE_RANGE = 2 ** 40;
const MSYNC_LEN = 2 ** 28;
const MSYNC_CUTS = 32_000;
const NORESERVE_RW: [number, number] = [U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE];

function mremapSetup(h: KernelHarness, a: Thread): number[] {
  const va = h.call(a, U.SYS_mmap, 0, MOVE_RANGE, ...NORESERVE_RW, -1, 0);
  if (h.call(a, U.SYS_madvise, va + MOVE_RANGE / 2, 2 ** 30, U.MADV_POPULATE_READ) !== 0) throw new Error('bench: populate failed');
  const dst = h.call(a, U.SYS_mmap, 0, MOVE_RANGE, ...NORESERVE_RW, -1, 0);
  if (h.call(a, U.SYS_munmap, dst, MOVE_RANGE) !== 0) throw new Error('bench: munmap failed');
  return [U.SYS_mremap, va, MOVE_RANGE, MOVE_RANGE, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dst];
}

function msyncSetup(h: KernelHarness, a: Thread): number[] {
  const name = h.call(a, U.SYS_mmap, 0, 4096, ...NORESERVE_RW, -1, 0); // zero-filled: the name ""
  const fd = h.call(a, U.SYS_memfd_create, name, 0);
  if (fd < 0 || h.call(a, U.SYS_ftruncate, fd, MSYNC_LEN) !== 0) throw new Error('bench: memfd failed');
  const va = h.call(a, U.SYS_mmap, 0, MSYNC_LEN, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, fd, 0);
  if (h.call(a, U.SYS_madvise, va, 2 ** 24, U.MADV_POPULATE_WRITE) !== 0) throw new Error('bench: populate failed');
  for (let i = 0; i < MSYNC_CUTS; i++) {
    if (h.call(a, U.SYS_mprotect, va + 2 * i * 4096, 4096, U.PROT_READ) !== 0) throw new Error('bench: mprotect failed');
  }
  return [U.SYS_msync, va, MSYNC_LEN, U.MS_SYNC];
}

const MOVE_CALLS: [string, number, (h: KernelHarness, a: Thread) => number[]][] = [
  ['mremap MREMAP_FIXED of 2^40 bytes, 262,144 PTEs', 98.4, mremapSetup],
  [`msync MS_SYNC over ${2 * MSYNC_CUTS + 1} VMAs of a memfd mapping`, 98.6, msyncSetup],
];

describe('a getpid beside an mremap move or an msync', () => {
  for (const [what, order, setup] of MOVE_CALLS) {
    bench(`${what}: rounds in slices, and in one go`, firstCallOnly(async () => {
      sliced(setup); // warm-up
      const rows: Round[] = [];
      for (let i = 0; i < ROUNDS; i++) rows.push({ ...sliced(setup), oneGo: oneGo(setup) });
      const f = (x: number) => x.toFixed(2);
      const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
      const whole = sorted(rows.map((r) => r.oneGo));
      recordRow({
        order, what: `longest wait of a getpid behind ${what} (ms)`, refName: '', unit: 'time',
        measured: rows.map((r) => r.maxWait), reference: [], target: 10,
        note: `${rows[0]?.slices ?? 0} slices; the call took ${f(sorted(rows.map((r) => r.total))[0] ?? NaN)} ms in slices, ${f(whole[0] ?? NaN)}-${f(whole[whole.length - 1] ?? NaN)} ms in one go (the wait before)`,
      });
      console.log(`\n${what}: longest getpid wait per round: ${sorted(rows.map((r) => r.maxWait)).map(f).join(', ')} ms (99th percentile ${rows.map((r) => f(r.p99Wait)).join(', ')} ms; longest in CPU time ${rows.map((r) => f(r.maxCpu)).join(', ')} ms); in one go: ${whole.map(f).join(', ')} ms\n`);
    }));
  }
});

/**
 * The exit of a process with 2^30 bytes written (262,144 pages, 512 page tables): its
 * address space is torn down in slices (kernel/mm/exit_mmap.ts), one a turn of the kernel
 * loop (task/exit.ts's exitStep, as Kernel.tick runs it), while B calls getpid between
 * them; the first slice runs as the host reports A's worker gone. In one go (slicePages
 * unbounded) the whole teardown is what B waited before.
 */
const EXIT_BYTES = 2 ** 30;

function exitRound(slicePages: number): { maxWait: number; p99Wait: number; maxCpu: number; slices: number; total: number } {
  const h = new KernelHarness({ memBytes: EXIT_BYTES + (64 << 20), slicePages });
  const a = h.spawn();
  const b = h.spawn();
  if (h.call(a, U.SYS_mmap, 0, EXIT_BYTES, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_POPULATE, -1, 0) <= 0) throw new Error('bench: populate failed');
  if (a.proc.mm.rssAnon !== EXIT_BYTES / 4096) throw new Error('bench: not every page written');
  const start = performance.now();
  let t0 = start;
  let c0 = cpuMs();
  if (h.syscall(a, U.SYS_exit_group, 0).kind !== 'exit') throw new Error('bench: exit_group did not end A');
  const waits: number[] = [];
  let maxCpu = 0;
  for (;;) {
    if (h.syscall(b, U.SYS_getpid).kind !== 'return') throw new Error('bench: getpid was not answered');
    const t1 = performance.now();
    const c1 = cpuMs();
    waits.push(t1 - t0);
    maxCpu = Math.max(maxCpu, c1 - c0);
    if (a.proc.state !== 'dying') break;
    t0 = t1;
    c0 = c1;
    exitStep(h.kernel);
    h.pump();
  }
  const total = performance.now() - start;
  h.killAll();
  if (h.leakedFrames() !== 0) throw new Error('bench: frames leaked');
  waits.sort((x, y) => x - y);
  return { maxWait: waits[waits.length - 1]!, p99Wait: waits[Math.floor(waits.length * 0.99)]!, maxCpu, slices: waits.length, total };
}

describe('a getpid beside the exit of a process with 2^30 bytes written', () => {
  bench('rounds of the teardown in slices, and in one go', firstCallOnly(async () => {
    exitRound(256); // warm-up
    const rows: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rows.push({ ...exitRound(256), oneGo: exitRound(1e12).maxWait });
    reportExit(rows);
  }));
});

function reportExit(rows: Round[]): void {
  const f = (x: number) => x.toFixed(2);
  const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const waits = sorted(rows.map((r) => r.maxWait));
  const whole = sorted(rows.map((r) => r.oneGo));
  recordRow({
    order: 99.5, what: 'longest wait of a getpid beside the exit of a process with 2^30 bytes written (ms)', refName: '', unit: 'time',
    measured: rows.map((r) => r.maxWait), reference: [], target: 10,
    note: `${rows[0]?.slices ?? 0} slices; the teardown took ${f(sorted(rows.map((r) => r.total))[0] ?? NaN)} ms in slices, ${f(whole[0] ?? NaN)}-${f(whole[whole.length - 1] ?? NaN)} ms in one go (the wait before)`,
  });
  console.log(`\nexit: longest getpid wait per round: ${waits.map(f).join(', ')} ms (99th percentile ${rows.map((r) => f(r.p99Wait)).join(', ')} ms; longest in CPU time ${rows.map((r) => f(r.maxCpu)).join(', ')} ms); in one go: ${whole.map(f).join(', ')} ms\n`);
}
