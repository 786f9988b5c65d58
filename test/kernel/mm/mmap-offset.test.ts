// mmap's offset checks, as the host kernel (Linux 6.18) answered them: an anonymous mapping
// ignores its offset beyond its alignment; a file mapping must end within MAX_LFS_FILESIZE
// (file_mmap_ok), with the offset taken as the unsigned long the syscall passes.
import { expect, it } from 'vitest';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;

it('gives EOVERFLOW for file offsets past MAX_LFS_FILESIZE or negative, EINVAL for unaligned, and ignores an anonymous one', () => {
  const h = new KernelHarness({ memBytes: 16 << 20 });
  const t = h.spawn();
  const name = h.call(t, U.SYS_mmap, 0, P, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  copyToUser(h.k, t.proc.mm, name, new TextEncoder().encode('x\0'), -1);
  const fd = h.call(t, U.SYS_memfd_create, name, 0);
  expect(h.call(t, U.SYS_ftruncate, fd, 2 * P)).toBe(0);
  const mmap = (len: number, flags: number, f: number, off: number): string => {
    const r = h.call(t, U.SYS_mmap, 0, len, 3, flags, f, off);
    return r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : 'ok';
  };
  const anon = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
  expect([
    mmap(P, anon, -1, -P), mmap(P, anon, -1, 2 ** 62), mmap(P, U.MAP_SHARED, fd, -P), mmap(P, U.MAP_SHARED, fd, 2 ** 62),
    mmap(2 * P, U.MAP_SHARED, fd, 2 ** 63 - P), mmap(2 * P, U.MAP_SHARED, fd, -2 * P), mmap(P, U.MAP_SHARED, fd, 1),
    mmap(P, anon, -1, -1), mmap(P, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, -P),
  ]).toEqual(['ok', 'ok', 'EOVERFLOW', 'ok', 'EOVERFLOW', 'EOVERFLOW', 'EINVAL', 'EINVAL', 'ok']);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});
