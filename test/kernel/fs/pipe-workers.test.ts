// Pipes between real guest processes and threads (test/guests/pipe.ts): blocking reads and
// writes across workers, end of file, SIGPIPE, PIPE_BUF atomicity with two writers, a
// blocked reader killed, exit_group with a blocked thread, O_NONBLOCK, inheritance by
// fork and spawn, close-on-exec; and the README's example (test/guests/pipe-readme.ts).
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/pipe.ts', import.meta.url));
const README = fileURLToPath(new URL('../../guests/pipe-readme.ts', import.meta.url));

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest({ validate: true });
});
afterAll(async () => {
  await t.finish();
});

const cases: [string, RegExp][] = [
  ['bulk', /^bulk read 1048576 bad 0 exit 0$/m],
  ['atomic', /^atomic A 200 B 600 torn 0 exits 0 0$/m],
  ['sigpipe', /^sigpipe signal 13, exit 7, signal 13$/m],
  ['kill', /^kill signal 9 then still$/m],
  ['threads', /^threads read 12 exit_group 5$/m],
  ['nonblock', /^nonblock ok EAGAIN wrote 65536 full EAGAIN$/m],
  ['spawn', /^spawn inherited 4, close-on-exec EBADF exit 0$/m],
];

for (const [name, want] of cases) {
  it(`${name}`, async () => {
    const e = await t.run([name], GUEST);
    expect(e.report, e.text).toBe('');
    expect(e.text).toMatch(want);
    expect(e.exitCode, e.text).toBe(0);
    await t.noLeak();
  });
}

it('the README example: a child writes, the parent reads until end of file', async () => {
  const e = await t.run([], README);
  expect(e.text).toBe('parent got: hello through a pipe\n');
  expect(e.exitCode).toBe(0);
  await t.noLeak();
});
