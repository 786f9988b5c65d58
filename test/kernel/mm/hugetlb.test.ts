// hugetlb: the page pools (mm/hugetlb.c).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FAULT_DONE, handleMmFault } from '../../../kernel/mm/fault.ts';
import { _PAGE_PSE, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';

import { pteWord } from '../../../kernel/mm/memory.ts';
import { sysMmap } from '../../../kernel/mm/mmap.ts';
import { exitMmap } from '../../../kernel/mm/exit_mmap.ts';
import { sysMunmap } from '../../../kernel/mm/munmap.ts';
import { walkPageRange } from '../../../kernel/mm/pagewalk.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import * as U from '../../../kernel/uapi.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';
import { bootTest } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/hugetlb.ts', import.meta.url));

describe('hugetlb pools', () => {
  it('pools, MAP_HUGETLB reservations, faults, alignment errors and SIGBUS', async () => {
    const t = await bootTest({ validate: true });
    const e = await t.m.run(GUEST, []);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, `${e.report} ${text}`).toBe(0);
    expect(text.trim().split('\n')).toEqual([
      'set ok bogus EINVAL read-only EACCES',
      'pool 4 free 4 resv 0',
      'meminfo total 4 free 4 size 2048 hugetlb 8192 memfree-drop 8192',
      '1g ok pool 0',
      // MAP_HUGETLB of 3 MiB: two huge pages, 2 MiB-aligned, reserved at mmap.
      'mmap aligned true free 4 rsvd 2',
      // One fault maps a whole huge page (a 2 MiB translation); it uses up a reservation.
      // Not in Rss: in Private_Hugetlb, with a 2 MiB page size, and in HugetlbPages.
      'touched free 3 rsvd 1 faults 1 2m-walks true rss 0 private 2048 pagesize 2048 name /anon_hugepage (deleted) status 2048',
      'surplus nr 0 total 2 surp 2 2 regrown total 4 surp 0 free 3 rsvd 1',
      // Cuts inside a huge page are EINVAL; so are MADV_FREE and mremap (not yet); a mapping
      // the pool cannot reserve is ENOMEM, as is 1 GiB with an empty 1 GiB pool.
      // MAP_FIXED over part of a huge page, and a move of several VMAs that takes one in.
      'errors fixed EINVAL munmap EINVAL mprotect EINVAL free EINVAL mremap EINVAL over ENOMEM 1g ENOMEM fixed-over EINVAL move-across EINVAL',
      'noreserve child exit 0 free 3 rsvd 1',
      // Whole huge pages can be reprotected and unmapped; an unmapped reservation returns.
      'dontneed EINVAL ok data 0 9',
      'protect data 7 write ok',
      'half free 3 rsvd 0 data 7 8',
      'unmapped free 4 rsvd 0',
      'shared 4242 free 3 rsvd 0 rw-s',
      'end free 4 rsvd 0',
      // /dev/hugepages (hugetlbfs): the file keeps its page while it has a name.
      'hugetlbfs kept 777 size 4194304 free 3 rsvd 1',
      'hugetlbfs truncated ok free 4 rsvd 1 resident pages 0',
      'hugetlbfs unlinked free 4 rsvd 0',
      'shrunk 0 memfree-back true',
    ]);
    // MAP_NORESERVE: two free pages served, the third fault is SIGBUS.
    expect([...t.out.values()].join('')).toContain('child SIGBUS at huge page 2 after 2 (free 1 rsvd 1)');
    await t.finish();
  });
});

const PMDSHARE = fileURLToPath(new URL('../../guests/pmdshare.ts', import.meta.url));

describe('hugetlb PMD sharing', () => {
  it('a process mapping the same file at the same offset within 1 GiB links the page directory; mprotect unshares and flushes the GiB', async () => {
    const t = await bootTest({ memBytes: 1280 << 20, validate: true });
    const e = await t.m.run(PMDSHARE, []);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, `${e.report} ${text}`).toBe(0);
    expect(text.trim().split('\n')).toEqual([
      // A hugetlbfs file's size is a whole number of huge pages.
      'truncate odd EINVAL ok ok',
      'range rw-s 00000000 00:00 0                                  /memfd:db (deleted)',
      'aligned child exit 0',
      'unaligned child exit 0',
      // The parent's mapping kept its data and write access through the children's unsharing.
      'parent 100,555,102,103 faults 0 free 596',
    ]);
    const all = [...t.out.values()].join('');
    // Same offset within 1 GiB: one fault links the parent's page directory, and the four
    // pages the parent faulted in need no more. mprotect unshares: four faults to build its
    // own; the stale writable TLB entries of the whole GiB were flushed (the write faults).
    expect(all).toContain('child aligned 100,101,102,103 faults 1; after mprotect 100,101,102,103 faults 4; write SIGSEGV code 2');
    // Another offset within 1 GiB: nothing to share, a fault per page.
    expect(all).toContain('child unaligned 100,101,102,103 faults 4');
    await t.finish();
  });
});

describe('1 GiB hugetlb pages in the kernel', () => {
  it('a fault maps a PUD leaf; the walker hands it to pudEntry and never splits it; unmapping returns it to the pool', () => {
    // A naturally aligned 1 GiB block needs the second GiB of a machine of more than 2 GiB.
    const k = memoryWorld(2176 * 2 ** 20, 1).k;
    const bootFree = k.pages.nrFree;
    const h = k.hugetlb.hstates[1];
    h.setNr(k, 1);
    expect(h.nr).toBe(1);
    const mm = newMm(k);
    const G = 2 ** 30;
    const base = sysMmap(k, mm, 0, G, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB | (30 << U.MAP_HUGE_SHIFT), -1, 0, -1, null);
    expect(base % G).toBe(0);
    expect(h.resv).toBe(1);
    expect(handleMmFault(k, mm, base + 12345, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    expect([h.free.length, h.resv]).toEqual([0, 0]);
    const leaf = leafWord(k, mm, base + 5 * 4096)!;
    expect(leaf.huge).toBe(true);
    const puds: number[] = [];
    walkPageRange(k, mm, base, base + G, { pudEntry: (w, addr) => ((k.ops.lo(w) & _PAGE_PSE) !== 0 && puds.push(addr), 0) }, null);
    expect(puds).toEqual([base]);
    let ptes = 0;
    walkPageRange(k, mm, base, base + 8 * 4096, { pteEntry: () => (ptes++, 0) }, null);
    expect(ptes).toBe(0); // a 1 GiB leaf is left whole
    expect(leafWord(k, mm, base)!.huge).toBe(true);
    validateMm(k, mm);
    // Shrinking the pool under a page in use makes it surplus; freed, it leaves the pool.
    h.setNr(k, 0);
    expect([h.persistent, h.nr, h.surplus]).toEqual([0, 1, 1]);
    expect(sysMunmap(k, mm, base, G, -1)).toBe(0);
    expect([h.nr, h.surplus, h.free.length]).toEqual([0, 0, 0]);
    exitMmap(k, mm);
    expect(k.pages.nrFree).toBe(bootFree);
  });
});

describe('hugetlb faults over leftover page tables', () => {
  it('an empty page table left in a huge page slot is freed, not mistaken for the page', () => {
    const k = memoryWorld(64 << 20, 1).k;
    const bootFree = k.pages.nrFree;
    k.hugetlb.hstates[0].setNr(k, 2);
    const mm = newMm(k);
    const at = 0x4000_0000;
    // Tables down to a PTE page at `at`, mapping nothing (as a failed mremap leaves them).
    expect(pteWord(k, mm, at, true)).toBeGreaterThan(0);
    const tables = mm.ptePages;
    expect(sysMmap(k, mm, at, 2 << 20, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB | U.MAP_FIXED, -1, 0, -1, null)).toBe(at);
    expect(handleMmFault(k, mm, at + 8, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    expect(leafWord(k, mm, at)!.huge).toBe(true);
    expect(mm.ptePages).toBe(tables - 1);
    validateMm(k, mm);
    exitMmap(k, mm);
    k.hugetlb.hstates[0].setNr(k, 0);
    expect(k.pages.nrFree).toBe(bootFree);
  });
});

describe('a MAP_FIXED hugetlb mapping the pool cannot reserve', () => {
  // hugetlbfs reserves in its ->mmap, which Linux calls after the old mapping's PTEs are
  // cleared: the failure leaves a hole (vms_abort_munmap_vmas), not the old mapping. Linux
  // 6.18 on the host does the same (examples/map-fixed.ts shows it).
  it('is ENOMEM and leaves a hole where the old mapping was; a pool that can reserve replaces it', () => {
    const k = memoryWorld(64 << 20, 1).k;
    const bootFree = k.pages.nrFree;
    const mm = newMm(k);
    const huge = 2 << 20;
    const RW = U.PROT_READ | U.PROT_WRITE;
    const at = sysMmap(k, mm, 0x4000_0000, 2 * huge, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0, -1, null);
    expect(handleMmFault(k, mm, at + 8, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    expect(sysMmap(k, mm, at, huge, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB | U.MAP_FIXED, -1, 0, -1, null)).toBe(-U.ENOMEM);
    expect(mm.vmas.find(at)).toBeNull();
    expect(mm.vmas.find(at + huge)).not.toBeNull(); // the rest of the old mapping stays
    validateMm(k, mm);
    // Not MAP_FIXED: nothing to lose.
    expect(sysMmap(k, mm, 0, huge, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0, -1, null)).toBe(-U.ENOMEM);
    k.hugetlb.hstates[0].setNr(k, 1);
    expect(sysMmap(k, mm, at + huge, huge, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB | U.MAP_FIXED, -1, 0, -1, null)).toBe(at + huge);
    expect(k.hugetlb.hstates[0].resv).toBe(1);
    validateMm(k, mm);
    exitMmap(k, mm);
    k.hugetlb.hstates[0].setNr(k, 0);
    expect(k.pages.nrFree).toBe(bootFree);
  });
});
