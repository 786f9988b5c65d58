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
