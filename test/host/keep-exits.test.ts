// MachineOptions.keepExits false: a host that runs processes for hours (the fuzzer, the
// soak) keeps no record of them beyond what it waits for.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Machine } from '../../host/machine.ts';

const SCENARIOS = fileURLToPath(new URL('../guests/scenarios.ts', import.meta.url));

it('keepExits false: no exit is kept, yet an exit that came before the wait is still delivered', async () => {
  const m = await Machine.boot({ memBytes: 64 << 20, keepExits: false, klog: false, output: () => {} });
  try {
    const parent = await m.run(SCENARIOS, ['children', '4', '16']);
    expect(parent.exitCode).toBe(0);
    // Spawned, then waited for only after it ended.
    const pid = await m.spawn(SCENARIOS, ['children', '1', '1']);
    while ((await m.meminfo()).procs > 0) await new Promise((r) => setTimeout(r, 20));
    const late = await m.waitExit(pid);
    expect(late.pid).toBe(pid);
    expect(late.exitCode).toBe(0);
    expect(m.exits).toEqual([]);
  } finally {
    await m.shutdown();
  }
}, 60_000);

it('keepExits default: every process, children too, is in Machine.exits', async () => {
  const m = await Machine.boot({ memBytes: 64 << 20, klog: false, output: () => {} });
  try {
    const parent = await m.run(SCENARIOS, ['children', '4', '16']);
    expect(m.exits.filter((e) => e.ppid === parent.pid)).toHaveLength(4);
    expect(m.exits.at(-1)?.pid).toBe(parent.pid);
  } finally {
    await m.shutdown();
  }
}, 60_000);
