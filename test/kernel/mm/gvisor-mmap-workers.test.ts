// gVisor's mmap.cc death tests on real workers (guests: test/guests/gvisor-mmap.ts): a guest
// access that must kill its process, run in a forked child as EXPECT_EXIT does, and the
// signal the parent's wait4 reports. The host kernel (Linux 6.18) answered the same sequences
// (small C programs forking a child per access): the signals below, si_codes SEGV_ACCERR 2
// and SEGV_MAPERR 1, and no signal for the accesses before EOF or in its page. NoProtExecDeath
// cannot run here (guest code is JavaScript); gvisor-mmap.test.ts checks its fetch fault.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEGV_ACCERR, SEGV_MAPERR } from '../../../kernel/uapi.ts';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/gvisor-mmap.ts', import.meta.url));

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest({ validate: true });
});
afterAll(async () => {
  await t.finish();
});

/** Run a scenario of the guest: the lines it printed. */
async function run(scenario: string): Promise<string[]> {
  const e = await t.run([scenario], GUEST);
  expect(e.report).toBe('');
  expect(e.exitCode).toBe(0);
  await t.noLeak();
  return e.text.split('\n').filter((l) => l !== '');
}

describe('gVisor mmap.cc death tests on real workers', () => {
  it('MapDevZeroSegfaultAfterUnmap, ProtNoneDeath, ReadOnlyDeath, MprotectReadOnlyDeath: killed by SIGSEGV', async () => {
    expect(await run('anonDeaths')).toEqual([
      'MapDevZeroSegfaultAfterUnmap SIGSEGV', 'ProtNoneDeath SIGSEGV', 'ReadOnlyDeath SIGSEGV',
      'MprotectReadOnlyDeath SIGSEGV (value 42)',
    ]);
  });

  it('MprotectProtNone, UnmappedIsMapErr, WriteReadOnlyIsAccErr: the si_code a SIGSEGV handler gets', async () => {
    expect(await run('siCodes')).toEqual([
      `MprotectProtNone ${SEGV_ACCERR}`, `UnmappedIsMapErr ${SEGV_MAPERR} ${SEGV_MAPERR}`, `WriteReadOnlyIsAccErr ${SEGV_ACCERR}`,
    ]);
  });

  it('SigBusDeath, NoSigBusOnPagesBeforeEOF, NoSigBusOnPageContainingEOF: only the page past EOF kills, for every prot and type', async () => {
    const lines = ['R', 'W', 'RW'].flatMap((p) => ['shared', 'private'].map((type) => `${p} ${type}: before-EOF exit 0, EOF-page exit 0, past SIGBUS`));
    expect(await run('fileSigbus')).toEqual(lines);
  });

  it('MapOffsetBeyondEnd, ReadSharedTruncateSIGBUS, WriteSharedTruncateSIGBUS, TruncateAfterCOWBreak: killed by SIGBUS', async () => {
    expect(await run('truncation')).toEqual([
      'MapOffsetBeyondEnd SIGBUS', 'ReadSharedTruncate before a', 'ReadSharedTruncateSIGBUS SIGBUS', 'WriteSharedTruncateSIGBUS SIGBUS',
      'TruncateAfterCOWBreak SIGBUS',
    ]);
  });
});
