// The README's recipes (shared memory between processes, threads, counters(), refpage, soft-dirty) are the
// files test/guests/recipe-*.ts word for word (after their first line), and they run.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bootTest, type TestMachine } from '../harness/machine.ts';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const guest = (name: string) => fileURLToPath(new URL(`../guests/recipe-${name}.ts`, import.meta.url));

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest({ memBytes: 256 << 20 });
});
afterAll(async () => {
  await t.finish();
});

for (const name of ['shm', 'threads', 'counters', 'refpage', 'dirty']) {
  it(`recipe ${name}: in the README verbatim, and it runs to exit 0 with every frame back`, async () => {
    const code = readFileSync(guest(name), 'utf8').split('\n').slice(1).join('\n');
    expect(README).toContain(`\`\`\`ts\n${code}\`\`\``);
    const e = await t.run([], guest(name));
    expect(e.exitCode, `${e.report} ${e.text}`).toBe(0);
    const info = await t.settled(false);
    expect(info.nrFree).toBe(info.bootFree);
  }, 60_000);
}
