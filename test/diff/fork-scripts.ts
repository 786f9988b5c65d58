// Fork scripts for the differential test: memory operations run by a tree of processes,
// one operation at a time, each naming the process that performs it. fork-helper.c runs
// them on the host kernel (real fork, the processes driven through pipes), fork-guest.ts
// as ptlab processes (driven through a shared mailbox); after every operation each live
// process prints its own /proc/self/smaps figures for the range.
//
//   fork W                        process W forks; the child takes the next id (1, 2, 3)
//   exit W                        W exits (it must have no live children); its parent reaps it
//   mmap W OFF LEN PROT FLAGS     anonymous mmap at range + OFF (FLAGS as given: MAP_FIXED...)
//   mmapf W OFF LEN PROT FLAGS FOFF   the script's memfd at file offset FOFF
//   munmap W OFF LEN / mprotect W OFF LEN PROT / madvise W OFF LEN ADVICE
//   mlock W OFF LEN / munlock W OFF LEN
//   write W OFF PAGES VAL         store the 32-bit VAL + i at the first word of page i
//   read W OFF PAGES              load the first word of each page
//   mincore W OFF LEN / pagemap W OFF PAGES
//   fwrite OFF VAL                pwrite the 32-bit VAL to the memfd at OFF (by process 0)
//
// Each script starts with an empty range, process 0 alone, and a new memfd of FILE_PAGES
// pages (never written: no page cache); the processes left at the end exit, children first.

import * as U from '../../kernel/uapi.ts';
import { rng } from './scripts.ts';

const P = 4096;
/** The range: 4 MiB, 2 MiB-aligned on both sides, so that its second half can be a THP. */
export const FORK_PAGES = 1024;
/** The offset of the 2 MiB-aligned region the THP operations use. */
export const THP_OFF = 512 * P;
/** The memfd's size at the start of a script, in pages. */
export const FILE_PAGES = 64;
/** Processes per script, the first included (ids are not reused). */
export const MAX_PROCS = 4;

export type ForkOp =
  | ['fork', number]
  | ['exit', number]
  | ['mmap', number, number, number, number, number]
  | ['mmapf', number, number, number, number, number, number]
  | ['munmap', number, number, number]
  | ['mprotect', number, number, number, number]
  | ['madvise', number, number, number, number]
  | ['mlock', number, number, number]
  | ['munlock', number, number, number]
  | ['write', number, number, number, number]
  | ['read', number, number, number]
  | ['mincore', number, number, number]
  | ['pagemap', number, number, number]
  | ['fwrite', number, number];

const ARITY: Record<ForkOp[0], number> = {
  fork: 1, exit: 1, mmap: 5, mmapf: 6, munmap: 3, mprotect: 4, madvise: 4, mlock: 3, munlock: 3, write: 4, read: 3,
  mincore: 3, pagemap: 3, fwrite: 2,
};

/**
 * The process tree of a script as it runs: ids in fork order, each with its parent. Both
 * runners keep one, and the generator and parser use it to keep scripts well-formed.
 */
export class ProcTree {
  readonly parent: number[] = [-1];
  readonly live: boolean[] = [true];

  /** The live ids, in order: the order in which processes print their state. */
  liveIds(): number[] {
    return this.live.flatMap((l, id) => (l ? [id] : []));
  }

  /** Whether id is live and none of its children is. */
  isLeaf(id: number): boolean {
    return this.live[id] === true && !this.parent.some((p, c) => p === id && this.live[c]);
  }

  /** The error in op for this tree, or null; applies a fork or exit when there is none. */
  apply(op: ForkOp): string | null {
    if (op[0] === 'fwrite') return null;
    const who = op[1];
    if (this.live[who] !== true) return `process ${who} is not live`;
    if (op[0] === 'fork') {
      if (this.parent.length >= MAX_PROCS) return `more than ${MAX_PROCS} processes`;
      this.parent.push(who);
      this.live.push(true);
    } else if (op[0] === 'exit') {
      if (who === 0 || !this.isLeaf(who)) return `process ${who} cannot exit: the first, or has live children`;
      this.live[who] = false;
    }
    return null;
  }
}

/** Parse a hand-written fork script, one "op operand..." per line; throws if malformed. */
export function parseForkScript(text: string): ForkOp[] {
  const ops: ForkOp[] = [];
  const tree = new ProcTree();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, ...rest] = line.split(/\s+/);
    const arity = ARITY[name as ForkOp[0]];
    if (arity === undefined || rest.length !== arity) throw new Error(`bad fork script line: ${line}`);
    const op = [name, ...rest.map(Number)] as unknown as ForkOp;
    const bad = tree.apply(op);
    if (bad !== null) throw new Error(`bad fork script line: ${line}: ${bad}`);
    ops.push(op);
  }
  return ops;
}

export function forkScriptText(ops: ForkOp[]): string {
  return `script\n${ops.map((o) => o.join(' ')).join('\n')}\nend\n`;
}

/** A mapping the generator made, which later operations aim at (most of the time). */
interface Region {
  off: number;
  pages: number;
}

/**
 * A seeded random fork script: process 0 maps and touches memory of every kind (private
 * and shared anonymous, the memfd private and shared, with `thp` a MADV_HUGEPAGE region),
 * marks some of it DONTFORK, WIPEONFORK or locked, and forks; then the processes (up to
 * MAX_PROCS, children forking grandchildren) write, read, advise, protect, unmap and exit
 * in random order.
 */
export function randomForkScript(seed: number, thp: boolean): ForkOp[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (n: number) => Math.floor(r() * n);
  const regions: Region[] = [];
  const ops: ForkOp[] = [];
  const tree = new ProcTree();
  const push = (op: ForkOp): void => {
    if (tree.apply(op) === null) ops.push(op);
  };
  /** Pages [off, off + pages * P) mostly inside a region, sometimes anywhere in the first 256 pages. */
  const target = (maxPages: number): [number, number] => {
    const pages = 1 + int(maxPages);
    if (regions.length === 0 || r() < 0.1) return [P * int(256), pages];
    const g = pick(regions);
    const first = int(g.pages);
    return [g.off + P * first, Math.min(pages, g.pages - first)];
  };
  const map = (who: number): void => {
    const pages = 1 + int(16);
    const off = P * int(192);
    const kind = r();
    if (kind < 0.4) push(['mmap', who, off, pages * P, pick([3, 3, 3, 1]), U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED]);
    else if (kind < 0.55) push(['mmap', who, off, pages * P, 3, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED]);
    else if (kind < 0.8) push(['mmapf', who, off, pages * P, pick([3, 3, 1]), U.MAP_PRIVATE | U.MAP_FIXED, P * int(FILE_PAGES)]);
    else push(['mmapf', who, off, pages * P, 3, U.MAP_SHARED | U.MAP_FIXED, P * int(FILE_PAGES - 8)]);
    regions.push({ off, pages });
  };
  let value = 1;
  const touch = (who: number, maxPages: number): void => {
    if (r() < 0.65) push(['write', who, ...target(maxPages), 0x100 * value++]);
    else push(['read', who, ...target(maxPages)]);
  };
  // Process 0 alone.
  for (let i = 1 + int(4); i > 0; i--) {
    map(0);
    if (r() < 0.8) touch(0, 8);
    if (r() < 0.3) touch(0, 8);
  }
  if (thp && r() < 0.3) {
    // A write faults in a huge page. Not a read first: a write to the huge zero page is a
    // known difference (fork-cases.ts).
    push(['mmap', 0, THP_OFF, 512 * P, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED]);
    push(['madvise', 0, THP_OFF, 512 * P, U.MADV_HUGEPAGE]);
    push(['write', 0, THP_OFF + P * int(512), 1, 0x100 * value++]);
    regions.push({ off: THP_OFF, pages: 512 });
  }
  if (r() < 0.2) {
    const [off, pages] = target(6);
    push(['madvise', 0, off, pages * P, pick([U.MADV_DONTFORK, U.MADV_WIPEONFORK])]);
  }
  if (r() < 0.1) {
    const [off, pages] = target(6);
    push(['mlock', 0, off, pages * P]);
  }
  if (r() < 0.15) push(['fwrite', P * int(FILE_PAGES), 0x100 * value++]);
  push(['fork', 0]);
  // The tree at work.
  for (let i = 4 + int(13); i > 0; i--) {
    const live = tree.liveIds();
    const who = pick(live);
    const kind = r();
    const [off, pages] = target(6);
    if (kind < 0.35) push(['write', who, off, pages, 0x100 * value++]);
    else if (kind < 0.55) push(['read', who, off, pages]);
    else if (kind < 0.63) push(['fork', who]);
    else if (kind < 0.69) {
      const leaves = live.filter((id) => id !== 0 && tree.isLeaf(id));
      if (leaves.length > 0) push(['exit', pick(leaves)]);
    } else if (kind < 0.78) {
      const advice = [U.MADV_DONTNEED, U.MADV_DONTNEED, U.MADV_DONTFORK, U.MADV_DOFORK, U.MADV_WIPEONFORK, U.MADV_KEEPONFORK,
        U.MADV_POPULATE_WRITE, U.MADV_POPULATE_READ, U.MADV_REMOVE,
        // COLD and PAGEOUT (the host has no swap: they only age and split) not on the THP
        // area: Linux 6.12+ maps a split THP's zero-filled pages to the zero page, ptlab keeps
        // them (kernel/README.md).
        ...(thp ? [U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE] : [U.MADV_COLD, U.MADV_PAGEOUT]),
        // Guard regions: fork copies the markers (and, with VM_MAYBE_GUARD, a shared VMA's PTEs).
        U.MADV_GUARD_INSTALL, U.MADV_GUARD_REMOVE];
      push(['madvise', who, off, pages * P, pick(advice)]);
    } else if (kind < 0.83) push(['mprotect', who, off, pages * P, pick([1, 1, 3, 0])]);
    else if (kind < 0.87) push(['munmap', who, off, pages * P]);
    else if (kind < 0.9) map(who);
    else if (kind < 0.915) push(['mincore', who, off, pages * P]);
    else if (kind < 0.93) push(['pagemap', who, off, pages]);
    else if (kind < 0.96) push(['fwrite', P * int(FILE_PAGES), 0x100 * value++]);
    else if (kind < 0.99) push(['mlock', who, off, pages * P]);
    else push(['munlock', who, off, pages * P]);
  }
  return ops;
}
