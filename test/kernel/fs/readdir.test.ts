// getdents64(2) of /proc/PID/fd, of VFS (tmpfs) directories and of /proc's: records, order,
// positions and errors as the host kernel (Linux 6.18) gave them for the same calls.
import { expect, it } from 'vitest';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;

function world() {
  const h = new KernelHarness({ memBytes: 16 << 20 });
  const t = h.spawn('/bin/prog.ts');
  const page = h.call(t, U.SYS_mmap, 0, 4 * P, 3, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const buf = page + P;
  const str = (s: string): number => {
    copyToUser(h.k, t.proc.mm, page, new TextEncoder().encode(`${s}\0`), -1);
    return page;
  };
  const errno = (r: number): number | string => (r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r);
  const open = (path: string, flags: number): number => h.call(t, U.SYS_open, str(path), flags, 0o644);
  /** One getdents64 call: its records as "name:d_off/d_reclen/d_type", or the errno. */
  const getdents = (fd: number, count = 2 * P): string[] | string | number => {
    const r = h.call(t, U.SYS_getdents64, fd, buf, count);
    if (r <= 0) return errno(r);
    const b = copyFromUser(h.k, t.proc.mm, buf, r, -1) as Uint8Array;
    const dv = new DataView(b.buffer, b.byteOffset);
    const out: string[] = [];
    for (let at = 0; at < r; at += dv.getUint16(at + 16, true)) {
      const name = new TextDecoder().decode(b.subarray(at + 19, b.indexOf(0, at + 19)));
      out.push(`${name}:${dv.getBigInt64(at + 8, true)}/${dv.getUint16(at + 16, true)}/${b[at + 18]}`);
    }
    return out;
  };
  const names = (fd: number): string[] => (getdents(fd) as string[]).map((e) => e.slice(0, e.indexOf(':')));
  return { h, t, page, buf, str, errno, open, getdents, names };
}

it('lists /proc/self/fd as the host: dots, then each descriptor at N + 2, the end at max_fds + 2', () => {
  const { h, t, errno, open, getdents } = world();
  const d = open('/proc/self/fd', U.O_RDONLY | U.O_DIRECTORY);
  expect(d).toBe(3);
  // Host (fds 0-3 open): ".:1/24/4 ..:2/24/4 0:3/24/10 1:4/24/10 2:5/24/10 3:66/24/10", 64-slot table.
  expect(getdents(d)).toEqual(['.:1/24/4', '..:2/24/4', '0:3/24/10', '1:4/24/10', '2:5/24/10', '3:66/24/10']);
  expect(getdents(d)).toBe(0);
  expect(h.call(t, U.SYS_lseek, d, 0, U.SEEK_CUR)).toBe(66);
  // Host: a descriptor at 100 (F_DUPFD) grows the table to 128: "3:102 100:130"; after close the
  // table keeps its size: the end stays 130. lseek to a position resumes there.
  const hi = h.call(t, U.SYS_fcntl, 0, U.F_DUPFD, 100);
  expect(hi).toBe(100);
  expect(h.call(t, U.SYS_lseek, d, 4, U.SEEK_SET)).toBe(4);
  expect(getdents(d)).toEqual(['2:5/24/10', '3:102/24/10', '100:130/24/10']);
  expect(h.call(t, U.SYS_close, hi)).toBe(0);
  expect(h.call(t, U.SYS_lseek, d, 0, U.SEEK_SET)).toBe(0);
  expect((getdents(d) as string[]).at(-1)).toBe('3:130/24/10');
  // Host: a 48-byte buffer takes the two dots and leaves the position at 2; 20 bytes (less than
  // one record) and 0 are EINVAL; 24 takes one.
  expect(h.call(t, U.SYS_lseek, d, 0, U.SEEK_SET)).toBe(0);
  expect(getdents(d, 48)).toEqual(['.:1/24/4', '..:2/24/4']);
  expect(h.call(t, U.SYS_lseek, d, 0, U.SEEK_CUR)).toBe(2);
  expect([getdents(d, 20), getdents(d, 0)]).toEqual(['EINVAL', 'EINVAL']);
  expect(getdents(d, 24)).toEqual(['0:3/24/10']);
  // Host: a bad buffer EFAULT, a file ENOTDIR, a bad descriptor EBADF, an O_PATH one EBADF.
  const m = open('/dev/null', U.O_RDONLY);
  const opath = open('/tmp', U.O_PATH);
  expect([
    errno(h.call(t, U.SYS_getdents64, d, 8, 100)), errno(h.call(t, U.SYS_getdents64, m, 0, 100)),
    errno(h.call(t, U.SYS_getdents64, 999, 0, 100)), errno(h.call(t, U.SYS_getdents64, opath, 0, 100)),
  ]).toEqual(['EFAULT', 'ENOTDIR', 'EBADF', 'EBADF']);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('lists a tmpfs directory newest first, after the dots, and its d_type and d_reclen (host order)', () => {
  const { h, t, str, open, getdents, names } = world();
  expect(h.call(t, U.SYS_mkdir, str('/tmp/gdt'), 0o755)).toBe(0);
  for (const n of ['b', 'a', 'c', 'longer_name_here']) expect(h.call(t, U.SYS_close, open(`/tmp/gdt/${n}`, U.O_CREAT | U.O_RDWR))).toBe(0);
  expect(h.call(t, U.SYS_mkdir, str('/tmp/gdt/sub'), 0o755)).toBe(0);
  expect(h.call(t, U.SYS_unlink, str('/tmp/gdt/a'))).toBe(0);
  expect(h.call(t, U.SYS_close, open('/tmp/gdt/a', U.O_CREAT | U.O_RDWR))).toBe(0);
  const d = open('/tmp/gdt', U.O_RDONLY | U.O_DIRECTORY);
  // Host (tmpfs on /dev/shm): . .. a sub longer_name_here c b, types 4 4 8 4 8 8 8, the long
  // name's record 40 bytes; the last d_off INT_MAX. (tmpfs's other d_off values are its
  // creation cookies, ptlab's are places in the listing.)
  const list = getdents(d) as string[];
  expect(list.map((e) => e.replace(/:\d+\//, ':/'))).toEqual(['.:/24/4', '..:/24/4', 'a:/24/8', 'sub:/24/4', 'longer_name_here:/40/8', 'c:/24/8', 'b:/24/8']);
  expect(list.at(-1)).toBe('b:2147483647/24/8');
  expect(getdents(d)).toBe(0);
  expect(names(open('/', U.O_RDONLY)).slice(0, 2)).toEqual(['.', '..']);
  expect(names(open('/dev', U.O_RDONLY))).toEqual(expect.arrayContaining(['null', 'zero', 'hugepages']));
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('lists /proc, /proc/PID and /proc/sys/vm', () => {
  const { h, t, open, names } = world();
  const pid = t.proc.pid;
  const self = names(open('/proc/self', U.O_RDONLY | U.O_DIRECTORY));
  // Linux's order (tgid_base_stuff) for the files ptlab has.
  expect(self).toEqual(['.', '..', 'fd', 'status', 'maps', 'cwd', 'root', 'exe', 'clear_refs', 'smaps', 'smaps_rollup', 'pagemap', 'oom_score', 'oom_adj', 'oom_score_adj']);
  const root = names(open('/proc', U.O_RDONLY | U.O_DIRECTORY));
  expect(root).toEqual(['.', '..', 'sys', 'swaps', 'vmstat', 'meminfo', 'zoneinfo', 'self', String(pid)]);
  expect(names(open('/proc/sys/vm', U.O_RDONLY))).toEqual(['.', '..', 'memfd_noexec', 'min_free_kbytes', 'page-cluster', 'swappiness', 'watermark_scale_factor']);
  // Every name listed opens (but exe: ptlab's module is no file of the VFS).
  for (const n of self.slice(2).filter((x) => x !== 'exe')) expect(open(`/proc/self/${n}`, U.O_RDONLY), n).toBeGreaterThan(0);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});
