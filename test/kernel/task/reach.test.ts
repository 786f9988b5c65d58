// A guest does not come upon the physical-memory or control-block buffers by accident
// (issue 19 item 7): the CPU runtime drops them from workerData once its MMU holds them, and
// the CPU object the userland API needs is a non-enumerable property of the global object.
// Code that asks for it by name still reaches them: the README's threat model says so, and
// the second walk below finds exactly that route.
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

it('finds no shared buffer through enumerable properties of workerData, the globals or the userland exports', async () => {
  const e = await t.run([], GUEST);
  expect(e.exitCode, e.text).toBe(0);
  const [enumerable, full] = e.text.split('\n');
  expect(enumerable).toBe('enumerable walk: []');
  // Every own property, hidden ones too: only through the CPU object (Symbol.for('ptlab.cpu')).
  const paths = /^full walk: \[(.*)\]$/.exec(full)![1].split(', ');
  expect(paths.length).toBeGreaterThan(0);
  for (const p of paths) expect(p.startsWith('globalThis[Symbol(ptlab.cpu)]['), full).toBe(true);
  expect(paths).toContain('globalThis[Symbol(ptlab.cpu)][cb][buffer]');
  await t.noLeak();
});
