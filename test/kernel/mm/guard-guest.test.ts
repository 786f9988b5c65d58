// Guard regions from a guest: the CPU's own loads and stores meet the markers through the
// emulated MMU (test/guests/guard.ts). The expected lines are what the same program in C
// printed on the project host (Linux 6.18.44; /tmp/guard/guest_equiv.c).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bootTest } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/guard.ts', import.meta.url));

describe('guard regions from a guest', () => {
  it('SIGSEGV (SEGV_MAPERR) on loads and stores after an install, with the pages in the TLB before it; no leak at exit', async () => {
    const t = await bootTest({ validate: true, softDirty: false });
    const e = await t.m.run(GUEST, []);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, `${e.report} ${text}`).toBe(0);
    expect(text.trim().split('\n')).toEqual([
      'install 0 segv 1/segv 1 next ok/ok pagemap 44000000',
      'remove 0 ok/ok value 0 kept 67',
      'range 0 segv 1/segv 1 segv 1/segv 1 segv 1/segv 1 ok/ok',
      'dontneed 0 segv 1/segv 1 ok/ok mprotect 0 segv 1 segv 2',
      'populate -14 0 mlock -12 -22',
      'mremap segv 1/segv 1 ok/ok munmap 0 remap ok/ok',
      'shared 0 segv 1/segv 1 0 value 7',
    ]);
    await t.noLeak();
    await t.finish();
  });
});
