// An exit's teardown in slices on a whole machine (kernel/mm/exit_mmap.ts, task/exit.ts):
// the exit is reported once the memory is back, other processes run meanwhile, and a halt
// that comes while a teardown is in progress stops the machine without a hang or a crash.

import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Machine } from '../../host/machine.ts';
import { bootTest } from '../harness/machine.ts';

const BIG = fileURLToPath(new URL('../guests/exit-big.ts', import.meta.url));

it('big exits beside other processes: every exit reported, every frame back', async () => {
  const t = await bootTest({ memBytes: 256 << 20, nrCpus: 8, slicePages: 16 });
  const runs = [t.run([String(2 ** 26)], BIG), t.run([String(2 ** 26)], BIG), t.run(['ids']), t.run(['children', '4', '16'])];
  const exits = await Promise.all(runs);
  expect(exits.map((e) => e.exitCode)).toEqual([0, 0, 0, 0]);
  expect(exits[0]!.text).toBe('written\n');
  await t.finish();
}, 60_000);

it('a halt while a big teardown is in progress stops the machine: no hang, no crash', async () => {
  let written: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (written = resolve));
  const m = await Machine.boot({
    memBytes: 320 << 20, nrCpus: 4, klog: false, slicePages: 1,
    output: (_pid, _fd, data) => {
      if (new TextDecoder().decode(data).includes('written')) written();
    },
  });
  await m.spawn(BIG, [String(2 ** 28)]);
  await ready;
  // The process returns right after it printed: the halt meets its teardown (or just misses it).
  await m.shutdown();
  expect(m.crashed).toBeNull();
}, 60_000);
