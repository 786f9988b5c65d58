// A process driven system call by system call through the KernelHarness, for the port of
// gVisor's test/syscalls/linux/mmap.cc (gvisor-mmap.test.ts, gvisor-mmap-file.test.ts).
// Guest loads and stores are copyFromUser and copyToUser, which fault pages in as the
// guest's access would and give EFAULT where the guest would get a signal.
import { expect } from 'vitest';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

export const P = 4096;
export const RW = U.PROT_READ | U.PROT_WRITE;
export const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

/** A raw result as gVisor's matchers see it: the errno's name, or the value. */
export function errno(r: number): string | number {
  return r < 0 && r > -4096 ? U.ERRNO_NAMES[-r] : r;
}

/** `n` bytes of `ch` (a character or a byte value). */
export function bytesOf(ch: string | number, n: number): Uint8Array {
  return new Uint8Array(n).fill(typeof ch === 'number' ? ch : ch.charCodeAt(0));
}

export class Guest {
  readonly h: KernelHarness;
  readonly t: Thread;
  /** A page of the guest's own for path names and rlimit structures. */
  private readonly scratch: number;

  constructor(memBytes = 64 << 20) {
    this.h = new KernelHarness({ memBytes });
    this.t = this.h.spawn();
    this.scratch = this.call(U.SYS_mmap, 0, P, RW, ANON, -1, 0);
  }

  call(nr: number, ...args: number[]): number {
    return this.h.call(this.t, nr, ...args);
  }

  mmap(addr: number, len: number, prot: number, flags: number, fd = -1, off = 0): number {
    return this.call(U.SYS_mmap, addr, len, prot, flags, fd, off);
  }

  /** The guest address of NUL-terminated `s` (in the scratch page). */
  str(s: string): number {
    expect(copyToUser(this.h.k, this.t.proc.mm, this.scratch, new TextEncoder().encode(`${s}\0`), this.t.cpu)).toBe(0);
    return this.scratch;
  }

  open(path: string, flags: number, mode = 0o644): number {
    return this.call(U.SYS_open, this.str(path), flags, mode);
  }

  /** A guest load of len bytes at va: the bytes, or -EFAULT where the guest would get a signal. */
  peek(va: number, len: number): Uint8Array | number {
    return copyFromUser(this.h.k, this.t.proc.mm, va, len, this.t.cpu);
  }

  /** A guest store of bytes at va: 0, or -EFAULT where the guest would get a signal. */
  poke(va: number, bytes: Uint8Array | string): number {
    const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
    return copyToUser(this.h.k, this.t.proc.mm, va, b, this.t.cpu);
  }

  /** write(2) (pos null) or pwrite64(2) of data, from a buffer mapped for the call. */
  write(fd: number, data: Uint8Array | string, pos: number | null = null): number {
    const b = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const buf = this.mmap(0, Math.max(b.length, 1), RW, ANON);
    expect(this.poke(buf, b)).toBe(0);
    const r = pos === null ? this.call(U.SYS_write, fd, buf, b.length) : this.call(U.SYS_pwrite64, fd, buf, b.length, pos);
    expect(this.call(U.SYS_munmap, buf, Math.max(b.length, 1))).toBe(0);
    return r;
  }

  /** read(2) (pos null) or pread64(2) of up to len bytes: the bytes, or -errno. */
  read(fd: number, len: number, pos: number | null = null): Uint8Array | number {
    const buf = this.mmap(0, Math.max(len, 1), RW, ANON);
    const r = pos === null ? this.call(U.SYS_read, fd, buf, len) : this.call(U.SYS_pread64, fd, buf, len, pos);
    const out = r < 0 ? r : this.peek(buf, r);
    expect(this.call(U.SYS_munmap, buf, Math.max(len, 1))).toBe(0);
    return out;
  }

  /** setrlimit(2) (pid null) or prlimit64(2) on pid with a new [soft, hard] (Infinity: RLIM_INFINITY). */
  setrlimit(resource: number, soft: number, hard: number, pid: number | null = null): number {
    const b = new Uint8Array(16);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, soft === Infinity ? 2n ** 64n - 1n : BigInt(soft), true);
    dv.setBigUint64(8, hard === Infinity ? 2n ** 64n - 1n : BigInt(hard), true);
    expect(copyToUser(this.h.k, this.t.proc.mm, this.scratch + 256, b, this.t.cpu)).toBe(0);
    return pid === null ? this.call(U.SYS_setrlimit, resource, this.scratch + 256) : this.call(U.SYS_prlimit64, pid, resource, this.scratch + 256, 0);
  }

  /** The text of a file (a /proc file included), read whole. */
  readFile(path: string): string {
    const fd = this.open(path, U.O_RDONLY);
    expect(fd).toBeGreaterThanOrEqual(0);
    const r = this.read(fd, 1 << 16);
    this.call(U.SYS_close, fd);
    return typeof r === 'number' ? '' : new TextDecoder().decode(r);
  }

  /** fstat(2)'s inode number of fd. */
  ino(fd: number): number {
    const buf = this.mmap(0, P, RW, ANON);
    expect(this.call(U.SYS_fstat, fd, buf)).toBe(0);
    const b = this.peek(buf, 16) as Uint8Array;
    expect(this.call(U.SYS_munmap, buf, P)).toBe(0);
    return Number(new DataView(b.buffer, b.byteOffset).getBigUint64(8, true));
  }

  /** The lines of /proc/self/maps for VMAs starting in [lo, hi), the addresses made relative to lo. */
  mapsIn(lo: number, hi: number): string[] {
    return this.readFile('/proc/self/maps').split('\n').filter((l) => {
      const start = parseInt(l, 16);
      return l !== '' && start >= lo && start < hi;
    }).map((l) => {
      const [range, ...rest] = l.split(' ');
      const [a, b] = range.split('-').map((x) => (parseInt(x, 16) - lo).toString(16));
      return [`+${a}-+${b}`, ...rest].join(' ').replace(/ +/g, ' ').trim();
    });
  }

  /** Install a handler for sig, so that a failed fault answers with the signal, si_code and address. */
  handle(sig: number): void {
    expect(this.call(U.SYS_rt_sigaction, sig, 2)).toBeGreaterThanOrEqual(0);
  }

  /** End the process; no frame may be left. */
  finish(): void {
    this.h.killAll();
    expect(this.h.leakedFrames()).toBe(0);
  }
}
