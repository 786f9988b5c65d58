// read(2), write(2), pread64(2) and pwrite64(2) whose buffer runs into a page that cannot
// be read or written (PROT_NONE, unmapped, read-only) part way: the bytes before it are
// copied and counted, as copy_to_user's and copy_from_user's short counts make Linux's. The
// expected values are the host kernel's (Linux 6.18) answers to the same calls on a memfd,
// a tmpfs file opened O_APPEND and /proc/self/status (a C program, buffers as below).
import { expect, it } from 'vitest';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const errno = (r: number): number | string => (r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r);

/** A buffer of n bytes in t's memory. */
function mem(h: KernelHarness, t: Thread, n: number): number {
  return h.call(t, U.SYS_mmap, 0, Math.ceil(n / P) * P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
}

it('read and write of a file move the bytes before the fault and the position by them; none is EFAULT (host answers)', () => {
  const h = new KernelHarness({ memBytes: 16 << 20 });
  const t = h.spawn();
  const m = mem(h, t, 3 * P);
  expect(h.call(t, U.SYS_mprotect, m + P, P, U.PROT_NONE)).toBe(0);
  expect(h.call(t, U.SYS_munmap, m + 2 * P, P)).toBe(0);
  const edge = m + P - 100;
  copyToUser(h.k, t.proc.mm, m, new TextEncoder().encode('x\0'), -1);
  const f = h.call(t, U.SYS_memfd_create, m, 0);
  const g = h.call(t, U.SYS_memfd_create, m, 0);
  const data = mem(h, t, 10000);
  copyToUser(h.k, t.proc.mm, data, new Uint8Array(10000).fill(0x64), -1);
  expect(h.call(t, U.SYS_write, f, data, 10000)).toBe(10000);
  expect(h.call(t, U.SYS_lseek, f, 0, U.SEEK_SET)).toBe(0);
  const c = (nr: number, ...a: number[]) => errno(h.call(t, nr, ...a));
  expect([
    c(U.SYS_read, f, edge, 1000), c(U.SYS_lseek, f, 0, U.SEEK_CUR), c(U.SYS_read, f, m + P, 1000), c(U.SYS_lseek, f, 0, U.SEEK_CUR),
    c(U.SYS_pread64, f, edge, 1000, 50), c(U.SYS_lseek, f, 0, U.SEEK_CUR), c(U.SYS_pread64, f, edge, 1000, 9950), c(U.SYS_pread64, f, edge, 1000, 10000),
    c(U.SYS_pread64, f, m + P, 0, 0), c(U.SYS_read, f, m + P, 0), c(U.SYS_read, f, 8, 0),
    c(U.SYS_write, g, edge, 1000), c(U.SYS_lseek, g, 0, U.SEEK_CUR), c(U.SYS_write, g, m + P, 1000), c(U.SYS_lseek, g, 0, U.SEEK_CUR),
    c(U.SYS_pwrite64, g, edge, 1000, 5000), c(U.SYS_lseek, g, 0, U.SEEK_END),
  ]).toEqual([100, 100, 'EFAULT', 100, 100, 100, 50, 0, 0, 0, 0, 100, 100, 'EFAULT', 100, 100, 5100]);
  expect(h.call(t, U.SYS_mprotect, m + P, P, RW)).toBe(0);
  expect(h.call(t, U.SYS_lseek, f, 0, U.SEEK_SET)).toBe(0);
  expect([c(U.SYS_read, f, m + 2 * P - 50, 1000), c(U.SYS_lseek, f, 0, U.SEEK_CUR), c(U.SYS_write, g, m + 2 * P - 50, 1000)]).toEqual([50, 50, 50]);
  expect(h.call(t, U.SYS_mprotect, m + P, P, U.PROT_READ)).toBe(0);
  expect(c(U.SYS_read, f, m + P - 10, 100)).toBe(10);
  copyToUser(h.k, t.proc.mm, m, new TextEncoder().encode('/proc/self/status\0'), -1);
  const ps = h.call(t, U.SYS_open, m, U.O_RDONLY, 0);
  copyToUser(h.k, t.proc.mm, m, new TextEncoder().encode('/tmp/append\0'), -1);
  const a = h.call(t, U.SYS_open, m, U.O_RDWR | U.O_CREAT | U.O_TRUNC | U.O_APPEND, 0o600);
  expect(h.call(t, U.SYS_mprotect, m + P, P, U.PROT_NONE)).toBe(0);
  expect([c(U.SYS_read, ps, edge, 1000), c(U.SYS_lseek, ps, 0, U.SEEK_CUR), c(U.SYS_write, a, edge, 1000), c(U.SYS_lseek, a, 0, U.SEEK_CUR)]).toEqual([100, 100, 100, 100]);
  copyToUser(h.k, t.proc.mm, m, new TextEncoder().encode('/tmp/append\0'), -1);
  expect(h.call(t, U.SYS_unlink, m)).toBe(0); // its page goes with the file
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});
