// Forged requests from real workers (issue 19 item 5; the kernel side in
// test/kernel/forged.test.ts): a guest writes its own CPU slot (test/guests/forge.ts) and is
// killed with SIGSYS and a report; a bystander process keeps its memory and runs on; the
// kernel goes on and no frame leaks.
import { BroadcastChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as U from '../../../kernel/uapi.ts';
import { bootTest, type TestMachine } from '../../harness/machine.ts';

const GUEST = fileURLToPath(new URL('../../guests/forge.ts', import.meta.url));

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest();
});
afterAll(async () => {
  await t.finish();
});

it('kills each forger with SIGSYS and a report; the bystander and the kernel go on', async () => {
  const ch = new BroadcastChannel('forge-workers');
  const ready = new Promise<void>((resolve) => {
    ch.onmessage = (ev: unknown) => {
      if ((ev as { data: unknown }).data === 'ready') resolve();
    };
  });
  const by = t.m.waitExit(await t.m.spawn(GUEST, ['bystander', 'forge-workers']));
  await ready;
  const fields: Record<string, RegExp> = {
    req: /CPU_REQ = 99 \(no request code\)/,
    nr: /CPU_SYSNO = -7 \(a negative syscall number\)/,
    code: /CPU_SYSNO = 0x100000 \(page fault error code bits outside 0x1001f\)/,
    va: /CPU_ARGS\[0\] = NaN \(page fault address/,
  };
  for (const [kind, field] of Object.entries(fields)) {
    const e = await t.run([kind], GUEST);
    expect(e.signal, `${kind}: ${e.report} ${e.text}`).toBe(U.SIGSYS);
    expect(e.report).toMatch(new RegExp(`^Bad system call: forged request from pid ${e.pid} tid ${e.pid} on CPU \\d+: ${field.source}`));
    expect(e.text).toBe('');
    expect(t.kernelLog.some((l) => l.includes(`forged request from pid ${e.pid} `))).toBe(true);
  }
  const args = await t.run(['args'], GUEST);
  expect(args.exitCode).toBe(0);
  expect(args.text).toBe(`mmap(NaN x6) = ${-U.EINVAL}\nstill running\n`);
  ch.postMessage('stop');
  const b = await by;
  ch.close();
  expect(b.exitCode).toBe(0);
  expect(t.out.get(b.pid)).toBe('bystander read 0x5eed\n');
  await t.noLeak();
}, 120_000);
