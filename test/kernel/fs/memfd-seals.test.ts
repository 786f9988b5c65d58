// memfd seals: fcntl F_ADD_SEALS / F_GET_SEALS, memfd_create's sealing flags, and every rule
// the seals bring to write, ftruncate, fallocate, mmap, mprotect, MADV_REMOVE, fork and mremap.
// Ported from the kernel selftest tools/testing/selftests/memfd/memfd_test.c (the seal tests and
// the share_dup / share_mmap / share_fork variants), LTP's memfd_create01..04 and gVisor's
// memfd.cc. Every expectation is the host kernel's (Linux 6.18) answer to the same calls, from
// C programs run on the host, unless a comment says it is read from Linux's source.
import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const { F_SEAL_SEAL: SEAL, F_SEAL_SHRINK: SHRINK, F_SEAL_GROW: GROW, F_SEAL_WRITE: WRITE, F_SEAL_FUTURE_WRITE: FUTURE, F_SEAL_EXEC: EXEC } = U;

let h: KernelHarness;
let t: Thread;
let scratch = 0;
afterEach(() => {
  h.killAll();
  for (const hs of h.k.hugetlb.hstates) hs.setNr(h.k, 0);
  expect(h.leakedFrames()).toBe(0);
});

function boot(): void {
  h = new KernelHarness({ memBytes: 32 << 20 });
  t = h.spawn();
  scratch = h.call(t, U.SYS_mmap, 0, 4 * P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
}

/** A result as the tests compare it: the errno's name, or the number. */
const e = (r: number): number | string => (r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r);
const str = (s: string): number => {
  copyToUser(h.k, t.proc.mm, scratch, new TextEncoder().encode(`${s}\0`), -1);
  return scratch;
};
const sys = (nr: number, ...args: number[]): number | string => e(h.call(t, nr, ...args));
const fcntl = (fd: number, cmd: number, arg = 0) => sys(U.SYS_fcntl, fd, cmd, arg);
const seals = (fd: number) => fcntl(fd, U.F_GET_SEALS);
const add = (fd: number, s: number) => fcntl(fd, U.F_ADD_SEALS, s);
const mode = (fd: number): number => t.proc.fds.get(fd)!.ops.getattr!(t.proc.fds.get(fd)!).mode & 0o7777;
/** memfd_create("t", flags), sized to `size`. */
function memfd(flags: number, size = 4 * P): number {
  const fd = h.call(t, U.SYS_memfd_create, str('t'), flags);
  expect(fd).toBeGreaterThanOrEqual(0);
  if (size > 0) expect(h.call(t, U.SYS_ftruncate, fd, size)).toBe(0);
  return fd;
}
const mmap = (len: number, prot: number, flags: number, fd: number, off = 0) => {
  const r = h.call(t, U.SYS_mmap, 0, len, prot, flags, fd, off);
  return r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r;
};
const ok = (r: number | string) => (typeof r === 'number' && r >= 0 ? 'ok' : r);
/** pwrite of n bytes of the scratch page at pos. */
const pwrite = (fd: number, n: number, pos: number) => sys(U.SYS_pwrite64, fd, scratch, n, pos);
const fault = (va: number, write: boolean) => h.fault(t, va, X86_PF_USER | (write ? X86_PF_WRITE : 0)).kind;

describe('memfd_create and the seal word', () => {
  it('starts sealed with F_SEAL_SEAL unless asked; MFD_NOEXEC_SEAL gives 0666 and F_SEAL_EXEC', () => {
    boot();
    const flags = [0, U.MFD_ALLOW_SEALING, U.MFD_NOEXEC_SEAL, U.MFD_EXEC, U.MFD_EXEC | U.MFD_ALLOW_SEALING, U.MFD_NOEXEC_SEAL | U.MFD_ALLOW_SEALING];
    const got = flags.map((f) => {
      const fd = memfd(f, 0);
      return [seals(fd), mode(fd).toString(8)];
    });
    expect(got).toEqual([[SEAL, '777'], [0, '777'], [EXEC, '666'], [SEAL, '777'], [0, '777'], [EXEC, '666']]);
    expect(sys(U.SYS_memfd_create, str('t'), U.MFD_EXEC | U.MFD_NOEXEC_SEAL)).toBe('EINVAL');
  });

  it('F_ADD_SEALS: EPERM unwritable, EINVAL unknown bits or no seals, EPERM once sealed; the high 32 bits ignored', () => {
    boot();
    const unsealable = memfd(0);
    expect([add(unsealable, WRITE), add(unsealable, 0), add(unsealable, 0x40), add(unsealable, 2 ** 32 + 1)]).toEqual(['EPERM', 'EPERM', 'EINVAL', 'EPERM']);
    const fd = memfd(U.MFD_ALLOW_SEALING);
    expect([add(fd, 0x40), add(fd, 0xffffffff), add(fd, 2 ** 32), add(fd, 0), seals(fd)]).toEqual(['EINVAL', 'EINVAL', 0, 0, 0]);
    expect([add(fd, SEAL), add(fd, 0), add(fd, 0x40), seals(fd)]).toEqual([0, 'EPERM', 'EINVAL', SEAL]);
    // Seals belong to the inode: a dup sees them.
    const dup = h.call(t, U.SYS_dup, fd);
    expect(seals(dup)).toBe(SEAL);
  });

  it('tmpfs files opened by path take seals too (F_SEAL_SEAL from the start); devices, directories, msharefs do not', () => {
    boot();
    const rw = h.call(t, U.SYS_open, str('/tmp/sealed'), U.O_CREAT | U.O_RDWR, 0o600);
    const ro = h.call(t, U.SYS_open, str('/tmp/sealed'), U.O_RDONLY, 0);
    const path = h.call(t, U.SYS_open, str('/tmp/sealed'), U.O_PATH, 0);
    expect([seals(rw), add(rw, 0), add(rw, 0x40), seals(ro), add(ro, 0x40), add(ro, SHRINK)]).toEqual([SEAL, 'EPERM', 'EINVAL', SEAL, 'EPERM', 'EPERM']);
    expect([seals(path), add(path, 0), fcntl(path, U.F_SETFL, 0)]).toEqual(['EBADF', 'EBADF', 'EBADF']);
    const zero = h.call(t, U.SYS_open, str('/dev/zero'), U.O_RDWR, 0);
    const zeroRo = h.call(t, U.SYS_open, str('/dev/zero'), U.O_RDONLY, 0);
    const nul = h.call(t, U.SYS_open, str('/dev/null'), U.O_RDWR, 0);
    const dir = h.call(t, U.SYS_open, str('/tmp'), U.O_RDONLY, 0);
    expect([seals(zero), add(zero, 0), add(zeroRo, 0), add(zeroRo, 0x40), add(zero, 0x40), seals(nul), seals(dir)])
      .toEqual(['EINVAL', 'EINVAL', 'EPERM', 'EPERM', 'EINVAL', 'EINVAL', 'EINVAL']);
    // msharefs is no tmpfs (memfd_file_seals_ptr finds nothing): from Linux's source.
    const region = h.call(t, U.SYS_open, str('/sys/fs/mshare/r'), U.O_CREAT | U.O_RDWR, 0o600);
    expect([seals(region), add(region, 0)]).toEqual(['EINVAL', 'EINVAL']);
    expect([sys(U.SYS_unlink, str('/sys/fs/mshare/r')), sys(U.SYS_unlink, str('/tmp/sealed'))]).toEqual([0, 0]);
  });

  it('hugetlb memfds take seals: F_SEAL_GROW and SHRINK after the size check (EINVAL first)', () => {
    boot();
    h.k.hugetlb.hstates[0].setNr(h.k, 2);
    const fd = memfd(U.MFD_HUGETLB | U.MFD_ALLOW_SEALING, 0);
    expect([seals(fd), seals(memfd(U.MFD_HUGETLB, 0))]).toEqual([0, SEAL]);
    const noexec = memfd(U.MFD_HUGETLB | U.MFD_NOEXEC_SEAL, 0);
    expect([seals(noexec), mode(noexec).toString(8)]).toEqual([EXEC, '666']);
    expect([add(fd, GROW), sys(U.SYS_ftruncate, fd, 2 << 20), sys(U.SYS_ftruncate, fd, P)]).toEqual([0, 'EPERM', 'EINVAL']);
    const g = memfd(U.MFD_HUGETLB | U.MFD_ALLOW_SEALING, 2 << 20);
    expect([add(g, SHRINK), sys(U.SYS_ftruncate, g, 0), sys(U.SYS_ftruncate, g, P), sys(U.SYS_ftruncate, g, 4 << 20)]).toEqual([0, 'EPERM', 'EINVAL', 0]);
    // LTP memfd_create03: no write(2) on hugetlbfs, sealed or not.
    expect([pwrite(g, 1, 0), sys(U.SYS_write, fd, scratch, 3)]).toEqual(['EINVAL', 'EINVAL']);
    // A write seal: no new writable shared mapping, a read-only one stays read-only.
    expect(add(g, WRITE)).toBe(0);
    expect(mmap(2 << 20, RW, U.MAP_SHARED, g)).toBe('EPERM');
    const ro = mmap(2 << 20, U.PROT_READ, U.MAP_SHARED, g) as number;
    expect(sys(U.SYS_mprotect, ro, 2 << 20, RW)).toBe('EACCES');
  });

  it('vm.memfd_noexec: 1 makes a memfd without MFD_EXEC noexec-sealed, 2 refuses MFD_EXEC (from Linux source)', () => {
    boot();
    const knob = h.call(t, U.SYS_open, str('/proc/sys/vm/memfd_noexec'), U.O_RDWR, 0);
    const put = (v: string) => {
      copyToUser(h.k, t.proc.mm, scratch + P, new TextEncoder().encode(v), -1);
      return sys(U.SYS_pwrite64, knob, scratch + P, v.length, 0);
    };
    expect([put('3'), put('1')]).toEqual(['EINVAL', 1]);
    const fd = memfd(0, 0);
    expect([seals(fd), mode(fd).toString(8), seals(memfd(U.MFD_EXEC, 0))]).toEqual([EXEC, '666', SEAL]);
    expect(put('2')).toBe(1);
    expect([sys(U.SYS_memfd_create, str('t'), U.MFD_EXEC), seals(memfd(U.MFD_ALLOW_SEALING, 0))]).toEqual(['EACCES', EXEC]);
    expect(put('0')).toBe(1);
  });
});

describe('F_SEAL_WRITE', () => {
  it('is EBUSY while a shared mapping may write (read-only and mprotected ones too), not for private ones', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    const m = mmap(4 * P, U.PROT_READ, U.MAP_SHARED, fd) as number;
    expect(add(fd, WRITE)).toBe('EBUSY');
    expect([sys(U.SYS_mprotect, m, P, RW), sys(U.SYS_munmap, m + P, P), add(fd, WRITE)]).toEqual([0, 0, 'EBUSY']);
    expect(sys(U.SYS_munmap, m, 4 * P)).toBe(0);
    const priv = mmap(4 * P, RW, U.MAP_PRIVATE, fd) as number;
    expect([add(fd, WRITE), seals(fd)]).toEqual([0, WRITE]);
    expect(fault(priv, true)).toBe('return'); // copy on write
  });

  it('then refuses writes and shared writable mmaps; read-only ones lose VM_MAYWRITE; size changes still work', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    expect(add(fd, WRITE)).toBe(0);
    expect([mmap(P, RW, U.MAP_SHARED, fd), mmap(P, RW, U.MAP_SHARED_VALIDATE, fd), ok(mmap(P, RW, U.MAP_PRIVATE, fd))]).toEqual(['EPERM', 'EPERM', 'ok']);
    // The checks before the seal's come first: EINVAL for MAP_GROWSDOWN, ENOMEM for a huge length.
    expect([mmap(P, RW, U.MAP_SHARED | U.MAP_GROWSDOWN, fd), mmap(2 ** 62, RW, U.MAP_SHARED, fd), mmap(P, RW, U.MAP_SHARED, fd, 2 ** 62)]).toEqual(['EINVAL', 'ENOMEM', 'EPERM']);
    const ro = mmap(P, U.PROT_READ, U.MAP_SHARED, fd) as number;
    expect([sys(U.SYS_mprotect, ro, P, RW), sys(U.SYS_mprotect, ro, P, U.PROT_READ | U.PROT_EXEC)]).toEqual(['EACCES', 0]);
    expect([pwrite(fd, 1, 0), pwrite(fd, 0, 0), sys(U.SYS_write, fd, scratch, 1), pwrite(fd, 1, 2 ** 50)]).toEqual(['EPERM', 0, 'EPERM', 'EPERM']);
    expect([sys(U.SYS_ftruncate, fd, 4 * P), sys(U.SYS_ftruncate, fd, 2 * P), sys(U.SYS_ftruncate, fd, 8 * P)]).toEqual([0, 0, 0]);
    const punch = U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE;
    expect([sys(U.SYS_fallocate, fd, punch, 0, P), sys(U.SYS_fallocate, fd, 0, 0, P), sys(U.SYS_fallocate, fd, 0, 0, 16 * P)]).toEqual(['EPERM', 0, 0]);
    expect(sys(U.SYS_madvise, ro, P, U.MADV_REMOVE)).toBe('EACCES'); // no VM_MAYWRITE
    expect(add(fd, WRITE)).toBe(0); // again: nothing to check
  });

  it('counts the mappings a fork copies, and a mapping mremap moved (share_fork, share_mmap)', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    const m = mmap(4 * P, RW, U.MAP_SHARED, fd) as number;
    const d = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'child', arg: null }));
    const dva = mmap(P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1) as number;
    copyToUser(h.k, t.proc.mm, dva, d, -1);
    const child = h.call(t, U.SYS_clone, U.FORK_FLAGS, dva, d.length);
    expect(child).toBeGreaterThan(0);
    expect([sys(U.SYS_munmap, m, 4 * P), add(fd, WRITE)]).toEqual([0, 'EBUSY']);
    const c = h.kernel.tasks.procs.get(child)!.threads.get(child)!;
    expect(h.call(c, U.SYS_munmap, m, 4 * P)).toBe(0);
    expect(add(fd, FUTURE)).toBe(0);
    const fd2 = memfd(U.MFD_ALLOW_SEALING);
    const r = mmap(2 * P, U.PROT_READ, U.MAP_SHARED, fd2) as number;
    const moved = h.call(t, U.SYS_mremap, r, 2 * P, 4 * P, U.MREMAP_MAYMOVE);
    expect([add(fd2, WRITE), sys(U.SYS_munmap, moved, 4 * P), add(fd2, WRITE)]).toEqual(['EBUSY', 0, 0]);
  });
});

describe('F_SEAL_FUTURE_WRITE', () => {
  it('keeps the mappings there were (writable, and mprotect to writable), refuses new ones and write(2)', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    const w = mmap(4 * P, RW, U.MAP_SHARED, fd) as number;
    const r = mmap(4 * P, U.PROT_READ, U.MAP_SHARED, fd) as number;
    expect([add(fd, FUTURE), seals(fd)]).toEqual([0, FUTURE]);
    expect(copyToUser(h.k, t.proc.mm, w + 5, new Uint8Array([7]), -1)).toBe(0);
    expect((copyFromUser(h.k, t.proc.mm, r + 5, 1, -1) as Uint8Array)[0]).toBe(7);
    expect(sys(U.SYS_mprotect, r, P, RW)).toBe(0);
    expect(fault(r, true)).toBe('return');
    expect([mmap(P, RW, U.MAP_SHARED, fd), ok(mmap(P, RW, U.MAP_PRIVATE, fd))]).toEqual(['EPERM', 'ok']);
    const late = mmap(P, U.PROT_READ, U.MAP_SHARED, fd) as number;
    expect(sys(U.SYS_mprotect, late, P, RW)).toBe('EACCES');
    expect([pwrite(fd, 1, 0), sys(U.SYS_ftruncate, fd, 2 * P), sys(U.SYS_ftruncate, fd, 16 * P)]).toEqual(['EPERM', 0, 0]);
    expect([sys(U.SYS_fallocate, fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 0, P), sys(U.SYS_madvise, r, P, U.MADV_REMOVE)]).toEqual(['EPERM', 'EPERM']);
    expect(add(fd, WRITE)).toBe('EBUSY'); // the old writable mappings are still there
  });
});

describe('F_SEAL_SHRINK and F_SEAL_GROW', () => {
  it('refuse ftruncate, fallocate and writes past the end, a page at a time (short writes)', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    expect(add(fd, GROW | SHRINK)).toBe(0);
    const size = 4 * P;
    expect([size, size - 1, size + 1, -1, 2 ** 62].map((l) => sys(U.SYS_ftruncate, fd, l))).toEqual([0, 'EPERM', 'EPERM', 'EINVAL', 'EPERM']);
    expect([pwrite(fd, 100, size - 84), pwrite(fd, 2 * P, size - P), pwrite(fd, P, size), pwrite(fd, 100, size - 4), pwrite(fd, 2 * P, 2 * P), pwrite(fd, 0, 1 << 20)])
      .toEqual([84, P, 'EPERM', 4, 2 * P, 0]);
    const punch = U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE;
    expect([sys(U.SYS_fallocate, fd, 0, 0, size), sys(U.SYS_fallocate, fd, 0, 0, size + 1), sys(U.SYS_fallocate, fd, U.FALLOC_FL_KEEP_SIZE, 0, size + 1),
      sys(U.SYS_fallocate, fd, punch, 0, 1 << 20), sys(U.SYS_fallocate, fd, 0, 2 ** 62, 2 ** 62)]).toEqual([0, 'EPERM', 'EPERM', 0, 'EFBIG']);
    expect([sys(U.SYS_lseek, fd, 0, U.SEEK_END), sys(U.SYS_write, fd, scratch, 1)]).toEqual([size, 'EPERM']);
    // Mappings past the end are allowed (they SIGBUS there).
    expect(ok(mmap(16 * P, RW, U.MAP_SHARED, fd))).toBe('ok');
    const small = memfd(U.MFD_ALLOW_SEALING, 100);
    expect([add(small, GROW), pwrite(small, 200, 0), pwrite(small, 50, 0), pwrite(small, 5000, 0)]).toEqual([0, 'EPERM', 50, 'EPERM']);
  });
});

describe('F_SEAL_EXEC', () => {
  it('on an executable memfd brings the write, grow and shrink seals (so EBUSY under a shared writable mapping)', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    const w = mmap(4 * P, RW, U.MAP_SHARED, fd) as number;
    expect([add(fd, EXEC), seals(fd)]).toEqual(['EBUSY', 0]);
    expect(sys(U.SYS_munmap, w, 4 * P)).toBe(0);
    expect([add(fd, EXEC), seals(fd)]).toEqual([0, EXEC | FUTURE | WRITE | GROW | SHRINK]);
    const noexec = memfd(U.MFD_NOEXEC_SEAL);
    expect([add(noexec, EXEC), seals(noexec), pwrite(noexec, 10, 0), ok(mmap(P, U.PROT_READ | U.PROT_EXEC, U.MAP_SHARED, noexec))]).toEqual([0, EXEC, 10, 'ok']);
  });
});

describe('the selftest memfd_test.c and LTP memfd_create01/02 sequences', () => {
  it('test_create: names up to 249 bytes, EFAULT for NULL, EINVAL for unknown flags, ENODEV for a missing huge page size', () => {
    boot();
    const create = (name: number, flags: number) => {
      const r = h.call(t, U.SYS_memfd_create, name, flags);
      return r >= 0 ? 'ok' : e(r);
    };
    expect([create(str('a'.repeat(249)), 0), create(str('a'.repeat(250)), 0), create(0, 0)]).toEqual(['ok', 'EINVAL', 'EFAULT']);
    const flags = [0x100, ~U.MFD_CLOEXEC >>> 0, ~U.MFD_ALLOW_SEALING >>> 0, 0xffffffff, 0x80000000, U.MFD_HUGETLB | 0x80000000,
      U.MFD_CLOEXEC | U.MFD_ALLOW_SEALING, U.MFD_HUGETLB | (21 << 26), U.MFD_HUGETLB | (20 << 26)];
    expect(flags.map((f) => create(str(''), f))).toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'ENODEV', 'ok', 'ok', 'ENODEV']);
  });

  it('test_basic: seals only add up, F_SEAL_SEAL ends it; a private mapping of a write-sealed file may become writable', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    expect([add(fd, SHRINK | WRITE), seals(fd), add(fd, SHRINK | GROW), seals(fd)]).toEqual([0, SHRINK | WRITE, 0, SHRINK | GROW | WRITE]);
    expect([add(fd, SHRINK), add(fd, SEAL), add(fd, GROW), seals(fd)]).toEqual([0, 0, 'EPERM', SEAL | SHRINK | GROW | WRITE]);
    const p = mmap(4 * P, U.PROT_READ, U.MAP_PRIVATE, fd) as number;
    expect(sys(U.SYS_mprotect, p, 4 * P, RW)).toBe(0);
    expect(fault(p, true)).toBe('return');
    expect([sys(U.SYS_ftruncate, fd, 4 * P), pwrite(fd, 1, 0)]).toEqual([0, 'EPERM']);
  });

  it('share_dup and share_mmap (LTP memfd_create01): dups share the seals; a shared writable mapping stops F_SEAL_WRITE only', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    const fd2 = h.call(t, U.SYS_dup, fd);
    expect([add(fd, WRITE), seals(fd2), add(fd2, SHRINK), seals(fd), add(fd, SEAL), seals(fd2)]).toEqual([0, WRITE, 0, WRITE | SHRINK, 0, WRITE | SHRINK | SEAL]);
    expect([add(fd, GROW), add(fd2, GROW), add(fd, SEAL), add(fd2, SEAL), sys(U.SYS_close, fd2), add(fd, GROW)]).toEqual(['EPERM', 'EPERM', 'EPERM', 'EPERM', 0, 'EPERM']);
    const m = memfd(U.MFD_ALLOW_SEALING);
    const p = mmap(4 * P, RW, U.MAP_SHARED, m) as number;
    expect([add(m, WRITE), seals(m), add(m, SHRINK), seals(m), sys(U.SYS_munmap, p, 4 * P)]).toEqual(['EBUSY', 0, 0, SHRINK, 0]);
    const q = mmap(4 * P, U.PROT_READ, U.MAP_PRIVATE, m) as number;
    expect([add(m, WRITE), seals(m), sys(U.SYS_munmap, q, 4 * P)]).toEqual([0, WRITE | SHRINK, 0]);
  });

  it('gVisor memfd.cc: no seal of a refused F_SEAL_WRITE call is applied; partial writes under F_SEAL_GROW', () => {
    // gVisor's SealWriteWithMmap also expects a read-only MAP_SHARED mmap to be EPERM, as
    // Linux before 6.7 did; the host (6.18) maps it and takes VM_MAYWRITE away (above).
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING, P);
    const w = mmap(P, U.PROT_WRITE, U.MAP_SHARED, fd) as number;
    expect([add(fd, WRITE | GROW), seals(fd), sys(U.SYS_munmap, w, P)]).toEqual(['EBUSY', 0, 0]);
    expect([add(fd, GROW), sys(U.SYS_ftruncate, fd, 2 * P), sys(U.SYS_ftruncate, fd, P / 2), sys(U.SYS_ftruncate, fd, P)]).toEqual([0, 'EPERM', 0, 'EPERM']);
    const g = memfd(U.MFD_ALLOW_SEALING, (3 * P) / 4);
    expect([add(g, GROW), pwrite(g, P / 2, P / 2), pwrite(g, P / 4, P / 2)]).toEqual([0, 'EPERM', P / 4]);
  });

  it('share_fork: the seals are the inode\'s, so a seal the child adds is the parent\'s too', () => {
    boot();
    const fd = memfd(U.MFD_ALLOW_SEALING);
    const d = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'child', arg: null }));
    const dva = mmap(P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1) as number;
    copyToUser(h.k, t.proc.mm, dva, d, -1);
    const pid = h.call(t, U.SYS_clone, U.FORK_FLAGS, dva, d.length);
    const c = h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
    expect(h.call(c, U.SYS_fcntl, fd, U.F_ADD_SEALS, SHRINK)).toBe(0);
    expect(seals(fd)).toBe(SHRINK);
    expect(h.call(c, U.SYS_close, fd)).toBe(0);
    expect([add(fd, GROW), seals(fd), sys(U.SYS_ftruncate, fd, P)]).toEqual([0, SHRINK | GROW, 'EPERM']);
  });
});
