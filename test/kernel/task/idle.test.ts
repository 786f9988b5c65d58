// Idle CPUs (issue 19 item 6): a thread waiting in its event loop is marked CPU_IDLE, so
// shootdowns of its mm post to it without waiting (shootdown_idle_skips, no timeouts), and
// it takes them before its next access: woken, it faults on what was unmapped or made
// read-only meanwhile instead of using its stale TLB entries.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const IDLER = fileURLToPath(new URL('../../guests/idler.ts', import.meta.url));
const ROUNDS = 40;

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest();
});
afterAll(async () => {
  await t.finish();
});

describe('idle CPUs and shootdowns', () => {
  it('skips a thread awaiting timers; woken, it faults on the unmapped and the read-only page', async () => {
    const before = t.m.kernelCounters();
    const e = await t.run(['timer', String(ROUNDS), 'timer'], IDLER);
    expect(e.text).toBe('TIMER read=SEGV_MAPERR write=SEGV_ACCERR bad=0 ro=ok\n');
    expect(e.exitCode).toBe(0);
    const after = t.m.kernelCounters();
    expect(after.shootdown_timeouts - before.shootdown_timeouts).toBe(0);
    // Two shootdowns a round, then the munmap and the mprotect: every one found it idle (it
    // says it is ready only once idle, and touches no memory until told to go).
    expect(after.shootdown_idle_skips - before.shootdown_idle_skips).toBe(2 * ROUNDS + 2);
    expect(after.nr_tlb_remote_flush - before.nr_tlb_remote_flush).toBe(2 * ROUNDS + 2);
    expect(e.counters.irq_tlb_count).toBeGreaterThanOrEqual(1); // it took them on waking
    await t.noLeak();
  });

  it('skips a thread awaiting a message nobody sends, until exit_group ends it', async () => {
    const before = t.m.kernelCounters();
    const e = await t.run(['forever', String(ROUNDS), 'forever'], IDLER);
    expect(e.text).toBe('FOREVER bad=0\n');
    const after = t.m.kernelCounters();
    expect(after.shootdown_timeouts - before.shootdown_timeouts).toBe(0);
    expect(after.shootdown_idle_skips - before.shootdown_idle_skips).toBe(2 * ROUNDS);
    expect(after.nr_tlb_remote_flush - before.nr_tlb_remote_flush).toBe(2 * ROUNDS);
    await t.noLeak();
  });
});
