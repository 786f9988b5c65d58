// readlink(2), readlinkat(2) and the links of /proc (/proc/self, /proc/PID/exe, cwd, root,
// /proc/PID/fd/N), and opening through them. Every expectation is the host kernel's (Linux
// 6.18) answer to the same calls, from C programs run on it (strings and errnos), and the
// cases of gVisor's test/syscalls/linux/readlink.cc and proc.cc and LTP's readlink01,
// readlink03, readlinkat01 and readlinkat02 that apply.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { FdTable } from '../../../kernel/fs/file.ts';
import { procLinkAt } from '../../../kernel/fs/proc/fd.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/index.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';
import { bootTest } from '../../harness/machine.ts';

const P = 4096;

/** A process with a scratch page: strings go in its first half, readlink's buffer is at +2048. */
function world() {
  const h = new KernelHarness({ memBytes: 16 << 20 });
  const t = h.spawn('/bin/prog.ts');
  const page = h.call(t, U.SYS_mmap, 0, 4 * P, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const buf = page + 2048;
  const str = (s: string, at = 0): number => {
    copyToUser(h.k, t.proc.mm, page + at, new TextEncoder().encode(`${s}\0`), -1);
    return page + at;
  };
  const errno = (r: number): number | string => (r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r);
  /** readlink(path) with a buffer of `size`: the text, or the errno's name. */
  const rl = (path: string, size = 1024, th: Thread = t): string => {
    const r = h.call(th, U.SYS_readlink, str(path), buf, size);
    return r < 0 ? String(errno(r)) : new TextDecoder().decode(copyFromUser(h.k, th.proc.mm, buf, r, -1) as Uint8Array);
  };
  const rlat = (dirfd: number, path: string, size = 1024): string => {
    const r = h.call(t, U.SYS_readlinkat, dirfd, str(path), buf, size);
    return r < 0 ? String(errno(r)) : new TextDecoder().decode(copyFromUser(h.k, t.proc.mm, buf, r, -1) as Uint8Array);
  };
  const open = (path: string, flags: number, mode = 0o644): number => h.call(t, U.SYS_open, str(path), flags, mode);
  const pid = t.proc.pid;
  return { h, t, page, buf, str, errno, rl, rlat, open, pid };
}

it('reads /proc/self, exe, cwd and root, and EINVAL for what is no link (host answers)', () => {
  const { h, rl, pid } = world();
  // Host: /proc/self -> "4185", /proc/self/cwd -> the working directory (here always "/"),
  // /proc/self/root -> "/", /proc/self/exe -> the program's path.
  expect([rl('/proc/self'), rl('/proc/self/exe'), rl('/proc/self/cwd'), rl('/proc/self/root')]).toEqual([String(pid), '/bin/prog.ts', '/', '/']);
  expect([rl(`/proc/${pid}/exe`), rl('/proc/./self/../self/cwd')]).toEqual(['/bin/prog.ts', '/']);
  // Host: a directory, a regular file, a /proc file, or a link followed by a trailing slash to a
  // directory: EINVAL; missing: ENOENT; through a file: ENOTDIR; "": ENOENT.
  expect([rl('/proc/self/fd'), rl('/proc/self/fd/'), rl('/proc/self/'), rl('/proc/self/maps'), rl('/tmp'), rl('/'), rl('/proc/self/cwd/')])
    .toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL']);
  expect([rl('/nonexist'), rl(''), rl('/proc/999999/exe'), rl('/proc/self/fd/999'), rl('/proc/self/fd/abc'), rl('/proc/self/fd/01')])
    .toEqual(['ENOENT', 'ENOENT', 'ENOENT', 'ENOENT', 'ENOENT', 'ENOENT']);
  expect([rl('/proc/self/maps/x'), rl('/dev/null/x'), rl('/proc/self/fd/0/'), rl('/proc/self/exe/'), rl('/proc/self/exe/x')])
    .toEqual(['ENOTDIR', 'ENOTDIR', 'ENOTDIR', 'ENOTDIR', 'ENOTDIR']);
  // Links in the middle of a path are followed: /proc/self/cwd/tmp is /tmp.
  expect([rl('/proc/self/cwd/tmp'), rl('/proc/self/cwd/proc/self/exe'), rl('/proc/self/root/proc/self')]).toEqual(['EINVAL', '/bin/prog.ts', String(pid)]);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('truncates to bufsiz without a NUL; EINVAL for bufsiz <= 0, EFAULT for a bad buffer or path', () => {
  // readlink01/03, gVisor readlink.cc (SmallBuffer, BufferTooSmall... ): host answers.
  const { h, t, buf, str, errno, rl } = world();
  copyToUser(h.k, t.proc.mm, buf, new Uint8Array(16).fill(0x41), -1);
  expect(h.call(t, U.SYS_readlink, str('/proc/self/exe'), buf, 4)).toBe(4);
  expect(new TextDecoder().decode(copyFromUser(h.k, t.proc.mm, buf, 6, -1) as Uint8Array)).toBe('/binAA');
  expect(rl('/proc/self/exe', 1)).toBe('/');
  const call = (path: number, b: number, size: number) => errno(h.call(t, U.SYS_readlink, path, b, size));
  // Host: bufsiz 0 and -1 (and an int that is negative once truncated) are EINVAL before the
  // path is looked at, even a missing one; a buffer outside the address space is EFAULT; so
  // is a path there.
  expect([call(str('/proc/self'), buf, 0), call(str('/proc/self'), buf, -1), call(str('/nonexist'), buf, 0), call(0, buf, 0), call(str('/proc/self'), buf, 2 ** 32 - 1)])
    .toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL']);
  expect([call(str('/proc/self'), 0, 10), call(str('/proc/self'), 2 ** 47, 10), call(0, buf, 10), call(2 ** 47 + 5, buf, 10)])
    .toEqual(['EFAULT', 'EFAULT', 'EFAULT', 'EFAULT']);
  // Host (readlink03): a path of 4999 bytes, or a component of 298, is ENAMETOOLONG.
  expect([rl('a'.repeat(4999)), rl(`/${'b'.repeat(298)}`)]).toEqual(['ENAMETOOLONG', 'ENAMETOOLONG']);
  // A size that overflows an int to a small positive one (2^32 + 3): three bytes.
  expect(call(str('/proc/self/exe'), buf, 2 ** 32 + 3)).toBe(3);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('/proc/self/fd/N names what the descriptor opened (host strings)', () => {
  const { h, t, page, str, rl, open } = world();
  const f = open('/tmp/x', U.O_CREAT | U.O_RDWR | U.O_TRUNC);
  expect(rl(`/proc/self/fd/${f}`)).toBe('/tmp/x');
  expect(h.call(t, U.SYS_unlink, str('/tmp/x'))).toBe(0);
  expect(rl(`/proc/self/fd/${f}`)).toBe('/tmp/x (deleted)');
  const d = open('/tmp', U.O_RDONLY | U.O_DIRECTORY);
  const r = open('/', U.O_RDONLY);
  const m = h.call(t, U.SYS_memfd_create, str('foo'), 0);
  const m2 = h.call(t, U.SYS_memfd_create, str(''), 0);
  const mh = h.call(t, U.SYS_memfd_create, str('huge'), U.MFD_HUGETLB);
  const z = open('/dev/zero', U.O_RDONLY);
  const n = open('/dev/null', U.O_WRONLY);
  const op = open('/tmp', U.O_PATH);
  const maps = open('/proc/self/maps', U.O_RDONLY);
  const self = open('/proc/self', U.O_RDONLY);
  const names = [d, r, m, m2, mh, z, n, op, maps, self].map((fd) => rl(`/proc/self/fd/${fd}`));
  const pid = t.proc.pid;
  expect(names).toEqual(['/tmp', '/', '/memfd:foo (deleted)', '/memfd: (deleted)', '/memfd:huge (deleted)', '/dev/zero', '/dev/null', '/tmp', `/proc/${pid}/maps`, `/proc/${pid}`]);
  // Files of ptlab's own: the console (documented: a terminal's name), a reference page, msharefs, hugetlbfs.
  const rp = h.call(t, U.SYS_refpage_create, page, 1, 0);
  const ms = open('/sys/fs/mshare/region', U.O_CREAT | U.O_RDWR, 0o600);
  const hp = open('/dev/hugepages/h', U.O_CREAT | U.O_RDWR, 0o600);
  expect([0, 1, 2, rp, ms, hp].map((fd) => rl(`/proc/self/fd/${fd}`)))
    .toEqual(['/dev/pts/0', '/dev/pts/0', '/dev/pts/0', 'anon_inode:[refpage]', '/sys/fs/mshare/region', '/dev/hugepages/h']);
  expect(h.call(t, U.SYS_unlink, str('/dev/hugepages/h'))).toBe(0);
  expect(rl(`/proc/self/fd/${hp}`)).toBe('/dev/hugepages/h (deleted)');
  // Another process's descriptors, by pid.
  expect(rl(`/proc/${pid}/fd/${m}`)).toBe('/memfd:foo (deleted)');
  expect(h.call(t, U.SYS_unlink, str('/sys/fs/mshare/region'))).toBe(0);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('reopens a file through /proc/self/fd/N: a new description, the flags given, position 0 (host answers)', () => {
  const { h, t, page, str, errno, open } = world();
  const m = h.call(t, U.SYS_memfd_create, str('foo'), 0);
  copyToUser(h.k, t.proc.mm, page + 512, new TextEncoder().encode('hello'), -1);
  expect(h.call(t, U.SYS_write, m, page + 512, 5)).toBe(5);
  const ro = open(`/proc/self/fd/${m}`, U.O_RDONLY);
  expect(ro).toBeGreaterThan(m);
  expect(h.call(t, U.SYS_read, ro, page + 600, 10)).toBe(5);
  expect(new TextDecoder().decode(copyFromUser(h.k, t.proc.mm, page + 600, 5, -1) as Uint8Array)).toBe('hello');
  expect(h.call(t, U.SYS_lseek, m, 0, U.SEEK_CUR)).toBe(5); // the old description's position is its own
  expect(errno(h.call(t, U.SYS_write, ro, page + 512, 1))).toBe('EBADF');
  expect(h.call(t, U.SYS_fcntl, ro, U.F_GETFL, 0)).toBe(U.O_LARGEFILE | U.O_RDONLY);
  const app = open(`/proc/self/fd/${m}`, U.O_WRONLY | U.O_APPEND);
  expect(h.call(t, U.SYS_fcntl, app, U.F_GETFL, 0)).toBe(U.O_LARGEFILE | U.O_WRONLY | U.O_APPEND);
  // The same inode: fstat's st_ino agrees; O_TRUNC through the link empties it.
  const ino = (fd: number) => {
    expect(h.call(t, U.SYS_fstat, fd, page + 1024)).toBe(0);
    return new DataView((copyFromUser(h.k, t.proc.mm, page + 1024, 144, -1) as Uint8Array).buffer).getBigUint64(8, true);
  };
  expect(ino(ro)).toBe(ino(m));
  expect(open(`/proc/self/fd/${m}`, U.O_RDWR | U.O_TRUNC)).toBeGreaterThan(0);
  expect(h.call(t, U.SYS_lseek, m, 0, U.SEEK_END)).toBe(0);
  // Host: O_DIRECTORY: ENOTDIR; O_NOFOLLOW: ELOOP; O_CREAT: opens; O_CREAT|O_EXCL: EEXIST.
  const o = (path: string, flags: number) => errno(open(path, flags));
  expect([o(`/proc/self/fd/${m}`, U.O_DIRECTORY), o(`/proc/self/fd/${m}`, U.O_NOFOLLOW), o(`/proc/self/fd/${m}`, U.O_CREAT | U.O_EXCL)])
    .toEqual(['ENOTDIR', 'ELOOP', 'EEXIST']);
  expect(open(`/proc/self/fd/${m}`, U.O_CREAT)).toBeGreaterThan(0);
  // A reference page (an anonymous inode, as an eventfd on the host): ENXIO; a missing descriptor: ENOENT.
  const rp = h.call(t, U.SYS_refpage_create, page, 1, 0);
  expect([o(`/proc/self/fd/${rp}`, U.O_RDONLY), o(`/proc/self/fd/${rp}`, U.O_RDWR), o('/proc/self/fd/999', U.O_RDONLY), o('/proc/self/fd/999', U.O_CREAT)])
    .toEqual(['ENXIO', 'ENXIO', 'ENOENT', 'ENOENT']);
  // Host: O_PATH opens an eventfd's link (nothing is opened); the descriptor names the same thing.
  const named = open(`/proc/self/fd/${rp}`, U.O_PATH);
  expect(named).toBeGreaterThan(0);
  expect(h.call(t, U.SYS_fcntl, named, U.F_GETFL, 0)).toBe(U.O_PATH);
  expect(errno(h.call(t, U.SYS_read, named, page, 1))).toBe('EBADF');
  expect(h.call(t, U.SYS_close, rp)).toBe(0);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('opens through the other links: /proc/self, cwd, a directory descriptor, the fd directory (host answers)', () => {
  const { h, t, page, str, errno, open, rl, rlat, pid } = world();
  const o = (path: string, flags: number) => errno(open(path, flags));
  // Host: /proc/self/fd opens as a directory, not for writing; cwd is a directory; exe opens the
  // program (ptlab: ENOENT, the module is no file of the VFS; with a trailing slash ENOTDIR).
  expect([o('/proc/self/fd', U.O_RDWR), o('/proc/self/cwd', U.O_RDWR), o('/proc/self', U.O_NOFOLLOW), o('/proc/self/fd/1/', U.O_RDONLY), o('/proc/self/exe', U.O_RDONLY)])
    .toEqual(['EISDIR', 'EISDIR', 'ELOOP', 'ENOTDIR', 'ENOENT']);
  const fdDir = open('/proc/self/fd', U.O_RDONLY | U.O_DIRECTORY);
  const cwd = open('/proc/self/cwd', U.O_RDONLY | U.O_DIRECTORY);
  expect(rl(`/proc/self/fd/${cwd}`)).toBe('/');
  expect(rl(`/proc/self/fd/${fdDir}`)).toBe(`/proc/${pid}/fd`);
  const tmp = open('/tmp', U.O_RDONLY | U.O_DIRECTORY);
  const again = open(`/proc/self/fd/${tmp}`, U.O_RDONLY);
  expect(rl(`/proc/self/fd/${again}`)).toBe('/tmp');
  expect(o(`/proc/self/fd/${tmp}`, U.O_RDWR)).toBe('EISDIR');
  // A file through a directory descriptor's link, and openat/readlinkat relative to the fd directory.
  expect(open(`/proc/self/fd/${tmp}/made`, U.O_CREAT | U.O_RDWR)).toBeGreaterThan(0);
  expect(rl('/proc/self/fd/' + open('/tmp/made', U.O_RDONLY))).toBe('/tmp/made');
  const m = h.call(t, U.SYS_memfd_create, str('foo'), 0);
  expect(h.call(t, U.SYS_openat, fdDir, str(String(m)), U.O_RDONLY, 0)).toBeGreaterThan(0);
  expect(rlat(fdDir, String(m))).toBe('/memfd:foo (deleted)');
  // Host: readlinkat on dirfd errors (readlinkat02): a bad descriptor EBADF, a file ENOTDIR; an
  // absolute path ignores dirfd; "" reads an O_PATH|O_NOFOLLOW descriptor of a link, else ENOENT.
  expect([rlat(999, 'x'), rlat(m, 'x'), rlat(999, '/proc/self'), rlat(U.AT_FDCWD, ''), rlat(m, ''), rlat(tmp, ''), rlat(999, '')])
    .toEqual(['EBADF', 'ENOTDIR', String(pid), 'ENOENT', 'ENOENT', 'ENOENT', 'EBADF']);
  // Host: a trailing slash follows a link to a directory (readlink EINVAL, open works) and
  // refuses one to anything else (ENOTDIR); O_CREAT|O_EXCL never follows (EEXIST).
  expect([rl(`/proc/self/fd/${tmp}/`), o('/proc/self/exe/', U.O_RDONLY), o('/proc/self/cwd', U.O_CREAT | U.O_EXCL), o('/proc/self/fd/999', U.O_PATH | U.O_NOFOLLOW)])
    .toEqual(['EINVAL', 'ENOTDIR', 'EEXIST', 'ENOENT']);
  expect(open(`/proc/self/fd/${tmp}/`, U.O_RDONLY)).toBeGreaterThan(0);
  const link = open(`/proc/self/fd/${m}`, U.O_PATH | U.O_NOFOLLOW);
  expect(h.call(t, U.SYS_fcntl, link, U.F_GETFL, 0)).toBe(U.O_PATH);
  expect([rlat(link, ''), rlat(link, '', 0)]).toEqual(['/memfd:foo (deleted)', 'EINVAL']);
  expect(rl(`/proc/self/fd/${link}`)).toBe(`/proc/${pid}/fd/${m}`);
  // fstat of the link's descriptor: lstat's view, lrwx------ for a read-write descriptor.
  expect(h.call(t, U.SYS_fstat, link, page + 1024)).toBe(0);
  expect(new DataView((copyFromUser(h.k, t.proc.mm, page + 1024, 144, -1) as Uint8Array).buffer).getUint32(24, true)).toBe(U.S_IFLNK | 0o700);
  const exe = open('/proc/self/exe', U.O_PATH | U.O_NOFOLLOW);
  expect(rlat(exe, '')).toBe('/bin/prog.ts');
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('reads the links of another process by its pid', () => {
  const { h, t, rl } = world();
  const u = h.spawn('/other.ts');
  const pid = u.proc.pid;
  expect(pid).not.toBe(t.proc.pid);
  expect([rl(`/proc/${pid}/exe`), rl(`/proc/${pid}/fd/1`), rl(`/proc/${pid}/fd/3`), rl(`/proc/${pid}/cwd`)]).toEqual(['/other.ts', '/dev/pts/0', 'ENOENT', '/']);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('a guest reads its /proc/self/fd links and reopens a memfd read-only through one (test/guests/procfd.ts)', async () => {
  const m = await bootTest();
  const e = await m.run([], fileURLToPath(new URL('../../guests/procfd.ts', import.meta.url)));
  expect(e.exitCode, `${e.report} ${e.text}`).toBe(0);
  expect(e.text.trim().split('\n')).toEqual([
    'self true exe true cwd /',
    'file /tmp/procfd-guest | /tmp/procfd-guest (deleted)',
    'memfd /memfd:guest (deleted)',
    'reopen true same-inode true read "hello memfd" write EBADF',
    'link-of-reopen /memfd:guest (deleted)',
    'fd-dir . .. 0 1 2 3 4 5 6',
    'missing ENOENT not-a-link EINVAL',
  ]);
  await m.finish();
});

it("a zombie's exe, cwd and root are gone (ENOENT), as Linux's once the mm and fs are released", () => {
  const task = { pid: 7, path: '/x.ts', state: 'zombie', fds: new FdTable() } as unknown as Parameters<typeof procLinkAt>[1];
  const root = { taskByPid: (pid: number) => (pid === 7 ? task : undefined) } as unknown as Parameters<typeof procLinkAt>[0];
  expect(['exe', 'cwd', 'root'].map((n) => procLinkAt(root, task, ['proc', '7', n]))).toEqual([-U.ENOENT, -U.ENOENT, -U.ENOENT]);
  expect(procLinkAt(root, task, ['proc', '7', 'fd', '0'])).toBe(-U.ENOENT);
  expect(procLinkAt(root, task, ['proc', '8', 'exe'])).toBe(null);
  expect(procLinkAt(root, task, ['tmp', 'x'])).toBe(null);
});
