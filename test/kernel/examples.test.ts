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
