// Reclaim on real workers: processes and threads that together write more memory than the
// machine has, while kswapd and direct reclaim swap it out and faults read it back (guest
// test/guests/reclaim.ts). Every word read back must be the word written.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/reclaim.ts', import.meta.url));

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest({ memBytes: 32 << 20, swapBytes: 128 << 20, validate: true });
});
afterAll(async () => {
  await t.finish();
});

describe('reclaim on real workers', () => {
  it('three processes of two threads write 36 MiB on a 32 MiB machine: every word reads back, nothing leaks', async () => {
    const e = await t.run(['3', '2', '1536', '2'], GUEST);
    const text = e.text;
    expect(e.report).toBe('');
    expect(e.exitCode, text).toBe(0);
    const m = /bad (\d+) pswpout (\d+) pswpin (\d+) pgmajfault (\d+)/.exec(text);
    expect(m, text).not.toBeNull();
    expect(Number(m![1])).toBe(0);
    expect(Number(m![2])).toBeGreaterThan(1000);
    expect(Number(m![3])).toBeGreaterThan(0);
    expect(Number(m![4])).toBeGreaterThan(0);
    await t.noLeak();
  }, 120_000);
});
