// mshare (the 2025 v3 msharefs API): regions, their sizing and the ioctls on the host mm.
import { describe, expect, it } from 'vitest';
import { bootTest } from './helpers.ts';

describe('msharefs', () => {
  it('mshare_info, sizing once in 512 GiB steps, and the CREATE_MAPPING and UNMAP checks', async () => {
    const t = await bootTest();
    const r = await t.run(['msharefs']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    expect(r.text.trim().split('\n')).toEqual([
      'info 549755813888',
      'fresh size 0 create EINVAL', // not sized yet
      'sizes EINVAL ok EINVAL size 1', // 1 GiB is not a multiple of 512 GiB; only once
      'fallocate EOPNOTSUPP EINVAL ok',
      // anonymous ok; offset past the end; no MAP_FIXED; MAP_PRIVATE; a memfd object ok;
      // an msharefs file (no nesting); a bad fd; running past the end
      'create ok EINVAL EINVAL EINVAL ok EINVAL EBADF EINVAL',
      'ioctl ENOTTY unmap ok EINVAL EINVAL',
      'read EINVAL unlink info EPERM',
      'subdir region EINVAL',
    ]);
    await t.finish(); // unlinked and closed: each host mm and its pages are gone
  });
});

describe('mshare between processes', () => {
  it('shares the host tables: one linking fault, writes both ways, EINVAL for parts, SIGSEGV after the owner unmaps', async () => {
    const t = await bootTest();
    const r = await t.run(['mshare-share']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    const all = [...t.out.values()].join('');
    // The child's own page tables: a PDPT for its control page and scratch (the region's
    // tables are the host's, linked by one PML4 entry).
    expect(all).toMatch(/child at 3 reads 4242 with 1 fault\(s\), VmPTE \d+ kB, partial EINVAL EINVAL/);
    expect(r.text).toContain('owner at a 512 GiB boundary sees 777');
    expect(r.text).toMatch(/^[0-9a-f]+-[0-9a-f]+ rw-s 00000000 00:2f \d+ +\/sys\/fs\/mshare\/sga$/m);
    expect(all).toContain('child SIGSEGV code 1 at offset 8');
    expect(r.text).toContain('child exit 0');
    await t.finish();
  });
});

