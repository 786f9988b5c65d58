// The syscall fuzzer (tools/fuzz): it covers the kernel's whole table, its lists are
// deterministic, a short fixed-seed run finds no crash, hang or leak, a reproducer replays,
// and delta debugging finds what a failure needs.
import { describe, expect, it, vi } from 'vitest';
import { SYSCALLS } from '../../kernel/syscalls/table.ts';
import { type FuzzConfig, main, planOf } from '../../tools/fuzz/cli.ts';
import { ddmin, replay, type Repro } from '../../tools/fuzz/minimize.ts';
import { runJobs } from '../../tools/fuzz/run.ts';
import { generate, RECIPES } from '../../tools/fuzz/specs.ts';

describe('fuzz: the command line', () => {
  it('--help prints the usage and exits 0; an unknown option prints it on stderr and exits 2, without a stack trace', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--help'])).toBe(0);
      expect(String(out.mock.calls[0]?.[0])).toMatch(/^usage: npm run fuzz -- .*--validate N/s);
      expect(await main(['--no-such-option'])).toBe(2);
      expect(String(err.mock.calls[0]?.[0])).toMatch(/^fuzz: Unknown option '--no-such-option'\nusage:/);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});

describe('fuzz: the generator', () => {
  it('has a recipe for every system call in the table, and none for a call not in it', () => {
    expect(Object.keys(RECIPES).sort()).toEqual(SYSCALLS.map((s) => s.name).sort());
  });

  it('gives the same list for the same seed, process and thread, another for another', () => {
    const a = generate(5, 1, 0, 500, 100);
    expect(generate(5, 1, 0, 500, 100)).toEqual(a);
    expect(generate(5, 1, 1, 500, 100)).not.toEqual(a);
    expect(generate(6, 1, 0, 500, 100)).not.toEqual(a);
  });

  it('reaches every call of the table within a few thousand calls', () => {
    const seen = new Set(generate(1, 0, 0, 5000, 100).map((c) => c.c));
    for (const s of SYSCALLS) expect(seen, s.name).toContain(s.name);
  });
});

describe('fuzz: a short fixed-seed run', () => {
  it('no kernel crash, no oops, no hang, no leaked frame; every result counted', async () => {
    const c: FuzzConfig = {
      seed: 1, calls: 1500, procs: 3, threads: 2, perProc: 600, watchdogMs: 50_000,
      machine: { memBytes: 64 << 20, swapBytes: 32 << 20, validate: 25 },
    };
    const res = await runJobs(c.machine, { gen: planOf(c) }, { concurrency: c.procs, watchdogMs: c.watchdogMs, capMs: 2 * c.watchdogMs });
    expect(res.failure, JSON.stringify(res.failure)).toBeNull();
    expect(res.guestErrors).toEqual([]);
    expect(res.calls).toBeGreaterThanOrEqual(c.calls);
    const results = Object.values(res.tally).flatMap((by) => Object.keys(by));
    expect(results.filter((k) => !/^(ok|E[A-Z0-9]+|SIG[A-Z0-9]+|ended|fault|skipped)$/.test(k))).toEqual([]);
    // Every kind of call has its time in the profile, and the host's share was measured.
    expect(Object.keys(res.profile.calls).sort()).toEqual(Object.keys(res.tally).filter((k) => Object.keys(res.tally[k]).some((r) => r !== 'ended' && !r.startsWith('SIG'))).sort());
    expect(res.profile.spawns).toBeGreaterThan(0);
  }, 240_000);
});

describe('fuzz: reproducers', () => {
  it('a hand-written reproducer replays its calls', async () => {
    const r: Repro = {
      ptlabFuzzRepro: 1, seed: null, kind: 'crash', detail: 'none', watchdogMs: 30_000, machine: { memBytes: 32 << 20, swapBytes: 0, validate: 1 },
      procs: [{
        proc: 0,
        threads: [[
          { i: 0, c: 'mmap', a: [0, 8 * 4096, 3, 0x22, -1, 0] },
          { i: 1, c: '@touch', a: [{ m: 0, o: 0 }, 8 * 4096, 1] },
          { i: 2, c: 'mprotect', a: [{ m: 0, o: 4096 }, 4096, 1] },
          { i: 3, c: 'munmap', a: [{ m: 0, o: 0 }, 2 ** 64] },
          { i: 4, c: 'open', a: [{ s: '/proc/self/maps' }, 0, 0] },
          { i: 5, c: 'read', a: [{ fd: 0 }, { b: 4096 }, 4096] },
        ]],
      }],
    };
    const res = await replay(r);
    expect(res.failure, JSON.stringify(res.failure)).toBeNull();
    expect(res.cutShort).toBeUndefined();
    expect(res.tally).toEqual({
      mmap: { ok: 1 }, '@touch': { ok: 1 }, mprotect: { ok: 1 }, munmap: { EINVAL: 1 }, open: { ok: 1 }, read: { ok: 1 },
    });
    // With no time left (the minimizer's budget spent), the replay is stopped, not failed.
    const stopped = await replay(r, true, 0);
    expect(stopped.cutShort).toBe(true);
    expect(stopped.failure).toBeNull();
    expect(stopped.tally).toEqual({});
  });

  it('ddmin keeps just what the failure needs', async () => {
    const items = Array.from({ length: 40 }, (_, i) => i);
    let tests = 0;
    const kept = await ddmin(items, async (xs) => {
      tests++;
      return xs.includes(7) && xs.includes(31);
    }, Date.now() + 10_000);
    expect(kept.sort((a, b) => a - b)).toEqual([7, 31]);
    expect(tests).toBeLessThan(100);
  });
});
