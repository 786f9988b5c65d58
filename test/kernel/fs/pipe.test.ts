// Pipes (kernel/fs/pipe.ts), driven through the system calls with the harness playing the
// CPUs. Expected values are the host kernel's (Linux 6.18) answers to the same calls, from
// small C programs (pipe2 flags, fcntl, fstat, FIONREAD, the fill patterns of non-blocking
// writes, F_SETPIPE_SZ, packet mode, EMFILE); blocking is checked by the answer a held
// request gets when the other side acts.
import { describe, expect, it } from 'vitest';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const errno = (r: number): number | string => (r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r);

/** A process with a 64-page buffer and a pipe made with `flags`: [read end, write end]. */
function setup(h: KernelHarness, flags = 0, t: Thread = h.spawn()): { t: Thread; buf: number; r: number; w: number } {
  const buf = h.call(t, U.SYS_mmap, 0, 64 * P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  expect(h.call(t, U.SYS_pipe2, buf, flags)).toBe(0);
  const fds = copyFromUser(h.k, t.proc.mm, buf, 8, -1) as Uint8Array;
  const dv = new DataView(fds.buffer);
  return { t, buf, r: dv.getInt32(0, true), w: dv.getInt32(4, true) };
}

/** Give process `to` the descriptor `fd` of process `from` at the same number (as fork or spawn would). */
function share(from: Thread, to: Thread, fd: number): void {
  const f = from.proc.fds.get(fd)!;
  f.refs++;
  to.proc.fds.installAt(fd, f, false);
}

/** A buffer of n bytes in t's memory. */
function mem(h: KernelHarness, t: Thread, n: number): number {
  return h.call(t, U.SYS_mmap, 0, Math.ceil(n / P) * P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
}

function fionread(h: KernelHarness, t: Thread, fd: number, buf: number): number {
  expect(h.call(t, U.SYS_ioctl, fd, U.FIONREAD, buf)).toBe(0);
  return new DataView((copyFromUser(h.k, t.proc.mm, buf, 4, -1) as Uint8Array).buffer).getInt32(0, true);
}

describe('pipe2 and the descriptors it makes', () => {
  it('answers as the host: flags, F_GETFL, fstat, FIONREAD, ESPIPE, ENODEV, EBADF on the wrong end', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const { t, buf, r, w } = setup(h);
    expect([r, w]).toEqual([3, 4]);
    expect([h.call(t, U.SYS_fcntl, r, U.F_GETFL), h.call(t, U.SYS_fcntl, w, U.F_GETFL), h.call(t, U.SYS_fcntl, w, U.F_GETPIPE_SZ)]).toEqual([0, 1, 65536]);
    expect(h.call(t, U.SYS_fstat, r, buf + P)).toBe(0);
    const st = new DataView((copyFromUser(h.k, t.proc.mm, buf + P, 144, -1) as Uint8Array).buffer);
    expect([st.getUint32(24, true).toString(8), Number(st.getBigUint64(16, true)), Number(st.getBigInt64(48, true)), Number(st.getBigInt64(56, true))]).toEqual(['10600', 1, 0, 4096]);
    const ino = Number(st.getBigUint64(8, true));
    expect(t.proc.fds.get(r)!.ops.dname!(t.proc.fds.get(r)!)).toBe(`pipe:[${ino}]`);
    copyToUser(h.k, t.proc.mm, buf, new TextEncoder().encode('hello'), -1);
    expect(h.call(t, U.SYS_write, w, buf, 5)).toBe(5);
    expect([fionread(h, t, r, buf + 2 * P), fionread(h, t, w, buf + 2 * P)]).toEqual([5, 5]);
    expect([
      h.call(t, U.SYS_ioctl, r, U.FIONREAD, 8), h.call(t, U.SYS_ioctl, r, 0x1234, 0), h.call(t, U.SYS_lseek, r, 0, U.SEEK_CUR),
      h.call(t, U.SYS_lseek, w, 0, U.SEEK_SET), h.call(t, U.SYS_pread64, r, buf, 1, 0), h.call(t, U.SYS_pwrite64, w, buf, 1, 0),
      h.call(t, U.SYS_mmap, 0, P, U.PROT_READ, U.MAP_SHARED, r, 0), h.call(t, U.SYS_mmap, 0, P, U.PROT_READ, U.MAP_PRIVATE, r, 0),
      h.call(t, U.SYS_read, w, buf, 1), h.call(t, U.SYS_write, r, buf, 1), h.call(t, U.SYS_read, r, buf, 0), h.call(t, U.SYS_write, w, buf, 0),
      h.call(t, U.SYS_read, r, buf + 100, 16), h.call(t, U.SYS_fcntl, 0, U.F_GETPIPE_SZ), h.call(t, U.SYS_fcntl, r, 9999),
    ].map(errno)).toEqual(['EFAULT', 'ENOTTY', 'ESPIPE', 'ESPIPE', 'ESPIPE', 'ESPIPE', 'ENODEV', 'ENODEV', 'EBADF', 'EBADF', 0, 0, 5, 'EBADF', 'EINVAL']);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('takes O_CLOEXEC, O_NONBLOCK and O_DIRECT (write end only); EINVAL, ENOPKG, EFAULT otherwise, leaving no descriptor', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const nb = setup(h, U.O_NONBLOCK | U.O_CLOEXEC, t);
    expect([h.call(t, U.SYS_fcntl, nb.r, U.F_GETFL), h.call(t, U.SYS_fcntl, nb.w, U.F_GETFL), h.call(t, U.SYS_fcntl, nb.r, U.F_GETFD)]).toEqual([2048, 2049, 1]);
    const d = setup(h, U.O_DIRECT, t);
    expect([h.call(t, U.SYS_fcntl, d.r, U.F_GETFL), h.call(t, U.SYS_fcntl, d.w, U.F_GETFL)]).toEqual([0, 16385]);
    const buf = nb.buf;
    expect([
      h.call(t, U.SYS_pipe2, buf, U.O_APPEND), h.call(t, U.SYS_pipe2, buf, U.O_RDWR), h.call(t, U.SYS_pipe2, buf, 0x80000000),
      h.call(t, U.SYS_pipe2, buf, U.O_NOATIME), h.call(t, U.SYS_pipe2, buf, U.O_NOTIFICATION_PIPE), h.call(t, U.SYS_pipe2, 8, 0),
      h.call(t, U.SYS_pipe, 8), h.call(t, U.SYS_pipe2, 8, 0x80000000), h.call(t, U.SYS_pipe2, -1, 0),
    ].map(errno)).toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'ENOPKG', 'EFAULT', 'EFAULT', 'EINVAL', 'EFAULT']);
    expect(h.call(t, U.SYS_dup, 0)).toBe(7); // the failed calls left 7 and 8 free
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('gives EMFILE when the second descriptor is over RLIMIT_NOFILE and leaves the first free (host: limit 10, 9 free only)', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const buf = mem(h, t, P);
    t.proc.mm.rlimits[U.RLIMIT_NOFILE] = [10, 10];
    for (let fd = 3; fd < 10; fd++) expect(h.call(t, U.SYS_dup, 0)).toBe(fd);
    expect(h.call(t, U.SYS_close, 9)).toBe(0);
    copyToUser(h.k, t.proc.mm, buf, new Uint8Array([0xf9, 0xff, 0xff, 0xff, 0xf9, 0xff, 0xff, 0xff]), -1);
    expect(errno(h.call(t, U.SYS_pipe, buf))).toBe('EMFILE');
    expect(new DataView((copyFromUser(h.k, t.proc.mm, buf, 8, -1) as Uint8Array).buffer).getInt32(0, true)).toBe(-7);
    expect(h.call(t, U.SYS_close, 8)).toBe(0);
    expect(h.call(t, U.SYS_pipe, buf)).toBe(0);
    expect(Array.from(new Int32Array((copyFromUser(h.k, t.proc.mm, buf, 8, -1) as Uint8Array).buffer))).toEqual([8, 9]);
    expect(h.kernel.vfs.pipefs.userBufs).toBe(16);
    h.killAll();
    expect(h.kernel.vfs.pipefs.userBufs).toBe(0);
    expect(h.leakedFrames()).toBe(0);
  });
});

describe('what a non-blocking write fits (the host fills)', () => {
  /** Write n bytes; the result, as a number or errno name. */
  const writer = (h: KernelHarness, s: ReturnType<typeof setup>) => (n: number) => errno(h.call(s.t, U.SYS_write, s.w, s.buf, n));
  const reader = (h: KernelHarness, s: ReturnType<typeof setup>) => (n: number) => errno(h.call(s.t, U.SYS_read, s.r, s.buf, n));
  const fill = (h: KernelHarness, s: ReturnType<typeof setup>): number => {
    let n = 0;
    while (h.call(s.t, U.SYS_write, s.w, s.buf, 1) === 1) n++;
    return n;
  };

  it('fills 16 pages: a page a slot, small writes merged into the newest page, writes of PIPE_BUF or less never split', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    let s = setup(h, U.O_NONBLOCK, t);
    expect(fill(h, s)).toBe(65536);
    expect(writer(h, s)(1)).toBe('EAGAIN');
    s = setup(h, U.O_NONBLOCK, t);
    const wr = writer(h, s);
    const rd = reader(h, s);
    expect([wr(100000), wr(1), rd(1), wr(1), wr(4095), rd(4095), wr(4096), wr(1)]).toEqual([65536, 'EAGAIN', 1, 'EAGAIN', 'EAGAIN', 4095, 4096, 'EAGAIN']);
    s = setup(h, U.O_NONBLOCK, t);
    expect([writer(h, s)(100), writer(h, s)(4000), writer(h, s)(100), fionread(h, t, s.r, s.buf + 32 * P), fill(h, s)]).toEqual([100, 4000, 100, 4200, 57244]);
    s = setup(h, U.O_NONBLOCK, t);
    expect([writer(h, s)(5000), fill(h, s)]).toEqual([5000, 60536]);
    s = setup(h, U.O_NONBLOCK, t);
    const w2 = writer(h, s);
    expect([w2(15 * 4096 + 100), w2(4096), w2(4097), w2(3996), w2(1)]).toEqual([61540, 'EAGAIN', 1, 'EAGAIN', 1]);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('packet mode (O_DIRECT): a write per slot, a read takes at most one packet and drops its rest', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const s = setup(h, U.O_DIRECT, t);
    copyToUser(h.k, t.proc.mm, s.buf, new TextEncoder().encode('abcdefgh'), -1);
    expect(h.call(t, U.SYS_write, s.w, s.buf, 3)).toBe(3);
    expect(h.call(t, U.SYS_write, s.w, s.buf + 3, 5)).toBe(5);
    expect(h.call(t, U.SYS_read, s.r, s.buf + P, 2)).toBe(2);
    expect(h.call(t, U.SYS_read, s.r, s.buf + P, 100)).toBe(5);
    expect(new TextDecoder().decode(copyFromUser(h.k, t.proc.mm, s.buf + P, 5, -1) as Uint8Array)).toBe('defgh');
    expect(h.call(t, U.SYS_write, s.w, s.buf, 5000)).toBe(5000);
    expect([h.call(t, U.SYS_read, s.r, s.buf + P, 10000), h.call(t, U.SYS_read, s.r, s.buf + P, 10000)]).toEqual([4096, 904]);
    const q = setup(h, U.O_DIRECT | U.O_NONBLOCK, t);
    let n = 0;
    while (h.call(t, U.SYS_write, q.w, q.buf, 1) === 1) n++;
    expect(n).toBe(16);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('F_SETPIPE_SZ rounds up to a power-of-two number of pages; EINVAL above 2 GiB, EBUSY below the slots in use, EPERM past pipe-max-size without CAP_SYS_RESOURCE', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const s = setup(h, U.O_NONBLOCK, t);
    const set = (n: number) => errno(h.call(t, U.SYS_fcntl, s.r, U.F_SETPIPE_SZ, n));
    expect([set(0), set(1), set(4097), h.call(t, U.SYS_fcntl, s.w, U.F_GETPIPE_SZ), set(65537), set(1 << 20), set(2 ** 31 + 1), set(-1), set(0x100001000)])
      .toEqual([4096, 4096, 8192, 8192, 131072, 1048576, 'EINVAL', 'EINVAL', 4096]);
    // The host's process lacks CAP_SYS_RESOURCE: past 1 MiB it was EPERM; root with it may go to 2 GiB (pipe_set_size).
    expect([set((1 << 20) + 1), set(2 ** 31)]).toEqual([2097152, 2 ** 31]);
    t.proc.caps.effective &= ~(1n << BigInt(U.CAP_SYS_RESOURCE));
    expect([set(4096), set((1 << 20) + 1), set(2 ** 31), set(1 << 20)]).toEqual([4096, 'EPERM', 'EPERM', 1048576]);
    expect([set(8192), h.call(t, U.SYS_write, s.w, s.buf, 5000), set(4096), h.call(t, U.SYS_read, s.r, s.buf, 4096), set(4096), h.call(t, U.SYS_read, s.r, s.buf, 4096)])
      .toEqual([8192, 5000, 'EBUSY', 4096, 4096, 904]);
    // A one-page pipe: 10000 bytes fit 4096; 10 then 4086 share the page.
    expect([h.call(t, U.SYS_write, s.w, s.buf, 10000), set(4096), errno(h.call(t, U.SYS_write, s.w, s.buf, 1))]).toEqual([4096, 4096, 'EAGAIN']);
    expect(h.call(t, U.SYS_read, s.r, s.buf, 5000)).toBe(4096);
    expect([h.call(t, U.SYS_write, s.w, s.buf, 10), h.call(t, U.SYS_write, s.w, s.buf, 4086), errno(h.call(t, U.SYS_write, s.w, s.buf, 1))]).toEqual([10, 4086, 'EAGAIN']);
    h.killAll();
    expect(h.kernel.vfs.pipefs.userBufs).toBe(0);
    expect(h.leakedFrames()).toBe(0);
  });

  it('F_SETFL changes O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME and O_ASYNC only; O_DIRECT is EINVAL on files without it; EBADF on O_PATH', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const s = setup(h, 0, t);
    const fl = (fd: number, v: number) => [h.call(t, U.SYS_fcntl, fd, U.F_SETFL, v), h.call(t, U.SYS_fcntl, fd, U.F_GETFL)].map(errno);
    expect(fl(s.r, U.O_NONBLOCK)).toEqual([0, 2048]);
    expect(errno(h.call(t, U.SYS_read, s.r, s.buf, 1))).toBe('EAGAIN');
    const all = U.O_NONBLOCK | U.O_RDWR | U.O_APPEND | U.O_DIRECT | U.O_NOATIME | U.O_CREAT | U.O_TRUNC | U.O_ASYNC | 0o4010000;
    expect([fl(s.r, all), fl(s.r, 0), fl(s.r, U.O_DIRECT), fl(s.r, 0x7fffffff)]).toEqual([[0, 289792], [0, 0], [0, 16384], [0, 289792]]);
    copyToUser(h.k, t.proc.mm, s.buf, new TextEncoder().encode('x\0'), -1);
    const mf = h.call(t, U.SYS_memfd_create, s.buf, 0);
    expect([fl(mf, U.O_DIRECT), fl(mf, U.O_ASYNC), errno(h.call(t, U.SYS_fcntl, mf, U.F_GETPIPE_SZ))]).toEqual([['EINVAL', 32770], [0, 32770], 'EBADF']);
    copyToUser(h.k, t.proc.mm, s.buf, new TextEncoder().encode('/tmp\0'), -1);
    const op = h.call(t, U.SYS_open, s.buf, U.O_PATH, 0);
    expect([fl(op, U.O_NONBLOCK), errno(h.call(t, U.SYS_fcntl, op, U.F_GETPIPE_SZ))]).toEqual([['EBADF', U.O_PATH], 'EBADF']);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});

describe('blocking', () => {
  it('a reader of an empty pipe waits for a write, then for the last writer to close (0)', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const w = h.spawn();
    share(s.t, w, s.w);
    const wbuf = mem(h, w, P);
    expect(h.call(s.t, U.SYS_close, s.w)).toBe(0);
    expect(h.syscall(s.t, U.SYS_read, s.r, s.buf, 100).kind).toBe('blocked');
    copyToUser(h.k, w.proc.mm, wbuf, new TextEncoder().encode('ping'), -1);
    expect(h.call(w, U.SYS_write, s.w, wbuf, 4)).toBe(4);
    expect(h.answer(s.t)).toEqual({ kind: 'return', value: 4 });
    expect(new TextDecoder().decode(copyFromUser(h.k, s.t.proc.mm, s.buf, 4, -1) as Uint8Array)).toBe('ping');
    expect(h.syscall(s.t, U.SYS_read, s.r, s.buf, 100).kind).toBe('blocked');
    expect(h.call(w, U.SYS_close, s.w)).toBe(0);
    expect(h.answer(s.t)).toEqual({ kind: 'return', value: 0 });
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('a writer of a full pipe waits for room and completes its whole write; reads drain it in order', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const w = h.spawn();
    share(s.t, w, s.w);
    const wbuf = mem(h, w, 100000);
    const data = new Uint8Array(100000).map((_, i) => (i * 7) & 0xff);
    copyToUser(h.k, w.proc.mm, wbuf, data, -1);
    expect(h.syscall(w, U.SYS_write, s.w, wbuf, 100000).kind).toBe('blocked');
    const got: number[] = [];
    let n = 0;
    while (n < 100000) {
      const r = h.call(s.t, U.SYS_read, s.r, s.buf, 30000);
      got.push(...(copyFromUser(h.k, s.t.proc.mm, s.buf, r, -1) as Uint8Array));
      n += r;
    }
    expect(h.answer(w)).toEqual({ kind: 'return', value: 100000 });
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('a blocked writer whose last reader goes gets SIGPIPE (killed by default; EPIPE or its count if ignored)', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const w = h.spawn();
    share(s.t, w, s.w);
    const wbuf = mem(h, w, 70000);
    expect(h.syscall(w, U.SYS_write, s.w, wbuf, 70000).kind).toBe('blocked');
    expect(h.call(s.t, U.SYS_close, s.r)).toBe(0);
    expect(h.answer(w)).toEqual({ kind: 'exit' });
    expect(h.messages.some((m) => m.t === 'procexit' && m.pid === w.proc.pid && m.status === U.wSignalStatus(U.SIGPIPE))).toBe(true);
    const s2 = setup(h, 0, s.t);
    const w2 = h.spawn();
    share(s2.t, w2, s2.w);
    const wbuf2 = mem(h, w2, 70000);
    expect(h.call(w2, U.SYS_rt_sigaction, U.SIGPIPE, 1)).toBe(0);
    expect(h.syscall(w2, U.SYS_write, s2.w, wbuf2, 70000).kind).toBe('blocked');
    expect(h.call(s2.t, U.SYS_close, s2.r)).toBe(0);
    expect(h.answer(w2)).toEqual({ kind: 'return', value: 65536 });
    expect(errno(h.call(w2, U.SYS_write, s2.w, wbuf2, 1))).toBe('EPIPE');
    expect(h.call(w2, U.SYS_write, s2.w, wbuf2, 0)).toBe(0); // a null write succeeds, readers or not
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('a write with no reader is SIGPIPE: the default kills the writer, an ignored one gives EPIPE', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    expect(h.call(s.t, U.SYS_close, s.r)).toBe(0);
    expect(h.syscall(s.t, U.SYS_write, s.w, s.buf, 1)).toEqual({ kind: 'exit' });
    expect(s.t.proc.state).not.toBe('live');
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('a blocked reader killed by SIGKILL or SIGTERM from elsewhere leaves the queue; the others are served', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const r1 = h.spawn();
    const r2 = h.spawn();
    for (const x of [r1, r2]) share(s.t, x, s.r);
    const b1 = mem(h, r1, P);
    const b2 = mem(h, r2, P);
    expect(h.syscall(r1, U.SYS_read, s.r, b1, 10).kind).toBe('blocked');
    expect(h.syscall(r2, U.SYS_read, s.r, b2, 10).kind).toBe('blocked');
    // A signal whose action is to ignore it (SIGCHLD's default) leaves the call blocked.
    expect(h.call(s.t, U.SYS_kill, r1.proc.pid, U.SIGCHLD)).toBe(0);
    expect(h.answer(r1).kind).toBe('blocked');
    expect(h.call(s.t, U.SYS_kill, r1.proc.pid, U.SIGKILL)).toBe(0);
    h.pump();
    expect(h.answer(r1)).toEqual({ kind: 'exit' });
    const pipe = (s.t.proc.fds.get(s.r) as unknown as { pipe: { rdWait: unknown[]; readers: number } }).pipe;
    expect(pipe.rdWait.length).toBe(1);
    copyToUser(h.k, s.t.proc.mm, s.buf, new TextEncoder().encode('abc'), -1);
    expect(h.call(s.t, U.SYS_write, s.w, s.buf, 3)).toBe(3);
    expect(h.answer(r2)).toEqual({ kind: 'return', value: 3 });
    expect(h.syscall(r2, U.SYS_read, s.r, b2, 10).kind).toBe('blocked');
    expect(h.call(s.t, U.SYS_kill, r2.proc.pid, U.SIGTERM)).toBe(0);
    expect(h.answer(r2)).toEqual({ kind: 'exit' });
    expect(pipe.rdWait.length).toBe(0);
    expect(pipe.readers).toBe(1);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('a descriptor closed while its thread blocks on it: the call holds the file and completes', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const r = h.spawn();
    share(s.t, r, s.r);
    const b = mem(h, r, P);
    expect(h.syscall(r, U.SYS_read, s.r, b, 10).kind).toBe('blocked');
    r.proc.fds.close(s.r); // as another thread of r would
    expect(h.call(s.t, U.SYS_close, s.r)).toBe(0);
    expect(h.call(s.t, U.SYS_write, s.w, s.buf, 5)).toBe(5); // a reader is still there: the blocked call's
    expect(h.answer(r)).toEqual({ kind: 'return', value: 5 });
    expect(errno(h.call(s.t, U.SYS_rt_sigaction, U.SIGPIPE, 1))).toBe(0);
    expect(errno(h.call(s.t, U.SYS_write, s.w, s.buf, 5))).toBe('EPIPE');
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});

describe('copies that meet a bad page part way (copy_to_user and copy_from_user short counts)', () => {
  it('a pipe copies whole buffers: a fault in the first is EFAULT and the data stays; after whole pages, their count (host answers)', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    const m = mem(h, t, 3 * P);
    expect(h.call(t, U.SYS_mprotect, m + P, P, U.PROT_NONE)).toBe(0);
    const edge = m + P - 100;
    const m2 = mem(h, t, 3 * P);
    expect(h.call(t, U.SYS_mprotect, m2 + 2 * P, P, U.PROT_NONE)).toBe(0);
    const data = mem(h, t, 3 * P);
    const c = (nr: number, ...a: number[]) => errno(h.call(t, nr, ...a));
    const p = setup(h, U.O_NONBLOCK, t);
    expect([c(U.SYS_write, p.w, edge, 1000), fionread(h, t, p.r, data), c(U.SYS_write, p.w, data, 50), c(U.SYS_write, p.w, edge, 1000), fionread(h, t, p.r, data)])
      .toEqual(['EFAULT', 0, 50, 'EFAULT', 50]);
    const p2 = setup(h, U.O_NONBLOCK, t);
    expect([c(U.SYS_write, p2.w, m2 + 100, 10000), fionread(h, t, p2.r, data), c(U.SYS_write, p2.w, m2, 10000), fionread(h, t, p2.r, data)])
      .toEqual([4096, 4096, 8192, 12288]);
    const p3 = setup(h, U.O_NONBLOCK, t);
    expect(h.call(t, U.SYS_write, p3.w, data, 1000)).toBe(1000);
    expect([c(U.SYS_read, p3.r, edge, 1000), fionread(h, t, p3.r, data)]).toEqual(['EFAULT', 1000]);
    const p4 = setup(h, U.O_NONBLOCK, t);
    expect([h.call(t, U.SYS_write, p4.w, data, 4096), h.call(t, U.SYS_write, p4.w, data, 200)]).toEqual([4096, 200]);
    expect([c(U.SYS_read, p4.r, m2 + P - 50, 10000), fionread(h, t, p4.r, data), c(U.SYS_read, p4.r, m2 + P, 10000)]).toEqual([4096, 200, 200]);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});

describe('cases of LTP (testcases/kernel/syscalls/pipe) and gVisor (test/syscalls/linux/pipe.cc)', () => {
  it('LTP pipe12: a non-blocking write to a pipe holding a byte takes the 15 free pages; host: 61440, FIONREAD 61441', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h, U.O_NONBLOCK);
    expect(h.call(s.t, U.SYS_write, s.w, s.buf, 1)).toBe(1);
    expect(h.call(s.t, U.SYS_write, s.w, s.buf, 65536 + 4096)).toBe(61440);
    expect(fionread(h, s.t, s.w, s.buf)).toBe(61441);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('LTP pipe13: the last writer closing wakes every blocked reader (27 processes) with end of file', () => {
    const h = new KernelHarness({ memBytes: 32 << 20, nrCpus: 32, maxProcs: 64 });
    const s = setup(h);
    const readers = Array.from({ length: 27 }, () => h.spawn());
    for (const r of readers) {
      share(s.t, r, s.r);
      expect(h.syscall(r, U.SYS_read, s.r, mem(h, r, P), 1).kind).toBe('blocked');
    }
    expect(h.call(s.t, U.SYS_close, s.r)).toBe(0);
    expect(h.call(s.t, U.SYS_close, s.w)).toBe(0);
    for (const r of readers) expect(h.answer(r)).toEqual({ kind: 'return', value: 0 });
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('LTP pipe15: over pipe-user-pages-soft an unprivileged user gets 2-slot pipes, and a page-sized write after a read does not block', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const t = h.spawn();
    t.proc.caps.effective &= ~((1n << BigInt(U.CAP_SYS_RESOURCE)) | (1n << BigInt(U.CAP_SYS_ADMIN)));
    h.kernel.vfs.pipefs.userPagesSoft = 64; // the host's 16384 would take 1024 pipes: same rule, fewer pipes
    let s = setup(h, 0, t);
    for (let i = 0; i < 4; i++) s = setup(h, 0, t);
    expect(h.call(t, U.SYS_fcntl, s.w, U.F_GETPIPE_SZ)).toBe(8192);
    expect(h.call(t, U.SYS_write, s.w, s.buf, 8192)).toBe(8192);
    expect(h.call(t, U.SYS_read, s.r, s.buf, 8191)).toBe(8191);
    expect(h.syscall(t, U.SYS_write, s.w, s.buf, 1)).toEqual({ kind: 'return', value: 1 });
    expect(h.call(t, U.SYS_read, s.r, s.buf, 2)).toBe(2);
    // Growing past the soft limit unprivileged is EPERM (pipe_set_size); shrinking is allowed.
    expect(errno(h.call(t, U.SYS_fcntl, s.w, U.F_SETPIPE_SZ, 16384))).toBe('EPERM');
    expect(h.call(t, U.SYS_fcntl, s.w, U.F_SETPIPE_SZ, 4096)).toBe(4096);
    h.killAll();
    expect(h.kernel.vfs.pipefs.userBufs).toBe(0);
    expect(h.leakedFrames()).toBe(0);
  });

  it('gVisor BlockWriteClosed and BlockPartialWriteClosed: a blocked write ends with EPIPE, or its count, when the reader closes', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const w = h.spawn();
    share(s.t, w, s.w);
    expect(h.call(w, U.SYS_rt_sigaction, U.SIGPIPE, 1)).toBe(0);
    const wbuf = mem(h, w, 2 * 65536);
    expect(h.call(w, U.SYS_write, s.w, wbuf, 65536)).toBe(65536); // exactly full
    expect(h.syscall(w, U.SYS_write, s.w, wbuf, 1).kind).toBe('blocked');
    expect(h.call(s.t, U.SYS_close, s.r)).toBe(0);
    expect(h.answer(w)).toEqual({ kind: 'return', value: -U.EPIPE });
    const s2 = setup(h, 0, s.t);
    share(s2.t, w, s2.w);
    expect(h.syscall(w, U.SYS_write, s2.w, wbuf, 2 * 65536).kind).toBe('blocked');
    expect(h.call(s2.t, U.SYS_close, s2.r)).toBe(0);
    expect(h.answer(w)).toEqual({ kind: 'return', value: 65536 });
    expect(errno(h.call(w, U.SYS_write, s2.w, wbuf, 2 * 65536))).toBe('EPIPE');
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('gVisor Seek, OffsetCalls, CloseTwice, SizeChange(Max, Full), BadOptions; host answers for the same', () => {
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const t = s.t;
    const c = (nr: number, ...a: number[]) => errno(h.call(t, nr, ...a));
    for (const fd of [s.r, s.w]) {
      expect([c(U.SYS_lseek, fd, 0, U.SEEK_SET), c(U.SYS_lseek, fd, 4, U.SEEK_CUR), c(U.SYS_lseek, fd, -4, U.SEEK_END)]).toEqual(['ESPIPE', 'ESPIPE', 'ESPIPE']);
    }
    expect([c(U.SYS_pread64, s.w, s.buf, 4, 0), c(U.SYS_pwrite64, s.r, s.buf, 4, 0), c(U.SYS_pipe2, s.buf, 0xdead)]).toEqual(['ESPIPE', 'ESPIPE', 'EINVAL']);
    expect([c(U.SYS_fcntl, s.r, U.F_SETPIPE_SZ, 0x7fffffffffffffff), c(U.SYS_fcntl, s.w, U.F_SETPIPE_SZ, 0xffffffff)]).toEqual(['EINVAL', 'EINVAL']);
    expect(c(U.SYS_fcntl, s.w, U.F_SETPIPE_SZ, 65536 + 65536)).toBe(131072);
    expect(c(U.SYS_write, s.w, s.buf, 32 * P)).toBe(32 * P); // full
    expect(c(U.SYS_fcntl, s.w, U.F_SETPIPE_SZ, 65536)).toBe('EBUSY');
    expect([c(U.SYS_close, s.r), c(U.SYS_close, s.w), c(U.SYS_close, s.r), c(U.SYS_close, s.w)]).toEqual([0, 0, 'EBADF', 'EBADF']);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('gVisor ProcSelfFd.OpenFd: /proc/self/fd/N of a pipe opens another end of the same pipe, never waiting or ENXIO (host answers)', () => {
    // Host (6.18): each open succeeds, F_GETFL 0x8000/0x8001/0x8002 (O_LARGEFILE added), data
    // written through one end is read through the other, and O_WRONLY|O_NONBLOCK succeeds even
    // with no reader left (fifo_open waits for no partner on a pipefs inode).
    const h = new KernelHarness({ memBytes: 16 << 20 });
    const s = setup(h);
    const t = s.t;
    const open = (fd: number, flags: number): number => {
      copyToUser(h.k, t.proc.mm, s.buf + 1024, new TextEncoder().encode(`/proc/self/fd/${fd}\0`), -1);
      return h.call(t, U.SYS_open, s.buf + 1024, flags, 0);
    };
    const r2 = open(s.r, U.O_RDONLY);
    const w2 = open(s.w, U.O_WRONLY);
    const rw = open(s.r, U.O_RDWR);
    expect([r2, w2, rw].map((fd) => h.call(t, U.SYS_fcntl, fd, U.F_GETFL, 0))).toEqual([0x8000, 0x8001, 0x8002]);
    copyToUser(h.k, t.proc.mm, s.buf, new TextEncoder().encode('hi'), -1);
    expect(h.call(t, U.SYS_write, w2, s.buf, 2)).toBe(2);
    expect(h.call(t, U.SYS_read, s.r, s.buf + 8, 8)).toBe(2);
    expect(h.call(t, U.SYS_write, s.w, s.buf, 2)).toBe(2);
    expect(h.call(t, U.SYS_read, r2, s.buf + 8, 8)).toBe(2);
    for (const fd of [s.r, r2, rw]) expect(h.call(t, U.SYS_close, fd)).toBe(0);
    const w3 = open(s.w, U.O_WRONLY | U.O_NONBLOCK);
    expect(h.call(t, U.SYS_fcntl, w3, U.F_GETFL, 0)).toBe(0x8801);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});

describe('pipe_write out of memory', () => {
  it('a buffer page the allocator cannot find brings the OOM killer, not ENOMEM: the biggest process dies, the write goes on', () => {
    const h = new KernelHarness({ memBytes: 8 << 20 });
    const { t, buf, w } = setup(h);
    // The writer's data is in memory before the hog takes the rest.
    for (let i = 0; i < 16; i++) expect(h.fault(t, buf + i * P, 6)).toEqual({ kind: 'return', value: 0 });
    const hog = h.spawn('/hog.ts');
    const area = h.call(hog, U.SYS_mmap, 0, 8 << 20, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    let va = area;
    while (h.k.pages.nrFree > h.k.pages.wmark.min + 1) {
      expect(h.fault(hog, va, 6)).toEqual({ kind: 'return', value: 0 });
      va += P;
    }
    expect(h.call(t, U.SYS_write, w, buf, 16 * P)).toBe(16 * P);
    expect(hog.proc.state).not.toBe('live');
    expect(h.k.events.oomKill).toBe(1);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});
