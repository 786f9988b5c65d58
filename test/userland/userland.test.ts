// ptlab/userland is complete: a wrapper for every system call in the kernel's table, every
// uapi constant exported with its value, and the helpers working from a guest
// (test/guests/userland.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SYSCALLS } from '../../kernel/syscalls/table.ts';
import * as uapi from '../../kernel/uapi.ts';
import * as userland from '../../userland/index.ts';
import { bootTest } from '../harness/machine.ts';

/** The wrapper of each system call whose name differs from the call's (libc's names, or ptlab's). */
const WRAPPER: Record<string, string> = {
  pread64: 'pread',
  pwrite64: 'pwrite',
  memfd_create: 'memfdCreate',
  pipe: 'pipe', // pipe() is pipe2(0)
  pipe2: 'pipe',
  refpage_create: 'refpageCreate',
  rt_sigaction: 'sigaction',
  sched_yield: 'schedYield',
  wait4: 'waitpid',
  exit_group: 'exitGroup',
  prlimit64: 'prlimit',
  ptlab_spawn: 'spawn',
  ptlab_thread_join: 'threadJoin',
  ptlab_report: 'report',
};

describe('ptlab/userland', () => {
  it('has a wrapper for every system call the kernel implements', () => {
    const exports = userland as unknown as Record<string, unknown>;
    const missing = SYSCALLS.map((s) => WRAPPER[s.name] ?? s.name).filter((w) => typeof exports[w] !== 'function');
    expect(missing).toEqual([]);
  });

  it('exports every uapi constant with its value', () => {
    const exports = userland as unknown as Record<string, unknown>;
    const differ = Object.entries(uapi).filter(([name, v]) => exports[name] !== v).map(([name]) => name);
    expect(differ).toEqual([]);
    expect(exports.MSHAREFS_CREATE_MAPPING).toBe(0x40287800);
    expect(exports.PAGEMAP_SCAN).toBe(0xc0606610);
  });

  it('a guest uses unsigned loads, view32, the mshare helpers across two processes, PAGEMAP_SCAN and the new wrappers', async () => {
    const t = await bootTest({ validate: true });
    const e = await t.m.run(fileURLToPath(new URL('../guests/userland.ts', import.meta.url)), []);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, `${e.report} ${text}`).toBe(0);
    expect(text.trim().split('\n')).toEqual([
      'load32 -2 load32u 4294967294 4294967294 load16 65534 load8 254',
      'load64 -2 unsigned 18446744073709551614',
      'view32 4294967295 4294967294 4294967293 4294967292; view32: index 4 outside [0, 4)',
      'create 4 KiB: ftruncate EINVAL: the region size must be a multiple of 512 GiB (549755813888), not 4096',
      'no MAP_FIXED: ioctl EINVAL: MAP_FIXED is required',
      'past the end: ioctl EINVAL: the mapping must lie in the region: regionOffset + size (549755817984) exceeds the region size (549755813888)',
      'map 4 KiB: mmap EINVAL: length must equal the region size (549755813888), not 4096',
      'map at 1 GiB: mmap EINVAL: address must be 512 GiB (549755813888) aligned, not 1073741824',
      // The forked child (it shares the parent's stdout) maps the region where the kernel finds room.
      'child sees 42 at a 512 GiB boundary: true',
      'child exit 0, parent sees 77',
      'scan 2-4:8 walkEnd 16',
      'mincore 00110',
      'dup3 40 1',
      'unlinkat dir 0 again unlinkat ENOENT: (no rule)',
      'prlimit 64 128 64 128 (was 2)',
      'sched_yield 0 tkill 0',
      'refpage 4030201',
      'vbuf destroyed twice: ioctl ENOENT: (no rule)',
    ]);
    await t.finish();
  });
});

describe("the README's mshare recipe", () => {
  const GUEST = fileURLToPath(new URL('../guests/mshare-readme.ts', import.meta.url));

  it('is test/guests/mshare-readme.ts, verbatim', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const code = readFileSync(GUEST, 'utf8').split('\n').slice(1).join('\n');
    expect(readme).toContain(`\`\`\`ts\n${code}\`\`\``);
  });

  it('runs: the child reads the parent\'s write through the region', async () => {
    const t = await bootTest({ validate: true });
    const e = await t.m.run(GUEST, []);
    expect(e.exitCode, `${e.report} ${[...t.out.values()].join('')}`).toBe(0);
    await t.finish();
  });
});
