// The OOM killer on real workers: guests in test/guests/oom.ts. A child writes a lot of
// memory and idles; its parent then writes more than is left. The kernel log reaches the
// test through the host (Machine.kernelLog).
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGKILL } from '../../../kernel/uapi.ts';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/oom.ts', import.meta.url));

let t: TestMachine;
/** Lines the machine's klog option received (besides kernelLog). */
const received: string[] = [];
beforeAll(async () => {
  t = await bootTest({ memBytes: 64 << 20, klog: (line) => received.push(line) });
});
afterAll(async () => {
  await t.finish();
});

const run = (argv: string[]) => t.run(argv, GUEST);
const noLeak = () => t.noLeak();

/** The pids HOG and SHARER the guest printed. */
function pids(text: string): { hog: number; sharer: number } {
  const m = /HOG (\d+) SHARER (\d+)/.exec(text);
  if (m === null) throw new Error(`no HOG line in ${JSON.stringify(text)}`);
  return { hog: Number(m[1]), sharer: Number(m[2]) };
}

describe('the OOM killer on real workers', () => {
  it('kills the process holding the most memory; the one that ran out goes on, and so does the machine', async () => {
    const from = t.kernelLog.length;
    const e = await run(['hog', '36', '40']);
    expect(e.report).toBe('');
    expect(e.exitCode).toBe(0);
    const { hog } = pids(e.text);
    expect(e.text).toContain(`DONE signal ${SIGKILL} exit null oom_kill +1\n`);
    const victim = await t.m.waitExit(hog);
    expect(victim.signal).toBe(SIGKILL);
    expect(victim.report).toMatch(/^Killed by the OOM killer \(out of memory\): total-vm:\d+kB, anon-rss:\d+kB, file-rss:0kB, /);
    // The kernel log, in Linux's words, as the host received it.
    const log = t.kernelLog.slice(from);
    expect(log[0]).toMatch(/^oom invoked oom-killer: gfp_mask=0x140cca\(GFP_HIGHUSER_MOVABLE\|__GFP_COMP\), order=0, oom_score_adj=0$/);
    expect(log).toContain(`oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=oom,pid=${hog},uid=0`);
    expect(log.find((l) => l.startsWith('Out of memory: Killed process'))).toMatch(new RegExp(`^Out of memory: Killed process ${hog} \\(oom\\) total-vm:\\d+kB, anon-rss:(\\d+)kB, `));
    // What the reaper leaves: the page of shared memory (the parent still maps it).
    expect(log).toContain(`oom_reaper: reaped process ${hog} (oom), now anon-rss:0kB, file-rss:0kB, shmem-rss:4kB`);
    expect(received.slice(from)).toEqual(log);
    await noLeak();
    // The machine goes on: another program runs as usual.
    const after = await t.run(['ids']);
    expect(after.exitCode).toBe(0);
    await noLeak();
  }, 120_000);

  it('oom_score_adj -1000 spares the biggest process: the one that ran out is killed instead', async () => {
    const from = t.kernelLog.length;
    const e = await run(['hog', '36', '40', '-1000']);
    expect(e.signal).toBe(SIGKILL);
    expect(e.report).toMatch(/^Killed by the OOM killer/);
    const { hog } = pids(e.text);
    // Spared, it idles until it finds itself orphaned, then exits.
    const spared = await t.m.waitExit(hog);
    expect(spared.exitCode).toBe(0);
    expect(t.kernelLog.slice(from).filter((l) => l.startsWith('Out of memory: Killed process'))).toHaveLength(1);
    expect(t.kernelLog.slice(from)).toContain(`oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=oom,pid=${e.pid},uid=0`);
    await noLeak();
  }, 120_000);

  it('kills the processes that share the victim\'s memory (CLONE_VM) with it', async () => {
    const e = await run(['hog', '36', '40', '0', 'sharer']);
    expect(e.exitCode).toBe(0);
    const { hog, sharer } = pids(e.text);
    expect(sharer).toBeGreaterThan(hog);
    const [h, s] = await Promise.all([t.m.waitExit(hog), t.m.waitExit(sharer)]);
    expect(h.signal).toBe(SIGKILL);
    expect(s.signal).toBe(SIGKILL);
    // Equal scores (one mm): the later process is the victim, the other dies as its sharer.
    expect(s.report).toMatch(/^Killed by the OOM killer \(out of memory\): total-vm:/);
    expect(h.report).toBe(`Killed by the OOM killer (out of memory): it shares the address space of process ${sharer} (oom), the victim`);
    expect(e.text).toContain(`DONE signal ${SIGKILL} exit null oom_kill +1\n`);
    await noLeak();
  }, 120_000);

  it('/proc/self/oom_score_adj: values, EINVAL, EACCES without CAP_SYS_RESOURCE, inherited by a child', async () => {
    const e = await run(['procFiles']);
    expect(e.exitCode, e.report).toBe(0);
    expect(e.text).toBe('PROC 0 EINVAL EINVAL ok 300 ok EACCES EACCES 0 EACCES 0 true ok\nCHILD 500\n');
    await noLeak();
  });
});
