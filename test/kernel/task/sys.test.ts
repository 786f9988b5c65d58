// kernel/task/sys.ts: resource limits and prctl as the fuzzer found them wanting.
import { expect, it } from 'vitest';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
/** sysctl fs.nr_open's default (1024 * 1024): the most RLIMIT_NOFILE may be. */
const NR_OPEN = 1 << 20;

it('RLIMIT_NOFILE above nr_open is EPERM even with CAP_SYS_RESOURCE, so dup2 cannot grow the table to 2^31 (fuzz seed 7)', () => {
  // The fuzzer's seed 7 raised RLIMIT_NOFILE to 2^63 and dup2'd to 2^31 - 1: the descriptor
  // table grew an array to that length and V8 aborted the whole host process.
  const h = new KernelHarness({ memBytes: 16 << 20 });
  const t = h.spawn();
  const buf = h.call(t, U.SYS_mmap, 0, P, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const setNofile = (soft: bigint, hard: bigint): number => {
    copyToUser(h.k, t.proc.mm, buf, new Uint8Array(new BigUint64Array([soft, hard]).buffer), -1);
    return h.call(t, U.SYS_setrlimit, U.RLIMIT_NOFILE, buf);
  };
  expect(setNofile(2n ** 63n, 2n ** 63n)).toBe(-U.EPERM);
  expect(setNofile(2n ** 64n - 1n, 2n ** 64n - 1n)).toBe(-U.EPERM);
  expect(h.call(t, U.SYS_prlimit64, 0, U.RLIMIT_NOFILE, buf, 0)).toBe(-U.EPERM);
  expect(setNofile(BigInt(NR_OPEN) + 1n, BigInt(NR_OPEN) + 1n)).toBe(-U.EPERM);
  expect(setNofile(BigInt(NR_OPEN), BigInt(NR_OPEN))).toBe(0);
  expect(h.call(t, U.SYS_dup2, 1, 2 ** 31 - 1)).toBe(-U.EBADF);
  expect(h.call(t, U.SYS_dup2, 1, NR_OPEN - 1)).toBe(NR_OPEN - 1);
  expect(h.call(t, U.SYS_close, NR_OPEN - 1)).toBe(0);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});
