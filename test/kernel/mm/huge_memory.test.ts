// Transparent huge pages: ../shared/reference (Linux's mm/huge_memory.c semantics).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FAULT_DONE, handleMmFault } from '../../../kernel/mm/fault.ts';
import { sysMadvise } from '../../../kernel/mm/madvise.ts';
import { _PAGE_PSE, ptePfn, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';

import { sysMlock } from '../../../kernel/mm/mlock.ts';
import { VM_LOCKED } from '../../../kernel/mm/mm_types.ts';
import { sysMmap } from '../../../kernel/mm/mmap.ts';
import { exitMmap } from '../../../kernel/mm/exit_mmap.ts';
import { sysMunmap } from '../../../kernel/mm/munmap.ts';
import { walkPageRange } from '../../../kernel/mm/pagewalk.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import * as U from '../../../kernel/uapi.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';
import { bootTest } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/thp.ts', import.meta.url));

describe('transparent huge pages from a guest', () => {
  it('policy, THP faults, the huge zero page, and splits by partial operations', async () => {
    const t = await bootTest({ validate: true });
    const e = await t.m.run(GUEST, []);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, `${e.report} ${text}`).toBe(0);
    expect(text.trim().split('\n')).toEqual([
      // /sys/kernel/mm/transparent_hugepage/enabled: madvise by default; bad words EINVAL.
      'policy always [madvise] never | bogus EINVAL | unlink EPERM',
      // madvise policy: without MADV_HUGEPAGE a write faults in one 4 KiB page.
      'madvise-policy plain rss 4 huge 0',
      // With it: one fault maps 2 MiB (a PMD leaf the MMU walks as a 2 MiB translation),
      // physically contiguous, counted in smaps and meminfo AnonHugePages.
      'thp rss 2048 huge 2048 faults 1 2m-walks true contiguous true meminfo 2048',
      // Reads map the huge zero page: one fault, nothing in Rss; a write splits it into the
      // 4 KiB zero page and copies one page.
      'zero rss 0 huge 0 faults 1 sum 0 contiguous true',
      'zero-write rss 4 huge 0 splits 1 reads 9 0 shared-zero true',
      // PAGEMAP_SCAN: one region of one huge page, HUGE | PRESENT; the THP is still whole.
      'scan regions 1 1 huge-page categories 0x48 rss 2048 huge 2048',
      'free-whole splits 0 rss 2048 huge 2048',
      // mprotect of one page in the middle splits the PMD (and the VMA); data stays.
      'mprotect-middle rss 1024 huge 0 splits 1 data 7 1 meminfo 0',
      // mprotect of the whole PMD keeps it; the next write makes it writable, no split.
      'mprotect-whole rss 2048 huge 2048 splits 0 data 3 4',
      // MADV_DONTNEED of one page splits; of a whole huge page drops it whole; munmap alike.
      'dontneed-part rss 2044 huge 0 data 0 4',
      'dontneed-whole rss 2048 huge 2048 munmap-part rss 2044 huge 0',
      // mremap: moved whole to an aligned place, split for an unaligned one, kept when grown.
      'mremap aligned 42 rss 2048 huge 2048 | unaligned 43 rss 2048 huge 0 | grown 44 rss 2048 huge 2048',
      // 'always': every eligible range, except where MADV_NOHUGEPAGE says no.
      'always EINVAL [always] madvise never',
      'nohugepage rss 4 huge 0 always rss 2048 huge 2048',
      'after meminfo 0',
    ]);
    await t.finish();
  });
});

describe('transparent huge pages in the kernel', () => {
  function thpWorld() {
    const k = memoryWorld(64 << 20, 1).k;
    const bootFree = k.pages.nrFree;
    const mm = newMm(k);
    const base = sysMmap(k, mm, 0, 4 << 20, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0, -1, null);
    expect(base % (2 << 20)).toBe(0);
    expect(sysMadvise(k, mm, base, 4 << 20, U.MADV_HUGEPAGE, -1)).toBe(0);
    expect(handleMmFault(k, mm, base + 5, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    return { k, bootFree, mm, base };
  }

  it('the walker hands the leaf to pmdEntry; a walk with only a pteEntry splits it and the folio', () => {
    const { k, bootFree, mm, base } = thpWorld();
    const leaves: number[] = [];
    walkPageRange(k, mm, base, base + (4 << 20), { pmdEntry: (w, addr) => ((k.ops.lo(w) & _PAGE_PSE) !== 0 && leaves.push(addr), 0) }, null);
    expect(leaves).toEqual([base]);
    expect(mm.rssAnon).toBe(512);
    const head = leafWord(k, mm, base)!.pfn;
    const splits = k.events.thpSplitPmd;
    const seen: number[] = [];
    walkPageRange(k, mm, base, base + 4 * 4096, { pteEntry: (w) => (seen.push(ptePfn(k.ops.lo(w), k.ops.hi(w)) - head), 0) }, null);
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(k.events.thpSplitPmd).toBe(splits + 1);
    // 512 pages of their own now, each mapped once, RSS unchanged.
    expect([k.pages.orderOf(head + 7), k.pages.mapcount[head + 7], k.pages.refcount[head + 7]]).toEqual([0, 1, 1]);
    expect(mm.rssAnon).toBe(512);
    validateMm(k, mm);
    exitMmap(k, mm);
    expect(k.pages.nrFree).toBe(bootFree);
  });

  it('splits with the table deposited at fault time: a partial munmap with no free frame left works', () => {
    const { k, mm, base } = thpWorld();
    expect(mm.deposited.size).toBe(1);
    while (k.pages.takeBlock(0) >= 0); // nothing left
    expect(sysMunmap(k, mm, base + 4096, 4096, -1)).toBe(0);
    expect(mm.deposited.size).toBe(0);
    expect(mm.rssAnon).toBe(511);
    validateMm(k, mm);
  });

  it('a VMA split inside a huge PMD (mlock of one page) splits the PMD: no leaf spans two VMAs', () => {
    const { k, bootFree, mm, base } = thpWorld();
    expect(sysMlock(k, mm, base + 4096, 4096, VM_LOCKED, -1)).toBe(0);
    expect(mm.vmas.count).toBe(3);
    expect(leafWord(k, mm, base)!.huge).toBe(false);
    expect(mm.rssAnon).toBe(512);
    validateMm(k, mm);
    exitMmap(k, mm);
    expect(k.pages.nrFree).toBe(bootFree);
  });

  it('falls back to 4 KiB pages when no order-9 block is free', () => {
    const { k, mm, base } = thpWorld();
    const fallback = k.events.thpFaultFallback;
    // Leave only fragments smaller than 2 MiB free: split one block, take every whole one.
    const small = [k.pages.takeBlock(0), k.pages.takeBlock(0)];
    while (k.pages.takeBlock(9) >= 0);
    for (const pfn of small) k.pages.putPage(pfn);
    expect(handleMmFault(k, mm, base + (2 << 20), X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    expect(k.events.thpFaultFallback).toBe(fallback + 1);
    expect(leafWord(k, mm, base + (2 << 20))!.huge).toBe(false);
    expect(mm.rssAnon).toBe(513);
    validateMm(k, mm);
  });
});
