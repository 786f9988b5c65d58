// Argument checks as the host kernel (Linux 6.18) answered the same calls: mmap's offset (an
// anonymous mapping ignores it beyond its alignment; a file mapping must end within
// MAX_LFS_FILESIZE, file_mmap_ok, the offset taken as the unsigned long the syscall passes),
// and O_PATH descriptors.
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

it('an O_PATH descriptor names a file but opens nothing: EBADF for I/O and mmap; fstat, fcntl, dup and close work', () => {
  // The host kernel's answers to the same calls on a file opened O_PATH | O_RDWR.
  const h = new KernelHarness({ memBytes: 16 << 20 });
  const t = h.spawn();
  const buf = h.call(t, U.SYS_mmap, 0, P, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  copyToUser(h.k, t.proc.mm, buf, new TextEncoder().encode('/tmp/opath\0'), -1);
  const w = h.call(t, U.SYS_open, buf, U.O_CREAT | U.O_RDWR, 0o600);
  expect(h.call(t, U.SYS_pwrite64, w, buf, 5, 0)).toBe(5);
  expect(h.call(t, U.SYS_close, w)).toBe(0);
  const fd = h.call(t, U.SYS_open, buf, U.O_PATH | U.O_RDWR, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  const errno = (r: number) => (r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r);
  expect([
    h.call(t, U.SYS_read, fd, buf + 100, 5), h.call(t, U.SYS_write, fd, buf, 1), h.call(t, U.SYS_mmap, 0, P, U.PROT_READ, U.MAP_SHARED, fd, 0),
    h.call(t, U.SYS_mmap, 0, P, U.PROT_READ, U.MAP_PRIVATE, fd, 0), h.call(t, U.SYS_lseek, fd, 0, 0), h.call(t, U.SYS_ftruncate, fd, 0),
    h.call(t, U.SYS_pread64, fd, buf + 100, 5, 0), h.call(t, U.SYS_ioctl, fd, 0x5421, 0), h.call(t, U.SYS_fallocate, fd, 0, 0, P),
  ].map(errno)).toEqual(['EBADF', 'EBADF', 'EBADF', 'EBADF', 'EBADF', 'EBADF', 'EBADF', 'EBADF', 'EBADF']);
  expect(h.call(t, U.SYS_fcntl, fd, U.F_GETFL, 0)).toBe(U.O_PATH);
  expect(h.call(t, U.SYS_dup, fd)).toBeGreaterThan(fd);
  expect(h.call(t, U.SYS_close, fd)).toBe(0);
  expect(h.call(t, U.SYS_unlink, buf)).toBe(0);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('F_GETFL after open shows O_LARGEFILE (forced on 64-bit) and what stays: not O_CREAT, O_EXCL or O_TRUNC (host answers)', () => {
  // Host (6.18): open(O_CREAT|O_RDWR|O_APPEND) gives 0x8402, a directory O_RDONLY|O_DIRECTORY
  // 0x18000, /dev/null O_WRONLY|O_CLOEXEC|O_TRUNC|O_CREAT|O_NONBLOCK 0x8801.
  const h = new KernelHarness({ memBytes: 16 << 20 });
  const t = h.spawn();
  const buf = h.call(t, U.SYS_mmap, 0, P, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const open = (path: string, flags: number): number => {
    copyToUser(h.k, t.proc.mm, buf, new TextEncoder().encode(`${path}\0`), -1);
    return h.call(t, U.SYS_open, buf, flags, 0o600);
  };
  const fds = [
    open('/tmp/gfl', U.O_CREAT | U.O_RDWR | U.O_APPEND), open('/tmp', U.O_RDONLY | U.O_DIRECTORY),
    open('/dev/null', U.O_WRONLY | U.O_CLOEXEC | U.O_TRUNC | U.O_CREAT | U.O_NONBLOCK),
  ];
  expect(fds.map((fd) => h.call(t, U.SYS_fcntl, fd, U.F_GETFL, 0))).toEqual([0x8402, 0x18000, 0x8801]);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});
