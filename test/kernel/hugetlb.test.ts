// hugetlb: the page pools (mm/hugetlb.c).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bootTest } from './helpers.ts';

const GUEST = fileURLToPath(new URL('../guests/hugetlb.ts', import.meta.url));

describe('hugetlb pools', () => {
  it('nr_hugepages grows and shrinks the pool; meminfo reports it', async () => {
    const t = await bootTest();
    const e = await t.m.run(GUEST, []);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, `${e.report} ${text}`).toBe(0);
    expect(text.trim().split('\n')).toEqual([
      'set ok bogus EINVAL read-only EACCES',
      'pool 4 free 4 resv 0',
      'meminfo total 4 free 4 size 2048 hugetlb 8192 memfree-drop 8192',
      '1g ok pool 0',
      'shrunk 0 memfree-back true',
    ]);
    await t.finish();
  });
});
