// Transparent huge pages: ../shared/reference (Linux's mm/huge_memory.c semantics).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bootTest } from './helpers.ts';

const GUEST = fileURLToPath(new URL('../guests/thp.ts', import.meta.url));

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
      'always ok [always] madvise never',
      'nohugepage rss 4 huge 0 always rss 2048 huge 2048',
      'after meminfo 0',
    ]);
    await t.finish();
  });
});
