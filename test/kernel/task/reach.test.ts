// A guest does not come upon the physical-memory or control-block buffers in workerData or
// the global object (issue 19 item 7): the CPU runtime drops them once its MMU holds them.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/reach.ts', import.meta.url));

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest();
});
afterAll(async () => {
  await t.finish();
});

it('finds no shared buffer in workerData or among the globals', async () => {
  const e = await t.run([], GUEST);
  expect(e.exitCode, e.text).toBe(0);
  expect(e.text).toMatch(/^workerData keys \d+, shared in workerData \[\], shared in globals \[\]\n$/);
  await t.noLeak();
});
