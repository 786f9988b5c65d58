// Dirty tracking of a 1 GiB shared mapping with 1% of its pages written, the two ways
// vmwgfx can harvest it (reference dirty-pagewalk.md section 3):
// - clean+record (PAGETABLE method): walk every PTE, clean and record the dirty ones;
// - write-protect (MKWRITE method): walk every PTE, write-protect the writable ones (the
//   pages written since the last pass, which faulted to become writable).
// Each timed pass starts from the same state: the same 1% of PTEs dirty, or writable.
// The raw host operation is a read of every PTE word from an Int32Array. Kernel code driven
// directly, without threads. The summary prints per-page costs and ratios.

import { afterAll, bench, describe } from 'vitest';
import { _PAGE_DIRTY, _PAGE_RW, ControlBlock, PhysMem, X86_PF_USER } from '../../machine/index.ts';
import { cleanRecordSharedMappingRange, wpSharedMappingRange } from '../../kernel/mm/mapping_dirty_helpers.ts';
import { handleMmFault } from '../../kernel/mm/fault.ts';
import { FdTable } from '../../kernel/fs/file.ts';

import { sysMmap } from '../../kernel/mm/mmap.ts';
import * as U from '../../kernel/uapi.ts';
import { type InodeFile, Vfs } from '../../kernel/fs/vfs.ts';
import { newMm } from '../harness/kernel.ts';
import { Kmm } from '../../kernel/mm/kmm.ts';
import { pteWord } from '../../kernel/mm/memory.ts';
import { finish } from '../../kernel/mm/slice.ts';
import { truncateSliced } from '../../kernel/mm/truncate.ts';

const PAGES = 262_144; // 1 GiB
const DIRTY = Math.floor(PAGES / 100);
const BASE = 0x4000_0000;

const k = new Kmm(PhysMem.create(1024 * 2 ** 20 + (64 << 20)), ControlBlock.create(1));
const vfs = new Vfs(k);
const file = vfs.open(['tmp', 'fb'], U.O_CREAT | U.O_RDWR, 0o600, -1) as InodeFile;
const mapping = file.inode.mapping!;
finish(k, truncateSliced(k, mapping, PAGES * 4096, -1));
const fds = new FdTable();
const fd = fds.install(file, false, 10);
const mm = newMm(k);
if (sysMmap(k, mm, BASE, PAGES * 4096, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED | U.MAP_FIXED, fd, 0, -1, fds) !== BASE) throw new Error('mmap');
for (let i = 0; i < PAGES; i++) handleMmFault(k, mm, BASE + i * 4096, X86_PF_USER, -1);
const words = new Int32Array(PAGES);
for (let i = 0; i < PAGES; i++) words[i] = pteWord(k, mm, BASE + i * 4096, false);
// The same 1% of the pages each pass: every 100th.
const chosen = Int32Array.from({ length: DIRTY }, (_, i) => words[i * 100]);
wpSharedMappingRange(k, mapping, 0, PAGES, -1); // from here on, PTEs are writable only when made so

const bitmap = new Uint8Array(PAGES / 8);
const mem = new Int32Array(k.mem.buffer);
const times = new Map<string, number>();
let sink = 0;

function cleanPass(): void {
  for (const w of chosen) k.ops.ptepSetBits(w, _PAGE_DIRTY | _PAGE_RW);
  const n = cleanRecordSharedMappingRange(k, mapping, 0, PAGES, 0, bitmap, { start: 0, end: 0 }, -1);
  if (n !== DIRTY) throw new Error(`cleaned ${n}`);
}

function wpPass(): void {
  for (const w of chosen) k.ops.ptepSetBits(w, _PAGE_RW);
  const n = wpSharedMappingRange(k, mapping, 0, PAGES, -1);
  if (n !== DIRTY) throw new Error(`protected ${n}`);
}

function rawScan(): void {
  let s = 0;
  for (let i = 0; i < PAGES; i++) s += mem[words[i]];
  sink += s;
}

const opts = { time: 3000, warmupTime: 500, iterations: 5 };
const timed = (name: string, fn: () => void) => () => {
  const t0 = performance.now();
  fn();
  const dt = performance.now() - t0;
  times.set(name, Math.min(times.get(name) ?? Infinity, dt));
};

describe('one pass over a 1 GiB shared mapping, 1% of pages dirty', () => {
  bench('clean+record (PAGETABLE harvest)', timed('clean', cleanPass), opts);
  bench('write-protect (MKWRITE re-arm)', timed('wp', wpPass), opts);
  bench('raw: read every PTE word', timed('raw', rawScan), opts);
});

afterAll(() => {
  const per = (name: string) => ((times.get(name) ?? NaN) * 1e6) / PAGES;
  const raw = per('raw');
  console.log(`\nptlab dirty tracking, 1 GiB shared mapping (${PAGES} pages, ${DIRTY} dirty), best pass:`);
  for (const [name, label] of [['clean', 'clean+record'], ['wp', 'write-protect']] as const) {
    console.log(`  ${label.padEnd(14)} ${per(name).toFixed(1).padStart(7)} ns/page   ${(per(name) / raw).toFixed(1).padStart(6)}x the raw PTE read (${raw.toFixed(2)} ns/page)`);
  }
  console.log(`  clean+record / write-protect: ${(per('clean') / per('wp')).toFixed(2)}x\n`);
});

export { sink };
