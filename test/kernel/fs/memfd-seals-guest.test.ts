// memfd seals from a guest program (test/guests/seals.ts) through ptlab/userland's
// memfdCreate, addSeals and getSeals; the answers are the host kernel's for the same calls
// (the same sequence as test/kernel/fs/memfd-seals.test.ts's F_SEAL_FUTURE_WRITE case).
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { bootTest } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/seals.ts', import.meta.url));

it('a guest seals its memfd against future writes and keeps writing through its own mapping', async () => {
  const t = await bootTest({ validate: true });
  const e = await t.m.run(GUEST, []);
  const text = t.out.get(e.pid) ?? '';
  expect(e.exitCode, `${e.report} ${text}`).toBe(0);
  expect(text.trim().split('\n')).toEqual([
    'seals 0 write-seal EBUSY',
    'seals 18 stored 42 pwrite EPERM shrink EPERM',
    'new writable EPERM private ok',
    'mprotect EACCES',
    // SEGV_ACCERR, as Linux gives for a write to a VMA without VM_WRITE: read-only for good.
    'SIGSEGV at page 0 code 2',
  ]);
  await t.finish();
});
