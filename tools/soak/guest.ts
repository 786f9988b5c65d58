// The soak's guest: one block of a phase per process (the host starts one, or a few, per
// block and samples the machine once they have exited).
//
//   main(['spawn', n])                 n cycles: spawn a child (it maps and touches pages,
//                                      exits), run and join a thread meanwhile, reap the
//                                      child
//   main(['maps', seed, n])            n mmap/mprotect/munmap calls of varied sizes and
//                                      flags, touching pages, up to 48 live mappings
//   main(['fork', n, pages, kids])     n cycles: fill `pages` private pages, fork `kids`
//                                      children that rewrite half of them (copy-on-write
//                                      under memory pressure: reclaim and swap) and read
//                                      the rest back, reap them, unmap
//
// Exit status 0 when every call and every check went as expected; otherwise the status says
// which check failed and a line on stderr says how.

import {
  fork, load32, MAP_ANONYMOUS, MAP_FIXED, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAX_ERRNO, programPath, PROT_NONE,
  PROT_READ, PROT_WRITE, spawn, store32, syscall, SYS_mmap, SYS_mprotect, SYS_munmap, threadCreate, threadJoin,
  waitpid, writeString,
} from '../../userland/index.ts';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const MAX_MAPS = 48;

const failed = (r: number): boolean => r < 0 && r >= -MAX_ERRNO;

function complain(text: string): void {
  writeString(2, `soak guest: ${text}\n`);
}

/** A thread of a spawned child or of the spawn parent: maps a page, writes it, reads it back. */
export function soakThread(v: number): number {
  const a = syscall(SYS_mmap, 0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (failed(a)) return 1;
  store32(a, v);
  const ok = load32(a) === v;
  syscall(SYS_munmap, a, PAGE);
  return ok ? 0 : 2;
}

/** What the spawn parent starts: maps and touches 8 pages, exits 0 (without unmapping them). */
function child(): number {
  const a = syscall(SYS_mmap, 0, 8 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (failed(a)) return 3;
  for (let p = 0; p < 8; p++) store32(a + p * PAGE, p);
  return 0;
}

function spawnCycles(n: number): number {
  const self = programPath();
  for (let i = 0; i < n; i++) {
    const pid = spawn(self, ['child']);
    const tid = threadCreate('soakThread', i);
    const t = threadJoin(tid);
    const w = waitpid(pid);
    if (t !== 0 || w.pid !== pid || w.exitCode !== 0) {
      complain(`spawn cycle ${i}: thread ${t}, child ${pid} reaped as ${w.pid} with exit ${w.exitCode} signal ${w.signal}`);
      return 10;
    }
  }
  return 0;
}

/** xorshift32: the maps phase's choices, the same for the same seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

interface Region {
  addr: number;
  pages: number;
}

/** Sizes in pages: mostly small, some a few hundred, a few 2 MiB (a huge page's worth). */
function pickPages(r: () => number): number {
  const x = r();
  if (x < 0.7) return 1 + Math.floor(r() * 16);
  if (x < 0.95) return 16 + Math.floor(r() * 240);
  return 512;
}

/** Map a region with varied flags and touch a few of its pages; the call's result. */
function mapOne(r: () => number, maps: Region[]): number {
  const pages = pickPages(r);
  const flags = (r() < 0.8 ? MAP_PRIVATE : MAP_SHARED) | MAP_ANONYMOUS | (r() < 0.1 ? MAP_POPULATE : 0);
  const prot = r() < 0.9 ? RW : PROT_READ;
  // Now and then over a hole an unmap left in a live region (MAP_FIXED replaces what is there).
  const over = maps.length > 0 && r() < 0.1 ? maps[Math.floor(r() * maps.length)] : undefined;
  const fixed = over !== undefined && over.pages >= pages ? over.addr : 0;
  const a = syscall(SYS_mmap, fixed, pages * PAGE, prot, flags | (fixed !== 0 ? MAP_FIXED : 0), -1, 0);
  if (failed(a)) return a;
  if (fixed === 0) maps.push({ addr: a, pages });
  const at = a + Math.floor(r() * pages) * PAGE;
  if (prot === RW) store32(at, pages);
  else load32(at);
  return 0;
}

/** mprotect part of a live region (splitting its VMA), writing to it if it became writable. */
function protectOne(r: () => number, m: Region): number {
  const from = Math.floor(r() * m.pages);
  const len = 1 + Math.floor(r() * (m.pages - from));
  const prot = [PROT_NONE, PROT_READ, RW][Math.floor(r() * 3)];
  const res = syscall(SYS_mprotect, m.addr + from * PAGE, len * PAGE, prot);
  if (!failed(res) && prot === RW) store32(m.addr + from * PAGE, len);
  return res;
}

/** Unmap a live region: whole, or its head or tail. */
function unmapOne(r: () => number, maps: Region[]): number {
  const k = Math.floor(r() * maps.length);
  const m = maps[k];
  const cut = m.pages > 1 && r() < 0.3 ? 1 + Math.floor(r() * (m.pages - 1)) : m.pages;
  if (cut === m.pages) {
    maps.splice(k, 1);
    return syscall(SYS_munmap, m.addr, m.pages * PAGE);
  }
  const head = r() < 0.5;
  const res = syscall(SYS_munmap, head ? m.addr : m.addr + (m.pages - cut) * PAGE, cut * PAGE);
  if (head) m.addr += cut * PAGE;
  m.pages -= cut;
  return res;
}

function mapCalls(seed: number, n: number): number {
  const r = rng(seed);
  const maps: Region[] = [];
  for (let i = 0; i < n; i++) {
    const x = r();
    let res: number;
    if (maps.length === 0 || (maps.length < MAX_MAPS && x < 0.4)) res = mapOne(r, maps);
    else if (x < 0.7) res = protectOne(r, maps[Math.floor(r() * maps.length)]);
    else res = unmapOne(r, maps);
    if (failed(res)) {
      complain(`maps call ${i}: errno ${-res}`);
      return 20;
    }
  }
  for (const m of maps) syscall(SYS_munmap, m.addr, m.pages * PAGE);
  return 0;
}

/** A fork child: rewrites the first half of the parent's pages, checks the second half. */
export function forkChild(a: { addr: number; pages: number; tag: number }): number {
  const half = a.pages >> 1;
  for (let p = 0; p < half; p++) store32(a.addr + p * PAGE, a.tag);
  for (let p = half; p < a.pages; p++) if (load32(a.addr + p * PAGE) !== p) return 30;
  for (let p = 0; p < half; p++) if (load32(a.addr + p * PAGE) !== a.tag) return 31;
  return 0;
}

function forkCycles(n: number, pages: number, kids: number): number {
  for (let i = 0; i < n; i++) {
    const addr = syscall(SYS_mmap, 0, pages * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (failed(addr)) {
      complain(`fork cycle ${i}: mmap errno ${-addr}`);
      return 40;
    }
    for (let p = 0; p < pages; p++) store32(addr + p * PAGE, p);
    const pids: number[] = [];
    for (let k = 0; k < kids; k++) pids.push(fork('forkChild', { addr, pages, tag: 1000 + k }));
    for (const pid of pids) {
      const w = waitpid(pid);
      if (w.exitCode !== 0) {
        complain(`fork cycle ${i}: child ${pid} exit ${w.exitCode} signal ${w.signal}`);
        return 41;
      }
    }
    for (let p = 0; p < pages; p++) {
      if (load32(addr + p * PAGE) !== p) {
        complain(`fork cycle ${i}: the parent's page ${p} changed`);
        return 42;
      }
    }
    syscall(SYS_munmap, addr, pages * PAGE);
  }
  return 0;
}

export default function main(argv: string[]): number {
  const n = argv.slice(1).map(Number);
  switch (argv[0]) {
    case 'child':
      return child();
    case 'spawn':
      return spawnCycles(n[0]);
    case 'maps':
      return mapCalls(n[0], n[1]);
    case 'fork':
      return forkCycles(n[0], n[1], n[2]);
    default:
      complain(`unknown mode ${argv[0]}`);
      return 2;
  }
}
