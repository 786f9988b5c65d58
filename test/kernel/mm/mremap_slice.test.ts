// mremap in slices (kernel/mm/mremap.ts, mremap_move.ts): another process's request is
// answered while a big move is in the kernel, the mm's other threads wait (mmap_lock held
// for write), a SIGKILL between slices still leaves the mapping moved whole (Linux cannot
// stop inside move_page_tables), and the result in slices is the one in one go, with THP
// PMDs, swap entries, guard markers and soft-dirty bits. Ordering and counters, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { ptePfn, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { splitHugePmd } from '../../../kernel/mm/huge_memory.ts';
import { leafWord, pmdWord } from '../../../kernel/mm/pgtable.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Process, Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, slicedAndWhole } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const NORESERVE = ANON | U.MAP_NORESERVE;
const MOVE = U.MREMAP_MAYMOVE | U.MREMAP_FIXED;
/** The mapping moved: 2^40 bytes, with LEN of them written in its middle. */
const RANGE = 2 ** 40;
const LEN = 2 ** 24;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

function boot(slicePages: number, validate = 1): Thread {
  h = new KernelHarness({ memBytes: 64 << 20, slicePages, validate });
  return h.spawn();
}

/** A 2^40-byte mapping of t's with LEN bytes written at its middle, a marker in each page table's span; and a free 2^40-byte range. */
function populated(t: Thread): { va: number; dst: number } {
  const va = h.call(t, U.SYS_mmap, 0, RANGE, RW, NORESERVE, -1, 0);
  expect(h.call(t, U.SYS_madvise, va + RANGE / 2, LEN, U.MADV_POPULATE_WRITE)).toBe(0);
  for (let at = va + RANGE / 2; at < va + RANGE / 2 + LEN; at += 2 ** 21) {
    expect(copyToUser(h.k, t.proc.mm, at + 5 * P, new Uint8Array([at / 2 ** 21 % 251]), -1)).toBe(0);
  }
  const dst = h.call(t, U.SYS_mmap, 0, RANGE, U.PROT_NONE, NORESERVE, -1, 0);
  expect(h.call(t, U.SYS_munmap, dst, RANGE)).toBe(0);
  return { va, dst };
}

describe('an mremap move runs in slices', () => {
  it('MREMAP_FIXED of 2^40 bytes with 2^24 written: another process\'s getpid is answered between slices, each boundary validates, the pages all move', () => {
    const a = boot(64);
    const b = h.spawn();
    const { va, dst } = populated(a);
    const rss = a.proc.mm.rssAnon;
    const before = [0, 1, LEN / P - 1].map((i) => leafWord(h.k, a.proc.mm, va + RANGE / 2 + i * P)!.pfn);
    const yields = h.k.slice.yields;
    expect(h.startSyscall(a, U.SYS_mremap, va, RANGE, RANGE, MOVE, dst)).toEqual({ kind: 'blocked' });
    let turns = 0;
    while (h.answer(a).kind === 'blocked') {
      expect(h.startSyscall(b, U.SYS_getpid)).toEqual({ kind: 'return', value: b.proc.pid });
      validateMm(h.k, a.proc.mm);
      h.kernel.serveCpu(a.cpu);
      h.pump();
      turns++;
    }
    expect(h.answer(a)).toEqual({ kind: 'return', value: dst });
    // The tables made, then the entries moved, a page table's span a slice (512 entries
    // over the 64-page budget): LEN / 2^21 slices each, the unmap of the source's tables after.
    expect(turns).toBeGreaterThanOrEqual(2 * (LEN / 2 ** 21) - 1);
    expect(h.k.slice.yields - yields).toBe(turns);
    expect(a.proc.mm.slicedCpu).toBe(-1);
    expect(a.proc.mm.rssAnon).toBe(rss);
    expect(a.proc.mm.vmas.find(va + RANGE / 2)).toBeNull();
    expect([0, 1, LEN / P - 1].map((i) => leafWord(h.k, a.proc.mm, dst + RANGE / 2 + i * P)!.pfn)).toEqual(before);
    for (let at = RANGE / 2; at < RANGE / 2 + LEN; at += 2 ** 21) {
      expect(copyFromUser(h.k, a.proc.mm, dst + at + 5 * P, 1, -1)).toEqual(new Uint8Array([(va + at) / 2 ** 21 % 251]));
    }
  });

  it('a move of 2^30 bytes of zero-page PTEs (MADV_POPULATE_READ) without FIXED: getpid is answered between slices; the entries end at the new address', () => {
    const a = boot(256, 0); // validated at the end: a check of 2^18 PTEs at every request is slow
    const b = h.spawn();
    const va = h.call(a, U.SYS_mmap, 0, 2 ** 30, U.PROT_READ, NORESERVE, -1, 0);
    expect(h.call(a, U.SYS_madvise, va, 2 ** 30, U.MADV_POPULATE_READ)).toBe(0);
    expect(h.call(a, U.SYS_mmap, va + 2 ** 30, P, U.PROT_NONE, NORESERVE | U.MAP_FIXED, -1, 0)).toBe(va + 2 ** 30); // no room to grow
    expect(h.startSyscall(a, U.SYS_mremap, va, 2 ** 30, 2 ** 30 + P, U.MREMAP_MAYMOVE)).toEqual({ kind: 'blocked' });
    const turns = h.roundsWithGetpid(() => h.answer(a).kind === 'blocked', b);
    const r = h.answer(a);
    expect(r.kind).toBe('return');
    const to = r.kind === 'return' ? r.value : -1;
    expect(to).not.toBe(va);
    expect(turns).toBeGreaterThanOrEqual(2 * 2 ** 30 / 2 ** 21 - 1); // a page table's span a slice, twice
    expect(leafWord(h.k, a.proc.mm, to)!.pfn).toBe(h.k.pages.zeroPfn);
    expect(leafWord(h.k, a.proc.mm, to + 2 ** 30 - P)!.pfn).toBe(h.k.pages.zeroPfn);
    expect(leafWord(h.k, a.proc.mm, va)).toBeNull();
    validateMm(h.k, a.proc.mm);
  });

  it('holds its mm as mmap_lock for write: a sibling\'s page fault waits for the move, its gettid does not', () => {
    const a = boot(64);
    const sib = h.thread(a);
    const heap = h.call(a, U.SYS_mmap, 0, 16 * P, RW, ANON, -1, 0);
    const { va, dst } = populated(a);
    expect(h.startSyscall(a, U.SYS_mremap, va, RANGE, RANGE, MOVE, dst)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(sib, U.SYS_gettid)).toEqual({ kind: 'return', value: sib.tid });
    expect(h.fault(sib, heap, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'blocked' });
    while (h.answer(a).kind === 'blocked') {
      expect(h.answer(sib)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    h.serveRound();
    expect(h.answer(sib)).toEqual({ kind: 'return', value: 0 });
  });
});

describe('a kill between the slices of an mremap move', () => {
  it('SIGKILL from another process: the process ends, nothing is left behind', () => {
    const a = boot(64);
    const b = h.spawn();
    const { va, dst } = populated(a);
    expect(h.startSyscall(a, U.SYS_mremap, va, RANGE, RANGE, MOVE, dst)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 12; i++) h.serveRound(); // into the move of the entries
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(a)).toEqual({ kind: 'exit' });
    expect(a.sliced).toBeNull();
    h.serveRound();
    h.finishExits(); // its address space's teardown (exit_mmap.ts), in slices
    expect(a.proc.state).toBe('zombie'); // and afterEach finds no frame missing
  });

  it.each([
    // Where the first and the last page are when the kill comes: old place, new place; old, new.
    [1, 'the destination\'s tables being made', [true, false, true, false]],
    [4, 'the destination\'s tables being made', [true, false, true, false]],
    [10, 'the entries half moved', [false, true, true, false]],
    [14, 'the old range being unmapped', [false, true, false, true]],
  ])('killed after %i more slices (%s), its mm shared with a clone(CLONE_VM) process: the survivor finds the mapping moved whole, its mm valid', (rounds, _stage, at) => {
    const a = boot(64);
    const { va, dst } = populated(a);
    const c = cloneVm(a);
    const rss = c.mm.rssAnon;
    expect(h.startSyscall(a, U.SYS_mremap, va, RANGE, RANGE, MOVE, dst)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < rounds; i++) h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    const mapped = (base: number, off: number): boolean => leafWord(h.k, c.mm, base + RANGE / 2 + off) !== null;
    const where = [mapped(va, 5 * P), mapped(dst, 5 * P), mapped(va, LEN - P), mapped(dst, LEN - P)];
    expect(where).toEqual(at);
    h.kernel.signal(a.proc, U.SIGKILL);
    h.pump();
    h.serveRound();
    validateMm(h.k, c.mm);
    expect(c.mm.vmas.find(va + RANGE / 2)).toBeNull();
    expect(c.mm.vmas.find(dst + RANGE / 2)!.end).toBe(dst + RANGE);
    expect(c.mm.rssAnon).toBe(rss);
    for (let at = RANGE / 2; at < RANGE / 2 + LEN; at += 2 ** 21) {
      expect(copyFromUser(h.k, c.mm, dst + at + 5 * P, 1, -1)).toEqual(new Uint8Array([(va + at) / 2 ** 21 % 251]));
    }
  });
});

describe('what changes between the slices of a move', () => {
  it.each([
    ['into a page table made then', false],
    ['in their page table, which moves there whole when no frame is left for one', true],
  ])('a THP that reclaim splits after its destination was readied to take it whole: its PTEs move, %s', (_how, noFrame) => {
    const a = boot(1);
    const x = alignedFree(a, 8 << 20);
    expect(h.call(a, U.SYS_mmap, x, 8 << 20, RW, ANON | U.MAP_FIXED, -1, 0)).toBe(x);
    expect(h.call(a, U.SYS_madvise, x, 8 << 20, U.MADV_HUGEPAGE)).toBe(0);
    expect(h.call(a, U.SYS_madvise, x, 8 << 20, U.MADV_POPULATE_WRITE)).toBe(0);
    const last = x + (6 << 20);
    expect(leafWord(h.k, a.proc.mm, last)!.huge).toBe(true);
    const pfn = leafWord(h.k, a.proc.mm, last)!.pfn;
    const dst = alignedFree(a, 8 << 20);
    expect(h.startSyscall(a, U.SYS_mremap, x, 8 << 20, 8 << 20, MOVE, dst)).toEqual({ kind: 'blocked' });
    while (leafWord(h.k, a.proc.mm, dst) === null) h.serveRound(); // the first THP moved
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
    // What reclaim's split of an isolated THP does to its PMD (vmscan.ts splitIsolatedThp).
    expect(splitHugePmd(h.k, a.proc.mm, pmdWord(h.k, a.proc.mm, last, false), last, -1)).toBe(true);
    const table = pmdWord(h.k, a.proc.mm, last, false);
    const tablePfn = ptePfn(h.k.ops.lo(table), h.k.ops.hi(table));
    const tables = a.proc.mm.ptePages;
    if (noFrame) h.k.pages.fail.nth = 1; // the next allocation fails: the one for the table
    h.runToEnd(a);
    expect(h.answer(a)).toEqual({ kind: 'return', value: dst });
    expect(h.k.pages.fail.nth).toBe(0);
    const pmd = pmdWord(h.k, a.proc.mm, dst + (6 << 20), false);
    expect(ptePfn(h.k.ops.lo(pmd), h.k.ops.hi(pmd)) === tablePfn).toBe(noFrame);
    expect(a.proc.mm.ptePages).toBe(tables); // a table made and the source's freed with the old range, or the source's moved
    const moved = leafWord(h.k, a.proc.mm, dst + (6 << 20) + 5 * P)!;
    expect([moved.huge, moved.pfn]).toEqual([false, pfn + 5]);
    expect(leafWord(h.k, a.proc.mm, dst + (4 << 20))!.huge).toBe(true);
    validateMm(h.k, a.proc.mm);
  });
});

describe('the populate after an mremap that grew locked memory', () => {
  it('is killable, as mm_populate after mmap_write_unlock is: a kill between its slices ends it, the grown mapping stays where it went', () => {
    const a = boot(64);
    const va = h.call(a, U.SYS_mmap, 0, 16 * P, RW, ANON | U.MAP_LOCKED | U.MAP_POPULATE, -1, 0);
    expect(h.call(a, U.SYS_mmap, va + 16 * P, P, U.PROT_NONE, NORESERVE | U.MAP_FIXED, -1, 0)).toBe(va + 16 * P); // no room to grow
    const c = cloneVm(a);
    expect(h.startSyscall(a, U.SYS_mremap, va, 16 * P, 2 ** 26, U.MREMAP_MAYMOVE)).toEqual({ kind: 'blocked' });
    for (let i = 0; i < 4; i++) h.serveRound();
    const to = c.mm.vmas.all().find((v) => v.end - v.start === 2 ** 26)!.start;
    expect(c.mm.rssAnon).toBeGreaterThan(16);
    expect(c.mm.rssAnon).toBeLessThan(2 ** 26 / P / 2); // a few slices of the 2^14 pages in
    h.kernel.signal(a.proc, U.SIGKILL);
    h.pump();
    h.serveRound();
    expect(c.mm.rssAnon).toBeLessThan(2 ** 26 / P / 2); // not run to its end
    expect(c.mm.vmas.find(va)).toBeNull();
    expect(leafWord(h.k, c.mm, to + 15 * P)).not.toBeNull(); // the old pages moved
    validateMm(h.k, c.mm);
  });
});

/** A clone(CLONE_VM) process of t's (sharing its mm, running the guest's `child`). */
function cloneVm(t: Thread): Process {
  const bytes = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'child', arg: null }));
  const at = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
  expect(copyToUser(h.k, t.proc.mm, at, bytes, -1)).toBe(0);
  const pid = h.call(t, U.SYS_clone, U.CLONE_VM | U.SIGCHLD, at, bytes.length);
  expect(pid).toBeGreaterThan(0);
  const c = h.kernel.tasks.procs.get(pid)!;
  expect(c.mm).toBe(t.proc.mm);
  return c;
}

/** A 2 MiB-aligned free range of `len` bytes in t's address space. */
function alignedFree(t: Thread, len: number): number {
  const r = h.call(t, U.SYS_mmap, 0, len + 2 ** 21, U.PROT_NONE, NORESERVE, -1, 0);
  expect(h.call(t, U.SYS_munmap, r, len + 2 ** 21)).toBe(0);
  return r + 2 ** 21 - (r % 2 ** 21);
}

/**
 * The same mremaps with slices of `slicePages`: each VMA's smaps, every PTE, free frames,
 * swap in use. THPs move whole to an aligned place and split to an unaligned one; swap
 * entries, guard markers and soft-dirty bits move with them; shrink, grow in place and by
 * a move with locked memory faulted in, DONTUNMAP, and the multi-VMA FIXED move.
 */
function program(slicePages: number): string[] {
  h = new KernelHarness({ memBytes: 128 << 20, swapBytes: 32 << 20, slicePages, validate: 1 });
  const a = h.spawn();
  const call = (nr: number, ...args: number[]): number => h.call(a, nr, ...args);
  const x = alignedFree(a, 32 << 20);
  expect(call(U.SYS_mmap, x, 32 << 20, RW, ANON | U.MAP_FIXED, -1, 0)).toBe(x);
  expect(call(U.SYS_madvise, x, 32 << 20, U.MADV_HUGEPAGE)).toBe(0);
  expect(call(U.SYS_madvise, x + 5 * P, 20 << 20, U.MADV_POPULATE_WRITE)).toBe(0);
  expect(call(U.SYS_madvise, x + (8 << 20) + 3 * P, 1 << 20, U.MADV_PAGEOUT)).toBe(0); // splits a THP, swap entries
  expect(call(U.SYS_madvise, x + (10 << 20) + 7 * P, 16 * P, U.MADV_GUARD_INSTALL)).toBe(0);
  expect(h.k.swap!.inuse).toBeGreaterThan(0); // swap entries to move
  expect(leafWord(h.k, a.proc.mm, x + (2 << 20))!.huge).toBe(true); // and THPs
  const y = alignedFree(a, 64 << 20);
  expect(call(U.SYS_mremap, x, 12 << 20, 12 << 20, MOVE, y)).toBe(y); // THPs move whole
  expect(call(U.SYS_mremap, x + (12 << 20), 8 << 20, 10 << 20, MOVE, y + (20 << 20) + 3 * P)).toBe(y + (20 << 20) + 3 * P); // split
  expect(call(U.SYS_mremap, y + (4 << 20), 8 << 20, 3 << 20, 0)).toBe(y + (4 << 20)); // shrink: the tail unmapped
  const z = call(U.SYS_mmap, 0, 2 << 20, RW, ANON | U.MAP_POPULATE, -1, 0);
  expect(call(U.SYS_mlock, z, 2 << 20)).toBe(0);
  expect(call(U.SYS_mremap, z, 2 << 20, 3 << 20, U.MREMAP_MAYMOVE)).toBeGreaterThan(0); // locked: grown, faulted in
  const w = call(U.SYS_mmap, 0, 1 << 20, RW, ANON | U.MAP_POPULATE, -1, 0);
  expect(call(U.SYS_mremap, w, 1 << 20, 1 << 20, U.MREMAP_MAYMOVE | U.MREMAP_DONTUNMAP, 0)).toBeGreaterThan(0);
  expect(call(U.SYS_mprotect, y + P * 100, P * 50, U.PROT_READ)).toBe(0);
  expect(call(U.SYS_munmap, y + P * 200, P * 10)).toBe(0);
  const d = alignedFree(a, 4 << 20);
  expect(call(U.SYS_mremap, y, 4 << 20, 4 << 20, MOVE, d)).toBe(d); // across VMAs and a hole
  const out = h.addressSpace(a);
  out.push(`free ${h.k.pages.nrFree} rss ${a.proc.mm.rss()} tables ${a.proc.mm.ptePages} swap ${h.k.swap!.inuse}`);
  out.push(JSON.stringify(h.k.events));
  return out;
}

describe('an mremap in slices has the result of the mremap in one go', () => {
  it('moves of THPs (whole and split), swap entries, guard markers; shrink, locked growth, DONTUNMAP, multi-VMA: smaps, every PTE, free frames alike with 1-page slices', () => {
    const r = slicedAndWhole(program, () => h);
    expect(r.leaked).toBe(0);
    expect(r.wholeYields).toBe(0);
    expect(r.yields).toBeGreaterThan(1000);
    expect(r.sliced).toEqual(r.whole);
  });
});

describe('a multi-VMA move that cannot make its page tables', () => {
  it('fails with ENOMEM at the piece that could not have them; the pieces before it stay moved (Linux\'s remap_move)', () => {
    const seen = new Set<string>();
    for (let n = 0; n < 8; n++) {
      const a = boot(64);
      // Two VMAs of two pages, 4 MiB apart: their destinations need page tables of their own.
      const L = 2 ** 22;
      const src = h.call(a, U.SYS_mmap, 0, L, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
      expect(h.call(a, U.SYS_munmap, src + 2 * P, L - 4 * P)).toBe(0);
      const dst = 2 ** 40 + 2 ** 30; // far away: no page tables there yet
      h.k.pages.fail.after = n; // the (n+1)th allocation fails
      const r = h.call(a, U.SYS_mremap, src, L, L, MOVE, dst);
      h.k.pages.fail.after = -1;
      validateMm(h.k, a.proc.mm);
      const first = a.proc.mm.vmas.find(src) === null;
      const second = a.proc.mm.vmas.find(src + L - 2 * P) === null;
      // Moved pieces are gone from the source, in order; success means both moved.
      expect(r === dst ? first && second : r === -U.ENOMEM && !second).toBe(true);
      seen.add(r === dst ? 'moved' : first ? 'first piece moved' : 'none moved');
      h.killAll();
      expect(h.leakedFrames()).toBe(0);
    }
    expect([...seen].sort()).toEqual(['first piece moved', 'moved', 'none moved']);
  });
});

