// The examples that run as guests keep working (small runs; the defaults are for people).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bootTest } from './helpers.ts';

const DIRTY = fileURLToPath(new URL('../../examples/dirty-tracking.ts', import.meta.url));

describe('examples/dirty-tracking.ts', () => {
  it('harvests every drawn page through both method switches', async () => {
    const t = await bootTest();
    const e = await t.m.run(DIRTY, ['--pages', '600', '--frames', '15']);
    const text = [...t.out.values()].join('');
    expect(e.exitCode, text).toBe(0);
    expect(text).toContain('frames with a missed page: 0');
    expect(text.match(/<- switched/g)).toHaveLength(2);
    await t.finish();
  });
});

const SGA = fileURLToPath(new URL('../../examples/sga.ts', import.meta.url));

describe('examples/sga.ts', () => {
  it('MAP_SHARED clients each build S/512 of page tables; mshare clients build none and fault once', async () => {
    const t = await bootTest();
    const e = await t.m.run(SGA, ['--size-mib', '8', '--clients', '3']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0);
    // 8 MiB of 4 KiB pages: 16 KiB of PTEs per client with the memfd, one fault per
    // fault-around window of 16 pages; with mshare a single linking fault per client.
    expect(text).toMatch(/^MAP_SHARED of a memfd +16\.0 KiB +48\.0 KiB +16\.0 KiB +384 /m);
    expect(text).toMatch(/^mshare +\S+ KiB +0 B +0 B +3 /m);
    expect(text).toContain('3/3 clients attached and done');
    await t.finish();
  });
});

const REFPAGE = fileURLToPath(new URL('../../examples/refpage.ts', import.meta.url));

describe('examples/refpage.ts', () => {
  it('refpage allocates a frame per touched page, memset one per page of the mapping', async () => {
    const t = await bootTest();
    const e = await t.m.run(REFPAGE, ['--iterations', '3']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0);
    // frames/iter and faults/iter per touch size (1000 pages mapped; one page-table page).
    const rows = [...text.matchAll(/^ +(\d+) +(memset|refpage) +[\d.]+ +([\d.]+) +([\d.]+) /gm)].map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
    expect(rows).toEqual([
      '4096 memset 1001.0 1000.0', '4096 refpage 2.0 1.0',
      '2048000 memset 1001.0 1000.0', '2048000 refpage 501.0 500.0',
      '4096000 memset 1001.0 1000.0', '4096000 refpage 1001.0 1000.0',
    ]);
    await t.finish();
  });
});
