// Integration-test harness: a machine whose guest output is captured per process.
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { Machine, type MachineOptions, type MemInfo, type ProcessExit } from '../../host/machine.ts';

export const SCENARIOS = fileURLToPath(new URL('../guests/scenarios.ts', import.meta.url));

export interface TestMachine {
  m: Machine;
  /** Everything written to fd 1 and 2, by pid. */
  out: Map<number, string>;
  /** The kernel log, line by line (Machine.kernelLog; not printed unless options.klog says so). */
  kernelLog: string[];
  /** Run `guest` (default: test/guests/scenarios.ts) with argv; its exit and its output. */
  run(argv: string[], guest?: string): Promise<ProcessExit & { text: string }>;
  /** Wait for the machine to settle and assert no frame or swap slot is left in use. */
  noLeak(): Promise<void>;
  /** Wait until every frame is free again (and, with `noProcs`, no process is left); the last meminfo. */
  settled(noProcs: boolean): Promise<MemInfo>;
  /** Assert every frame is free again, then shut down. */
  finish(): Promise<void>;
}

export async function bootTest(options: MachineOptions = {}): Promise<TestMachine> {
  const out = new Map<number, string>();
  const m = await Machine.boot({
    memBytes: 128 << 20,
    nrCpus: 96,
    klog: false,
    ...options,
    output: (pid, _fd, data) => out.set(pid, (out.get(pid) ?? '') + new TextDecoder().decode(data)),
  });
  const settled = async (noProcs: boolean): Promise<MemInfo> => {
    // Processes may still be tearing down after their exits were reported to a parent.
    let info = await m.meminfo();
    for (let i = 0; i < 50 && ((noProcs && info.procs > 0) || info.nrFree !== info.bootFree || info.swapUsed !== 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
      info = await m.meminfo();
    }
    return info;
  };
  return {
    m,
    out,
    kernelLog: m.kernelLog,
    settled,
    async run(argv, guest = SCENARIOS) {
      const e = await m.run(guest, argv);
      return { ...e, text: out.get(e.pid) ?? '' };
    },
    async noLeak() {
      const info = await settled(true);
      expect(info.nrFree, 'free frames back to the boot count').toBe(info.bootFree);
      expect(info.swapUsed, 'swap slots in use').toBe(0);
    },
    async finish() {
      const info = await settled(true);
      await m.shutdown();
      expect(info.procs, 'processes left').toBe(0);
      expect(info.nrFree, 'free frames back to the boot count').toBe(info.bootFree);
      expect(info.swapUsed, 'swap slots in use').toBe(0);
    },
  };
}
