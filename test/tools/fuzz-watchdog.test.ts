// The fuzz watchdog (tools/fuzz/watchdog.ts) tells a hang from a starved machine by
// progress: timelines played on the pure logic, and a real hang on a real machine.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runJobs, standing } from '../../tools/fuzz/run.ts';
import type { MachineState } from '../../host/machine.ts';
import { Watchdog } from '../../tools/fuzz/watchdog.ts';

const LIMIT = 60_000;
const CAP = 300_000;

describe('fuzz watchdog: timelines', () => {
  it('a kernel that answers nothing while its counters stand still hangs after the limit', () => {
    const wd = new Watchdog(LIMIT, CAP, 0);
    // Everyone sleeps: 1 ms of CPU a second (timers), under the 3% that counts as computing.
    wd.counters(0, 100, 0);
    wd.ping(0);
    for (let t = 0; t < LIMIT; t += 250) {
      wd.counters(t, 100, t / 1000);
      expect(wd.check(t, 0)).toBeNull();
    }
    wd.counters(LIMIT, 100, LIMIT / 1000);
    expect(wd.check(LIMIT, 0)?.detail).toMatch(/answered nothing for 60000 ms, and for 60000 ms its counters did not move and the machine computed nothing/);
  });

  it('a kernel that answers late while its counters move (shootdowns timing out on starved CPUs) is no hang until the cap', () => {
    const wd = new Watchdog(LIMIT, CAP, 0);
    wd.ping(0);
    let sig = 0;
    for (let t = 0; t < CAP; t += 250) {
      if (t % 1000 === 0) sig++;
      wd.counters(t, sig, 0);
      expect(wd.check(t, 0)).toBeNull();
    }
    wd.counters(CAP, sig + 1, 0);
    expect(wd.check(CAP, 0)?.detail).toMatch(/answered nothing for 300000 ms \(its counters moved or it computed/);
  });

  it('a kernel that answers late, counts nothing but computes (per-page work on a host that gives it a tenth of a core) is no hang until the cap', () => {
    const wd = new Watchdog(LIMIT, CAP, 0);
    wd.ping(0);
    for (let t = 0; t < CAP; t += 250) {
      wd.counters(t, 7, t / 10);
      expect(wd.check(t, 0)).toBeNull();
    }
    wd.counters(CAP, 7, CAP / 10);
    expect(wd.check(CAP, 0)?.detail).toMatch(/answered nothing for 300000 ms/);
  });

  it('a process waiting behind a busy kernel is not silent for the time the kernel was busy', () => {
    const wd = new Watchdog(LIMIT, CAP, 0);
    wd.report(1, 0, 0);
    wd.report(2, 0, 0);
    // The kernel is busy for 90 s (its counters move); process 2 reports now and then.
    wd.ping(0);
    for (let t = 0; t <= 90_000; t += 250) {
      wd.counters(t, t, 0);
      if (t % 10_000 === 0) wd.report(2, t, t / 100);
      expect(wd.check(t, t / 100)).toBeNull();
    }
    wd.answered(90_000);
    // 50 s later process 1 has been silent 140 s of wall time but only 50 s of kernel availability.
    wd.report(2, 140_000, 2000);
    expect(wd.check(140_000, 2000)).toBeNull();
    // At 60 s of availability it is a hang: the others made calls meanwhile.
    wd.report(2, 150_250, 2100);
    expect(wd.check(150_250, 2100)).toMatchObject({ proc: 1 });
  });

  it('a silent process while nobody makes calls (a starved host) is a hang only at the cap', () => {
    const wd = new Watchdog(LIMIT, CAP, 0);
    wd.report(1, 0, 500);
    for (let t = 0; t < CAP; t += 1000) {
      wd.ping(t);
      wd.answered(t + 10);
      expect(wd.check(t + 10, 500)).toBeNull();
    }
    expect(wd.check(CAP, 500)).toMatchObject({ proc: 1 });
  });

  it('a silent process whose call in slices keeps running slices (a huge populate) is no hang until the cap', () => {
    const wd = new Watchdog(LIMIT, CAP, 0);
    wd.report(1, 0, 500);
    let calls = 500;
    for (let t = 1000; t < CAP; t += 1000) {
      wd.ping(t);
      wd.answered(t + 10);
      calls += 10; // the others go on
      const v = wd.check(t + 10, calls);
      if (v !== null) {
        // Only past the limit, and then the kernel says its call runs slices.
        expect(t).toBeGreaterThanOrEqual(LIMIT);
        wd.inKernelCall(1, t + 10);
      }
    }
    expect(wd.check(CAP, calls)).toMatchObject({ proc: 1, detail: `fuzz process 1 reported no progress for ${CAP} ms` });
  });
});

describe('fuzz watchdog: a real hang', () => {
  const path = fileURLToPath(new URL('../guests/fuzz-blocked.ts', import.meta.url));

  it('a process blocked for good in wait4 is reported as a hang, pinned on it', async () => {
    const res = await runJobs({ memBytes: 32 << 20, swapBytes: 0, validate: 0 }, { list: [{ proc: 0, argv: ['wait'], path }] }, {
      concurrency: 1, watchdogMs: 1000, capMs: 3000, checkLeaks: false,
    });
    expect(res.failure?.kind).toBe('hang');
    expect(res.failure?.proc).toBe(0);
    expect(res.failure?.inflight.join('\n')).toMatch(/wait4\(/);
    expect(res.deadlocks).toEqual([]);
  }, 60_000);

  it('a process asleep for good in a read of its own pipe, as it would be on Linux, is no hang: the run ends it with SIGKILL and goes on', async () => {
    const res = await runJobs({ memBytes: 32 << 20, swapBytes: 0, validate: 0 }, { list: [{ proc: 0, argv: [], path }, { proc: 1, argv: ['child'] }] }, {
      concurrency: 1, watchdogMs: 1000, capMs: 3000, checkLeaks: false,
    });
    expect(res.failure).toBeNull();
    expect(res.deadlocks).toHaveLength(1);
    expect(res.deadlocks[0]).toMatch(/^fuzz process 0: state:S .*blocked in file I\/O \(pipe read: 0 bytes, 1 readers, 1 writers; Linux sleeps here too\): read\(0x3/);
    expect(res.ends).toEqual({ Killed: 1, 'exit 0': 1 }); // and the next job ran
  }, 60_000);
});

describe('fuzz watchdog: how a silent fuzz process stands', () => {
  /** A machine whose SysRq 't' gives `states` one after the other. */
  const machine = (...states: MachineState[]) => ({ showState: async () => states.shift() ?? states[0]! });
  const line = (pid: number, tgid: number, state = 'R') => `task:fz state:${state} pid:${pid} tgid:${tgid} ppid:0 cpu:3 guest code`;

  it('a child it forked (another pid, the parent gone) whose call runs slices is progress; one that ended is gone; a live one without slices is stuck', async () => {
    // The eighth million-call run's false hang: fuzz process 362's parent had exited, and
    // the host looked for slices only under the pid it had started.
    const running = (slices: number): MachineState => ({ lines: [line(4511, 4507)], sliced: [{ pid: 4507, tid: 4511, slices }] });
    expect(await standing(machine(running(6350), running(6351)), [4507])).toBe('slices');
    expect(await standing(machine(running(6350), running(6350)), [4507])).toBe('stuck');
    expect(await standing(machine({ lines: [line(4600, 4600)], sliced: [] }), [4507])).toBe('gone');
    expect(await standing(machine({ lines: ['task:fz state:Z pid:4507 tgid:4507 ppid:0'], sliced: [] }), [4507])).toBe('gone');
    expect(await standing(machine({ lines: [line(4510, 4507, 'D')], sliced: [] }), [4507])).toBe('stuck');
    // The eleventh run's stop: one thread reads the process's own empty pipe, another joins it.
    const reads = (woken: boolean) => `task:guest state:S pid:2746 tgid:2744 ppid:0 cpu:10 blocked in file I/O (pipe read: 0 bytes, 1 readers, 1 writers; ${woken ? 'Linux would have woken it' : 'Linux sleeps here too'}): read(0x5, 0x7ffff7f2c000, 0x40, 0x0, 0x0, 0x0)`;
    const joins = (tid: number, gone = false) => `task:guest state:S pid:2744 tgid:2744 ppid:0 cpu:7 blocked in joining thread ${tid} (${gone ? 'Linux would have woken it' : 'Linux sleeps here too'}): ptlab_thread_join(0xaba, 0x0, 0x0, 0x0, 0x0, 0x0)`;
    expect(await standing(machine({ lines: [joins(2746), reads(false)], sliced: [] }), [2744])).toBe('asleep');
    expect(await standing(machine({ lines: [joins(2746), reads(true)], sliced: [] }), [2744])).toBe('stuck'); // a missed wake-up
    expect(await standing(machine({ lines: [joins(2747, true), reads(false)], sliced: [] }), [2744])).toBe('stuck'); // joins a thread that is gone
    expect(await standing(machine({ lines: [joins(2747), reads(false)], sliced: [] }), [2744])).toBe('stuck'); // joins one that does not sleep
    // A thread name (prctl PR_SET_NAME: any 15 bytes) cannot pose as the fields.
    expect(await standing(machine({ lines: ['task:a state:Z  state:R pid:2750 tgid:2750 ppid:0 cpu:3 guest code'], sliced: [] }), [2750])).toBe('stuck');
    expect(await standing(machine({ lines: [joins(2746), reads(false).replace('task:guest', 'task: pid:2744 ')], sliced: [] }), [2744])).toBe('asleep');
    expect(await standing(machine({ lines: [joins(2748), reads(false), 'task: state:S pid:2748 state:R pid:2748 tgid:2744 ppid:0 cpu:3 guest code'], sliced: [] }), [2744])).toBe('stuck');
    expect(await standing(machine({ lines: [joins(2746), reads(false), line(2748, 2744, 'D')], sliced: [] }), [2744])).toBe('stuck');
    const waits = `task:guest state:S pid:2700 tgid:2700 ppid:0 cpu:5 blocked in wait4(-1) (Linux sleeps here too): wait4(0xffffffff, 0x0, 0x0, 0x0, 0x0, 0x0)`;
    expect(await standing(machine({ lines: [waits], sliced: [] }), [2700])).toBe('stuck');
    // A parent waiting for a forked child (the last pid that reported) that deadlocked itself.
    expect(await standing(machine({ lines: [waits, joins(2746), reads(false)], sliced: [] }), [2700, 2744])).toBe('asleep');
    expect(await standing(machine({ lines: [waits.replace('state:S', 'state:R'), joins(2746), reads(false)], sliced: [] }), [2700, 2744])).toBe('stuck');
    expect(await standing(machine({ lines: [waits.replace('sleeps here too', 'would have woken it'), joins(2746), reads(false)], sliced: [] }), [2700, 2744])).toBe('stuck'); // a zombie child not reaped
    expect(await standing(machine({ lines: [line(1, 4400), line(4511, 4507)], sliced: [{ pid: 4507, tid: 4511, slices: 1 }] }, { lines: [], sliced: [{ pid: 4507, tid: 4511, slices: 9 }] }), [4400, 4507])).toBe('slices');
  });
});

