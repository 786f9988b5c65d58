// Reference pages (refpage_create, the v5 patch): ../shared/reference/refpage.md section 5.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FdTable } from '../../../kernel/fs/file.ts';
import { FAULT_DONE, handleMmFault } from '../../../kernel/mm/fault.ts';
import { sysMadvise } from '../../../kernel/mm/madvise.ts';
import type { Kmm } from '../../../kernel/mm/kmm.ts';
import { type Mm } from '../../../kernel/mm/mm.ts';
import { sysMmap } from '../../../kernel/mm/mmap.ts';
import { sysMremap } from '../../../kernel/mm/mremap.ts';
import { ptePfn, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';

import { refpageCreate, type RefPageFile } from '../../../kernel/fs/anon_inodes.ts';
import { populateSome } from '../../../kernel/mm/gup.ts';
import { pteWord } from '../../../kernel/mm/memory.ts';
import { VM_WRITE } from '../../../kernel/mm/mm_types.ts';
import { sysMprotect } from '../../../kernel/mm/mprotect.ts';
import { exitMmap } from '../../../kernel/mm/exit_mmap.ts';
import { sysMunmap } from '../../../kernel/mm/munmap.ts';
import { forEachPte } from '../../../kernel/mm/pagewalk.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import * as U from '../../../kernel/uapi.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';
import { bootTest } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/refpage.ts', import.meta.url));

describe('refpage_create from a guest', () => {
  it('argument errors, the descriptor, contents, sharing, COW, TLB, DONTNEED, lifetime, mprotect, populate, zero-page parity', async () => {
    const t = await bootTest({ validate: true });
    const e = await t.m.run(GUEST, []);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, `${e.report} ${text}`).toBe(0);
    const lines = text.trim().split('\n');
    expect(lines).toEqual([
      // 1: flags; sizes 0, 3, 12, 8192; content not aligned to size; unreadable content; then 1, 16, 4096.
      'args flags EINVAL sizes EINVAL EINVAL EINVAL EINVAL misaligned EINVAL unmapped EFAULT ok ok ok ok',
      // 2: O_RDONLY and close-on-exec; read(2) unsupported; MAP_SHARED refused (EACCES for
      // writing through an O_RDONLY fd, EINVAL otherwise, ptlab's choice); the maps line.
      expect.stringMatching(/^fd cloexec true rdonly true read EINVAL shared-rw EACCES shared-ro EINVAL maps r--p 00000000 00:0f 1057 anon_inode:\[refpage\]$/),
      // 3, 4: the pattern repeated for sizes 1, 2, 16, 4096; a snapshot taken at creation.
      'contents 1:true 2:true 16:true 4096:true snapshot 17 17',
      // 5: every PTE of both mappings on one frame, not in Rss; another fd, another frame.
      'share true true rss 0 0 other-fd true',
      // 6: a write copies one page; the rest of it keeps the pattern; the others stay shared.
      'cow 7 rest true own true others true true rss 4',
      'write-first 1 90 90 true',
      // 8: MADV_DONTNEED returns the page to the reference content and frees the copy.
      'dontneed 90 true rss 0',
      // 7: the other CPU's read-only entry for the reference page was flushed by the COW.
      'tlb reader saw 44',
      // 10, 11: the mapping outlives the fd; PROT_READ gives SEGV_ACCERR (2), then COW.
      'lifetime after-close 66 protect segv 2 then 9 4',
      // 12: MAP_POPULATE writes private copies of a writable mapping and maps the reference
      // page into a read-only one; MADV_POPULATE_READ maps it, _WRITE copies; _WRITE on a
      // read-only mapping is EINVAL.
      'populate map-rw 64 true map-ro 0 true madv-read 0 true madv-write 64 true true write-on-ro EINVAL',
      // 14: plain anonymous memory: the same rules with the zero page.
      'zero share true rss-after-reads 0 cow 5 0 true true rss 4 dontneed 0 true rss 0',
    ]);
    await t.finish(); // every reference page freed with its last VMA and descriptor
  });
});

/** A kernel, a process whose memory holds a 1-byte pattern, and a reference page of it in `fds`. */
function refWorld(memBytes = 64 << 20) {
  const k = memoryWorld(memBytes, 2).k;
  const bootFree = k.pages.nrFree;
  const owner = newMm(k);
  const buf = sysMmap(k, owner, 0, 4096, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0, -1, null);
  expect(copyToUser(k, owner, buf, Uint8Array.of(0xa5), -1)).toBe(0);
  const f = refpageCreate(k, owner, buf, 1, 0, -1);
  if (typeof f === 'number') throw new Error(`refpageCreate: ${f}`);
  const fds = new FdTable();
  const fd = fds.install(f, true, 100);
  const rp = (f as RefPageFile).rp;
  const map = (mm: Mm, len: number, prot = U.PROT_READ, at = 0) =>
    sysMmap(k, mm, at, len, prot, U.MAP_PRIVATE | (at !== 0 ? U.MAP_FIXED : 0), fd, 0, -1, fds);
  return { k, bootFree, owner, fds, fd, rp, map };
}

/** Read faults over [start, end) from the kernel's side (GUP without FOLL_WRITE): where it got to, or minus the fault's result. */
function populateRead(k: Kmm, mm: Mm, start: number, end: number): number {
  let va = start;
  while (va > 0 && va < end) {
    k.slice.refill();
    va = populateSome(k, mm, va, end, false, -1);
  }
  return va;
}

describe('reference pages in the kernel', () => {
  it('more than 2^20 PTEs across VMAs and processes move no counter of the page, and all of it unmaps cleanly', () => {
    const { k, bootFree, owner, fds, fd, rp, map } = refWorld();
    const counts = () => [k.pages.refcount[rp.pfn], k.pages.mapcount[rp.pfn]];
    const before = counts();
    const VMA_PAGES = 16_384; // 64 MiB each
    const procs = Array.from({ length: 4 }, () => newMm(k));
    let vmas = 0;
    for (const mm of procs) {
      for (let i = 0; i < 17; i++) {
        // Read-only and writable by turns (the writable ones let a write below copy a page).
        const at = map(mm, VMA_PAGES * 4096, i % 2 === 0 ? U.PROT_READ : U.PROT_READ | U.PROT_WRITE);
        expect(at).toBeGreaterThan(0);
        expect(populateRead(k, mm, at, at + VMA_PAGES * 4096)).toBe(at + VMA_PAGES * 4096);
        vmas++;
      }
    }
    let ptes = 0;
    for (const mm of procs) for (const v of mm.vmas.all()) forEachPte(k, mm, v.start, v.end, (w) => { if (ptePfn(k.ops.lo(w), k.ops.hi(w)) === rp.pfn) ptes++; });
    expect(ptes).toBe(vmas * VMA_PAGES);
    expect(ptes).toBeGreaterThan(2 ** 20);
    expect(counts()).toEqual(before);
    expect(procs.map((mm) => mm.rssAnon + mm.rssShmem)).toEqual([0, 0, 0, 0]);
    // A write copies one page; the reference page's counters still do not move.
    const w = procs[0].vmas.all().find((v) => (v.flags & VM_WRITE) !== 0)!;
    expect(handleMmFault(k, procs[0], w.start + 4096, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    expect(procs[0].rssAnon).toBe(1);
    expect(counts()).toEqual(before);
    for (const mm of procs) validateMm(k, mm);
    // Unmap half of one process by munmap, the rest by exit, then close the descriptor.
    for (const v of procs[1].vmas.all().slice(0, 8)) expect(sysMunmap(k, procs[1], v.start, v.end - v.start, -1)).toBe(0);
    expect(counts()).toEqual(before);
    for (const mm of [...procs, owner]) exitMmap(k, mm);
    expect(k.pages.isSpecial(rp.pfn)).toBe(true); // the descriptor still holds it
    expect(fds.close(fd)).toBe(0);
    expect(k.pages.nrFree).toBe(bootFree);
  }, 60_000);

  it('merging follows the file: the same fd at contiguous offsets only', () => {
    const { k, owner, fds, fd, map } = refWorld();
    const mm = newMm(k);
    const a = map(mm, 4 * 4096);
    // Right below it, offset 0 again: not contiguous in the file, so two VMAs.
    expect(map(mm, 4 * 4096, U.PROT_READ, a - 4 * 4096)).toBe(a - 4 * 4096);
    expect(mm.vmas.count).toBe(2);
    // A split by mprotect merges back when the protection is restored.
    expect(sysMprotect(k, mm, a + 4096, 4096, U.PROT_READ | U.PROT_WRITE, -1)).toBe(0);
    expect(mm.vmas.count).toBe(4);
    expect(sysMprotect(k, mm, a + 4096, 4096, U.PROT_READ, -1)).toBe(0);
    expect(mm.vmas.count).toBe(2);
    // Plain anonymous memory next to it does not merge with it.
    expect(sysMmap(k, mm, a + 4 * 4096, 4096, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0, -1, null)).toBe(a + 4 * 4096);
    expect(mm.vmas.count).toBe(3);
    validateMm(k, mm);
    for (const m of [mm, owner]) exitMmap(k, m);
    fds.close(fd);
  });

  it('mremap moves a reference-page mapping with its copies; it has a vm_file for madvise', () => {
    const { k, bootFree, owner, fds, fd, rp, map } = refWorld();
    const mm = newMm(k);
    const a = map(mm, 4 * 4096, U.PROT_READ | U.PROT_WRITE);
    expect(handleMmFault(k, mm, a, X86_PF_USER, -1)).toBe(FAULT_DONE); // the reference page
    expect(handleMmFault(k, mm, a + 4096, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE); // a copy
    const copy = ptePfn(k.ops.lo(pteWord(k, mm, a + 4096, false)), k.ops.hi(pteWord(k, mm, a + 4096, false)));
    const to = sysMremap(k, mm, a, 4 * 4096, 8 * 4096, U.MREMAP_MAYMOVE, 0, -1);
    expect(to).toBeGreaterThan(0);
    const pfnAt = (va: number) => ptePfn(k.ops.lo(pteWord(k, mm, va, false)), k.ops.hi(pteWord(k, mm, va, false)));
    expect([pfnAt(to), pfnAt(to + 4096)]).toEqual([rp.pfn, copy]);
    expect(handleMmFault(k, mm, to + 6 * 4096, X86_PF_USER, -1)).toBe(FAULT_DONE); // the grown part
    expect(pfnAt(to + 6 * 4096)).toBe(rp.pfn);
    expect(sysMadvise(k, mm, to, 4096, U.MADV_WIPEONFORK, -1)).toBe(-U.EINVAL);
    validateMm(k, mm);
    for (const m of [mm, owner]) exitMmap(k, m);
    fds.close(fd);
    expect(k.pages.nrFree).toBe(bootFree);
  });
});
