// Every syscall with hostile arguments: non-integers, NaN, infinities, negative, huge and
// wrapping values, unmapped and kernel pointers, bad descriptors. Each must answer with an
// errno (or a sane success), never crash the kernel or leak a frame.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as U from '../../kernel/uapi.ts';
import { bootTest, type TestMachine } from '../harness/machine.ts';

let t: TestMachine;
beforeAll(async () => {
  t = await bootTest();
});
afterAll(async () => {
  await t.finish();
});

describe('hostile arguments', () => {
  it('get an errno from every syscall, and the machine survives', async () => {
    const e = await t.run(['hostile']);
    expect(e.exitCode, `${e.report} ${e.text.slice(0, 500)}`).toBe(0);
    const results = JSON.parse(/HOSTILE (.*)\n/.exec(e.text)?.[1] ?? '[]') as [string, (number | null)[], number][];
    expect(results.length).toBeGreaterThan(3000);
    const known = new Set(Object.keys(U.ERRNO_NAMES).map(Number));
    const byName = new Map<string, number[]>();
    for (const [name, args, r] of results) {
      expect(Number.isInteger(r), `${name}(${args}) = ${r}`).toBe(true);
      if (r < 0) expect(known.has(-r), `${name}(${args}) = ${r}`).toBe(true);
      else if (name === 'mmap') expect(r % 4096 === 0 && r >= U.MMAP_MIN_ADDR && r < U.TASK_SIZE, `mmap(${args}) = ${r}`).toBe(true);
      else if (name === 'unknown' || name === 'clone' || name === 'ptlab_spawn') expect.fail(`${name}(${args}) succeeded: ${r}`);
      else if (name === 'brk') expect(r, `brk(${args})`).toBeGreaterThan(0); // brk has no errno: it returns a break
      byName.set(name, [...(byName.get(name) ?? []), r]);
    }
    expect(new Set(byName.get('unknown'))).toEqual(new Set([-U.ENOSYS]));
    const find = (name: string, args: (number | null)[]) =>
      results.find(([n, a]) => n === name && JSON.stringify(a) === JSON.stringify(args))?.[2];
    expect(find('ptlab_thread_join', [e.pid])).toBe(-U.EDEADLK);
    expect(find('rt_sigaction', [U.SIGKILL, 1])).toBe(-U.EINVAL);
    expect(find('kill', [e.pid, 65])).toBe(-U.EINVAL);
    expect(find('kill', [e.pid, 0])).toBe(0);
    expect(find('mprotect', [0, 0, U.PROT_READ])).toBe(0);
    expect(find('munmap', [0.5, 1])).toBe(-U.EINVAL);
    expect(find('munmap', [1, 1])).toBe(-U.EINVAL);
    expect(find('mmap', [0, 0, 3, 34, -1, 0])).toBe(-U.EINVAL);
    expect(find('mmap', [0, 2 ** 47, 3, 34, -1, 0])).toBe(-U.ENOMEM);
    // refpage_create: a descriptor, or EINVAL (flags, size, alignment) or EFAULT (content).
    const refpages = results.filter(([n]) => n === 'refpage_create');
    expect(refpages.every(([, , r]) => r >= 0 || r === -U.EINVAL || r === -U.EFAULT)).toBe(true);
    expect(refpages.some(([, , r]) => r >= 0) && refpages.some(([, , r]) => r === -U.EFAULT)).toBe(true);
    expect(find('refpage_create', [0, 1, 0])).toBe(-U.EFAULT);
    expect(find('refpage_create', [1, 0, 0])).toBe(-U.EINVAL);
    // memfd_create with hostile names and flags (MFD_HUGETLB and size bits among them).
    const memfds = results.filter(([n]) => n === 'memfd_create');
    expect(memfds.every(([, , r]) => r >= 0 || r === -U.EINVAL || r === -U.EFAULT)).toBe(true);
    expect(memfds.some(([, , r]) => r >= 0) && memfds.some(([, , r]) => r === -U.EINVAL)).toBe(true);
    const clones = results.filter(([n]) => n === 'clone').map(([, , r]) => r);
    expect(clones.every((r) => r === -U.EINVAL || r === -U.EFAULT)).toBe(true);
    expect(clones).toContain(-U.EFAULT);
    const spawns = results.filter(([n]) => n === 'ptlab_spawn').map(([, , r]) => r);
    expect(new Set(spawns)).toEqual(new Set([-U.EFAULT, -U.EINVAL]));
    expect(results.filter(([n, a]) => n === 'write' && a[0] === 1 && a[1] === 0xdead_b000).every(([, a, r]) => r === (a[2] === 0 ? 0 : -U.EFAULT) || r === -U.EINVAL)).toBe(true);
  }, 60_000);

  it('spawn of a missing module is ENOENT, of a directory EACCES, in the parent; one that cannot be loaded ends with status 127; a relative path is from "/"; no path is EINVAL', async () => {
    const e = await t.run(['missingProgram']);
    expect(e.text).toBe('MISSING ENOENT EACCES 127 ENOENT 3 EINVAL\n');
  });
});

describe('inputs that once crashed the kernel thread', () => {
  it('(a) creating an mshare region with memory exhausted is ENOMEM', async () => {
    const small = await bootTest({ memBytes: 64 << 20, validate: true });
    const e = await small.run(['exhaustedMshareCreate']);
    expect(e.exitCode, e.report).toBe(0);
    expect(e.text).toMatch(/^MSHARE (ENOMEM ){4}free \d+\n$/);
    await small.finish();
  });

  it('(b) mincore of the whole address space is ENOMEM; a long range goes out a page at a time', async () => {
    const e = await t.run(['mincoreHuge']);
    expect(e.text).toBe(`MINCORE ${-U.ENOMEM} 0 ${-U.EFAULT} ones 20 right 20000\n`);
  });

  // The unit test in mm.test.ts holds 600,000 frames on the same path; this is the guest's view.
  it('(c) munmap of many pages while a sibling computes finishes, and every frame comes back', async () => {
    const big = await bootTest({ memBytes: 512 << 20 });
    const e = await big.run(['bigUnmapBusySibling', '60000']);
    expect(e.text).toBe('BIGUNMAP 0 joined 0\n');
    await big.finish();
  }, 120_000);
});

describe('the process limit', () => {
  it('refuses a spawn beyond --max-procs with EAGAIN, and recovers after the children exit', async () => {
    const small = await bootTest({ maxProcs: 3 });
    const e = await small.run(['procLimit']);
    expect(e.text).toBe('LIMIT 2 EAGAIN\n'); // the parent and two children
    expect((await small.run(['ids'])).exitCode).toBe(0);
    await small.finish();
  });
});

describe('a kernel bug', () => {
  it('fails loudly: waiting callers get the crash and the workers stop', async () => {
    const m = await bootTest();
    const pid = await m.m.spawn((await import('../harness/machine.ts')).SCENARIOS, ['pureSpin']);
    const exit = m.m.waitExit(pid);
    m.m.crashKernel();
    await expect(exit).rejects.toThrow(/kernel thread crashed: Error: sysrq: trigger a crash/);
    await expect(m.m.meminfo()).rejects.toThrow(/crashed/);
    await m.m.shutdown();
  });
});
