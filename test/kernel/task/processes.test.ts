import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEGV_ACCERR, SEGV_MAPERR, SIGABRT, SIGKILL, SIGSEGV, SIGTERM } from '../../../kernel/uapi.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const THROWLATER = fileURLToPath(new URL('../../guests/throwlater.ts', import.meta.url));
const SCENARIOS = fileURLToPath(new URL('../../guests/scenarios.ts', import.meta.url));

/** "scenarios.ts:LINE:" of the line of scenarios.ts that contains `text`. */
function scenariosLine(text: string): string {
  return `${SCENARIOS}:${readFileSync(SCENARIOS, 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1}:`;
}

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest();
});
afterAll(async () => {
  await t.finish();
});

async function noLeak(): Promise<void> {
  const info = await t.settled(false);
  expect(info.nrFree).toBe(info.bootFree);
}

describe('processes on real workers', () => {
  it('passes argv, returns the exit status and reports ids', async () => {
    const e = await t.run(['ids']);
    expect(e.exitCode).toBe(0);
    expect(e.text).toBe(`IDS ${e.pid} 0 ${e.pid}\n`);
    expect((await t.run(['exit3'])).exitCode).toBe(3);
    await noLeak();
  });

  it('touch, munmap, touch again: SIGSEGV with the address and SEGV_MAPERR', async () => {
    const e = await t.run(['touchAndUnmapThenTouch']);
    const addr = Number(/ADDR (\d+)/.exec(e.text)?.[1]);
    expect(e.signal).toBe(SIGSEGV);
    // The report's first line, then the guest's frames (ptlab's userland load32 first, then
    // the access's own line).
    const [line] = e.report.split('\n');
    expect(line).toBe(`Segmentation fault at 0x${addr.toString(16)} (SEGV_MAPERR)`);
    expect(e.report).toContain(`\n    at touchAndUnmapThenTouch (${scenariosLine('// SIGSEGV, SEGV_MAPERR')}`);
    void SEGV_MAPERR;
    await noLeak();
  });

  it('mprotect read-only, then a write: SEGV_ACCERR', async () => {
    const e = await t.run(['writeReadOnly']);
    const m = /ADDR (\d+) READ (\d+)/.exec(e.text);
    expect(m?.[2]).toBe('1');
    expect(e.signal).toBe(SIGSEGV);
    const [line] = e.report.split('\n');
    expect(line).toBe(`Segmentation fault at 0x${Number(m?.[1]).toString(16)} (SEGV_ACCERR)`);
    expect(e.report).toContain(`\n    at writeReadOnly (${scenariosLine('// SIGSEGV, SEGV_ACCERR')}`);
    void SEGV_ACCERR;
    await noLeak();
  });

  it('reading a fresh anonymous mapping allocates no frame (the zero page)', async () => {
    const e = await t.run(['readZero']);
    expect(e.exitCode).toBe(0);
    expect(e.counters.page_faults).toBeGreaterThanOrEqual(1000);
    // 1000 pages read; only the tables and nothing else: RSS stays at 0.
    expect(e.hiwaterRss).toBe(0);
    await noLeak();
  });

  it('runs a SIGSEGV handler: throwing escapes, returning retries the access', async () => {
    const e = await t.run(['handled']);
    const m = /CAUGHT escape signo=(\d+) code=(\d+) addr=(\d+) expect=(\d+)/.exec(e.text);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBe(SIGSEGV);
    expect(Number(m?.[2])).toBe(SEGV_ACCERR);
    expect(m?.[3]).toBe(m?.[4]);
    expect(e.text).toContain('RETRIED calls=1 value=9');
    expect(e.exitCode).toBe(0);
  });

  it('kills a process whose guest code throws, with SIGABRT, and frees it', async () => {
    const e = await t.run(['throws']);
    expect(e.signal).toBe(SIGABRT);
    expect(e.text).toContain('uncaught Error: guest bug');
    expect((await t.run(['killself'])).signal).toBe(SIGKILL);
    await noLeak();
  });

  it('a throw from a timer callback or an unhandled rejection is SIGABRT too, its stack at the guest\'s own source line', async () => {
    for (const [how, message, line] of [['timer', 'thrown from a timer', 8], ['reject', 'rejected, unhandled', 7], ['now', 'thrown at once', 6]] as const) {
      const e = await t.run([how], THROWLATER);
      expect(e.signal, how).toBe(SIGABRT);
      expect(e.text, how).toContain(`uncaught Error: ${message}`);
      expect(e.text, how).toContain(`${THROWLATER}:${line}:`);
      expect(e.text, how).not.toContain('ptlab-bundles');
    }
    await noLeak();
  });

  it('waitpid: ECHILD without children, WNOHANG, death by SIGTERM and SIGKILL', async () => {
    const e = await t.run(['waitRules']);
    expect(e.text).toBe(`WAIT ECHILD 0 true ${SIGTERM} ${SIGKILL}\n`);
    await noLeak();
  });

  it('threads share the mm and return values through join; PROT_NONE keeps the page', async () => {
    const e = await t.run(['threads']);
    expect(e.text).toBe(`THREADS ${(49 * 50) / 2} ${(50 + 99) * 50 / 2} true\n`);
    expect(e.threads).toBe(3);
    expect((await t.run(['protNone'])).text).toBe('PROTNONE 77\n');
    await noLeak();
  });

  it('shoots down the TLB of a thread reading a page that another thread unmaps', async () => {
    const before = t.m.kernelCounters();
    const e = await t.run(['shootdown']);
    expect(e.text).toMatch(/^SHOOTDOWN faulted=1 addrok=1 bad=0 reads=\d+\n$/);
    const after = t.m.kernelCounters();
    expect(after.nr_tlb_remote_flush - before.nr_tlb_remote_flush).toBeGreaterThanOrEqual(1);
    expect(after.nr_tlb_remote_flush_received - before.nr_tlb_remote_flush_received).toBeGreaterThanOrEqual(1);
    expect(e.counters.irq_tlb_count).toBeGreaterThanOrEqual(1);
    await noLeak();
  });

  it('does not stall on a thread that computes without touching memory, and holds the freed frame', async () => {
    const before = t.m.kernelCounters();
    const e = await t.run(['busyShootdown']);
    expect(e.text).toBe('BUSY faulted=1 bad=0 returned=early\n');
    expect(t.m.kernelCounters().shootdown_timeouts - before.shootdown_timeouts).toBe(1);
    await noLeak();
  });

  it('kills a process spinning without memory accesses', async () => {
    expect((await t.run(['killSpinner'])).text).toBe(`SPINNER ${SIGKILL}\n`);
    await noLeak();
  });

  it('getrlimit and setrlimit: RLIMIT_DATA refuses a private writable mapping beyond it', async () => {
    const e = await t.run(['rlimits']);
    expect(e.text).toBe(`RLIMIT ${8 << 20} Infinity ${64 * 4096} Infinity ENOMEM EINVAL\n`);
  });

  it('64 processes started together, each mapping and touching memory, all reaped', async () => {
    const e = await t.run(['children', '64', '256']);
    expect(e.text).toBe(`CHILDREN 64 SUM ${Array.from({ length: 64 }, (_, i) => i % 7).reduce((a, b) => a + b)}\n`);
    expect(t.m.exits.filter((x) => x.ppid === e.pid)).toHaveLength(64);
    await noLeak();
  }, 120_000);

  it('RLIMIT_MEMLOCK binds once CAP_IPC_LOCK is dropped, with mlock, MAP_LOCKED and mlockall errnos; children inherit', async () => {
    const t = await bootTest();
    const r = await t.run(['memlock']);
    expect(r.exitCode, r.text).toBe(0);
    const want = (capeff: string) => [
      `capeff: ${capeff}`, 'mlock 2 pages: ok', 'again, overlapping: ok', '3 more: ENOMEM', 'MAP_LOCKED 1 page: EAGAIN',
      'MAP_LOCKED 2 pages: EAGAIN', 'mlockall current: ENOMEM', 'mlockall future: ok', 'mmap under MCL_FUTURE: EAGAIN',
      'raise hard: EPERM', 'limit 0 mlock: EPERM', 'limit 0 MAP_LOCKED: EPERM', 'munlock: ok',
    ];
    const caps = ((1n << 41n) - 1n) & ~(1n << 14n) & ~(1n << 24n);
    const all = [...t.out.values()].join('');
    expect(r.text).toBe(['root: ok', ...want(caps.toString(16).padStart(16, '0'))].join('\n') + '\n');
    expect(all).toContain(want(caps.toString(16).padStart(16, '0')).join('\n'));
    expect(all.split('capeff:').length).toBe(3); // the child ran the same checks
    await t.finish();
  });
});
