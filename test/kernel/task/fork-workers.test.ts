// fork and vfork on real workers: guests in test/guests/fork.ts.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/fork.ts', import.meta.url));

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest({ validate: true });
});
afterAll(async () => {
  await t.finish();
});

const run = (argv: string[]) => t.run(argv, GUEST);
const noLeak = () => t.noLeak();

describe('fork on real workers', () => {
  it('forks three generations: each sees its parent\'s data, writes its own, returns its status', async () => {
    const e = await run(['basic']);
    expect(e.report).toBe('');
    expect(e.exitCode).toBe(0);
    const pids = /pids (\d+) (\d+) (\d+)/.exec(e.text)!.slice(1).map(Number);
    expect(new Set(pids).size).toBe(3);
    expect(e.text).toContain('exit 0 parent 1000');
    // The children write to the descriptors they inherited: the parent's console.
    for (let d = 1; d <= 3; d++) expect(e.text).toContain(`depth ${d} pid ${pids[d - 1]} ppid ${d === 1 ? e.pid : pids[d - 2]}\n`);
    await noLeak();
  });

  it('vfork: the parent goes on once the child exited, and sees its writes', async () => {
    const e = await run(['vfork']);
    expect(e.exitCode, e.text).toBe(0);
    await noLeak();
  });

  it('a fork while another thread writes: every child sees a consistent snapshot, no parent write is lost', async () => {
    const e = await run(['race', '32', '12']);
    expect(e.text).toMatch(/^forks 12 bad 0 lost 0 /);
    expect(e.exitCode).toBe(0);
    await noLeak();
  });

  it('children killed, exiting and orphaned in any order leave no frame behind', async () => {
    const e = await run(['churn']);
    expect(e.exitCode, e.text).toBe(0);
    await noLeak();
  });

  it('a /dev/vbuf mapping is inherited as a shared file: the harvest finds the pages parent and child wrote', async () => {
    const e = await run(['vbuf']);
    expect(e.exitCode, e.report).toBe(0);
    // Pages 5 (the parent, after its first harvest) and 7 (the child): one PTE each, in two processes.
    expect(e.text).toBe('ptes 2 pages 2 bits 10100000 parent sees 77 exit 0\n');
    await noLeak();
  });
});
