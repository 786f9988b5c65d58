// Pipes (fs/pipe.c): the pipe itself (pipe_inode_info), its two open files, and reading
// and writing them, blocking included.
//
// A pipe is a ring of at most `maxUsage` buffers (slots), each a frame with an offset and
// a length, as Linux's: a write first appends its last `len % 4096` bytes to the newest
// buffer if they fit there (so small writes share a page), then fills fresh pages, one slot
// each; a read takes from the oldest buffer. A write of at most PIPE_BUF bytes therefore
// lands in one buffer, never interleaved with another write. Packet mode (O_DIRECT on the
// write end) never merges, and a read takes at most one packet. Freed pages are kept, two
// at most, for the next writes (tmp_page[]).
//
// Blocking: the kernel thread never waits. A read of an empty pipe with writers, or a
// write to a full one with readers, queues the thread on rdWait or wrWait, marks it
// blocked and returns undefined, leaving its request posted; whatever changes the pipe
// (a read, a write, a close, a resize) serves the queues in order, copying to or from the
// blocked thread's memory (charged to it: ModelClock.onBehalfOf), and replies for it when
// its call is complete. A queued thread holds a reference to its file (as the call's fdget
// would). If its process dies first, exit's endThread calls `cancel`, which takes it off
// the queue.
//
// Threading: kernel thread only, one request at a time.

import type { Kernel } from '../kernel.ts';
import {
  allocPages, copyFromUserPartial, copyToUser, copyToUserPartial, GFP_USER, type Kmm, mmHeldAgainst, reclaimForAllocation, waitForMm,
} from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { File, type FileOps, fput, type UserIo } from './file.ts';

/** Slots of a new pipe (PIPE_DEF_BUFFERS), and of one made over the soft limit (PIPE_MIN_DEF_BUFFERS). */
export const PIPE_DEF_BUFFERS = 16;
const PIPE_MIN_DEF_BUFFERS = 2;
const PAGE = 4096;

/**
 * The pipe filesystem's state, one per kernel (pipefs and its sysctls): inode numbers,
 * the pages all pipes have accounted (one user: every ptlab process is root), and
 * /proc/sys/fs/pipe-max-size, pipe-user-pages-soft and -hard at their defaults.
 */
export class PipeFs {
  nextIno = 1;
  userBufs = 0;
  maxSize = 1 << 20;
  userPagesSoft = 16384;
  userPagesHard = 0;
}

/** One slot of the ring (struct pipe_buffer): bytes [offset, offset + len) of frame pfn. */
interface PipeBuffer {
  pfn: number;
  offset: number;
  len: number;
  /** Written in packet mode (PIPE_BUF_FLAG_PACKET); else later writes may merge into it. */
  packet: boolean;
}

/** A thread blocked in read or write: its file, its buffer, and the bytes moved so far. */
interface PipeWaiter {
  readonly t: Thread;
  readonly f: PipeFile;
  readonly buf: number;
  readonly len: number;
  done: number;
}

export class Pipe {
  readonly ino: number;
  /** The ring, oldest (tail) first. */
  readonly bufs: PipeBuffer[] = [];
  /** Most slots in use (max_usage), and the slots accounted to the user (nr_accounted). */
  maxUsage: number;
  nrAccounted: number;
  readers = 1;
  writers = 1;
  /** Open files of the pipe; at 0 it is freed. */
  files = 2;
  /** Freed pages kept for the next writes (tmp_page[2]). */
  readonly tmpPages: number[] = [];
  readonly rdWait: PipeWaiter[] = [];
  readonly wrWait: PipeWaiter[] = [];
  /** Serving the queues now; `again` asks the loop for another round. */
  waking = false;
  again = false;
  /** File references of waiters to drop once the queues are served. */
  readonly puts: File[] = [];

  constructor(ino: number, slots: number) {
    [this.ino, this.maxUsage, this.nrAccounted] = [ino, slots, slots];
  }

  get full(): boolean {
    return this.bufs.length >= this.maxUsage;
  }

  /** Bytes waiting (FIONREAD). */
  get bytes(): number {
    let n = 0;
    for (const b of this.bufs) n += b.len;
    return n;
  }
}

/** An end of a pipe: O_RDONLY for the read end, O_WRONLY for the write end. */
export class PipeFile extends File {
  readonly pipe: Pipe;
  /** The kernel, for release, which wakes (and may reply to) the other side's waiters. */
  readonly kn: Kernel;

  constructor(pipe: Pipe, kn: Kernel, flags: number) {
    super(PIPE_FOPS, flags);
    this.pipe = pipe;
    this.kn = kn;
  }
}

/** unprivileged for pipe accounting: neither CAP_SYS_RESOURCE nor CAP_SYS_ADMIN. */
export function pipeUnprivileged(t: Thread): boolean {
  return !t.proc.capable(U.CAP_SYS_RESOURCE) && !t.proc.capable(U.CAP_SYS_ADMIN);
}

/**
 * alloc_pipe_info: a pipe of 16 slots (fewer above pipe-max-size without CAP_SYS_RESOURCE,
 * 2 over the soft limit when unprivileged), accounted to the user; null over the hard limit.
 */
export function allocPipe(fs: PipeFs, t: Thread): Pipe | null {
  let slots = PIPE_DEF_BUFFERS;
  if (slots * PAGE > fs.maxSize && !t.proc.capable(U.CAP_SYS_RESOURCE)) slots = fs.maxSize / PAGE;
  fs.userBufs += slots;
  if (fs.userPagesSoft !== 0 && fs.userBufs > fs.userPagesSoft && pipeUnprivileged(t)) {
    fs.userBufs += PIPE_MIN_DEF_BUFFERS - slots;
    slots = PIPE_MIN_DEF_BUFFERS;
  }
  if (fs.userPagesHard !== 0 && fs.userBufs > fs.userPagesHard && pipeUnprivileged(t)) {
    fs.userBufs -= slots;
    return null;
  }
  return new Pipe(fs.nextIno++, slots);
}

/**
 * A page for a new buffer: a kept one, or a new frame (reclaiming first if memory is at its
 * min watermark, as a tmpfs write does between pages: nothing is half done here). If
 * reclaim cannot make room, the OOM killer acts, as the page allocator's slow path does for
 * an order-0 allocation (it does not fail those), and the allocation is tried again; -1 if
 * there is still none, or if the writer itself was the victim.
 */
function getPage(k: Kmm, p: Pipe, w: PipeWaiter): number {
  const alloc = (): number => {
    let pfn = allocPages(k, 0, GFP_USER);
    while (pfn < 0 && reclaimForAllocation(k)) pfn = allocPages(k, 0, GFP_USER);
    return pfn;
  };
  const kept = p.tmpPages.pop();
  if (kept !== undefined) return kept;
  const pfn = alloc();
  if (pfn >= 0 || k.oom === null) return pfn;
  k.oom.outOfMemory(w.t.proc.mm, w.t.cpu, 0);
  return w.t.dying ? -1 : alloc();
}

/** A buffer's page is free again: kept if fewer than two are, else back to the allocator. */
function putPage(k: Kmm, p: Pipe, pfn: number): void {
  if (p.tmpPages.length < 2) p.tmpPages.push(pfn);
  else k.pages.putPage(pfn);
}

/**
 * Move bytes from the ring to t's buffer (pipe_read's loop without the waiting): the bytes
 * copied, 0 if the pipe is empty, or -EFAULT if the first buffer could not be copied
 * whole (a buffer that faults part way stays in the pipe).
 */
function readNow(k: Kmm, p: Pipe, t: Thread, buf: number, len: number): number {
  let ret = 0;
  let want = len;
  while (p.bufs.length > 0) {
    const b = p.bufs[0];
    const chars = Math.min(b.len, want);
    const at = b.pfn * PAGE + b.offset;
    if (copyToUserPartial(k, t.proc.mm, buf + ret, k.mem.u8.subarray(at, at + chars), t.cpu) < chars) return ret > 0 ? ret : -U.EFAULT;
    ret += chars;
    b.offset += chars;
    b.len -= chars;
    // A packet is read once: what did not fit is dropped, and the read ends there.
    if (b.packet) {
      b.len = 0;
      want = chars;
    }
    if (b.len === 0) {
      p.bufs.shift();
      putPage(k, p, b.pfn);
    }
    want -= chars;
    if (want === 0) break;
  }
  return ret;
}

/**
 * pipe_write's first step: the last len % 4096 bytes of a write join the newest buffer if
 * they fit in its page. The bytes taken (0 if they did not fit), or -EFAULT.
 */
function mergeWrite(k: Kmm, p: Pipe, w: PipeWaiter): number {
  const chars = w.len % PAGE;
  const last = p.bufs[p.bufs.length - 1];
  if (chars === 0 || last === undefined || last.packet || last.offset + last.len + chars > PAGE) return 0;
  const data = copyFromUserPartial(k, w.t.proc.mm, w.buf, chars, w.t.cpu);
  if (data.length < chars) return -U.EFAULT;
  k.mem.u8.set(data, last.pfn * PAGE + last.offset + last.len);
  last.len += chars;
  return chars;
}

/** What writeMore decided: the call's result, or that it waits for room. */
const WRITE_BLOCK = 'block';
const WRITE_SIGPIPE = 'sigpipe';

/**
 * pipe_write's loop: fresh pages while there are slots, until the write is done. The
 * result (bytes, or -errno if none moved), WRITE_SIGPIPE when the readers are gone, or
 * WRITE_BLOCK when the pipe is full and the write may wait.
 */
function writeMore(k: Kmm, p: Pipe, w: PipeWaiter): number | typeof WRITE_BLOCK | typeof WRITE_SIGPIPE {
  for (;;) {
    if (p.readers === 0) return WRITE_SIGPIPE;
    if (p.full) return (w.f.flags & U.O_NONBLOCK) !== 0 ? (w.done > 0 ? w.done : -U.EAGAIN) : WRITE_BLOCK;
    const pfn = getPage(k, p, w);
    if (pfn < 0) return w.done > 0 ? w.done : -U.ENOMEM;
    const want = Math.min(PAGE, w.len - w.done);
    const data = copyFromUserPartial(k, w.t.proc.mm, w.buf + w.done, want, w.t.cpu);
    if (data.length < want) {
      putPage(k, p, pfn);
      return w.done > 0 ? w.done : -U.EFAULT;
    }
    k.mem.u8.set(data, pfn * PAGE);
    p.bufs.push({ pfn, offset: 0, len: want, packet: (w.f.flags & U.O_DIRECT) !== 0 });
    w.done += want;
    if (w.done === w.len) return w.done;
  }
}

/** read(2) of a pipe's read end: bytes read, 0 at end of file, -EAGAIN, or undefined (blocked). */
function pipeRead(f: File, kn: Kernel, t: Thread, buf: number, len: number): number | undefined {
  const pf = f as PipeFile;
  const p = pf.pipe;
  const r = readNow(kn.k, p, t, buf, len);
  if (r !== 0) {
    wakeWaiters(kn, p);
    return r;
  }
  if (p.writers === 0) return 0;
  if ((f.flags & U.O_NONBLOCK) !== 0) return -U.EAGAIN;
  block(p, p.rdWait, { t, f: pf, buf, len, done: 0 });
  return undefined;
}

/**
 * write(2) of a pipe's write end: bytes written, -EAGAIN, -EPIPE (with SIGPIPE, which kills
 * unless ignored: undefined then), or undefined (blocked until room, or until the readers go).
 */
function pipeWrite(f: File, kn: Kernel, t: Thread, buf: number, len: number): number | undefined {
  const pf = f as PipeFile;
  const p = pf.pipe;
  const w: PipeWaiter = { t, f: pf, buf, len, done: 0 };
  let r: number | typeof WRITE_BLOCK | typeof WRITE_SIGPIPE = p.readers === 0 ? WRITE_SIGPIPE : mergeWrite(kn.k, p, w);
  if (typeof r === 'number' && r >= 0) {
    w.done = r;
    r = w.done === len ? len : writeMore(kn.k, p, w);
  }
  wakeWaiters(kn, p);
  if (r === WRITE_BLOCK) {
    block(p, p.wrWait, w);
    return undefined;
  }
  if (r !== WRITE_SIGPIPE) return r;
  kn.signal(t.proc, U.SIGPIPE);
  return t.dying ? undefined : w.done > 0 ? w.done : -U.EPIPE;
}

/** Queue w's thread on q: blocked, holding its file, until served or cancelled. */
function block(p: Pipe, q: PipeWaiter[], w: PipeWaiter): void {
  w.f.refs++;
  q.push(w);
  const reader = q === p.rdWait;
  w.t.blocked = {
    kind: 'io',
    cancel: () => {
      const i = q.indexOf(w);
      if (i >= 0) q.splice(i, 1);
      dropFile(p, w.f);
    },
    // pipe_read sleeps while the pipe is empty and has writers; pipe_write while it is full and has readers (on its wait queue, to be woken).
    asleep: () => [`pipe ${reader ? 'read' : 'write'}: ${p.bytes} bytes, ${p.readers} readers, ${p.writers} writers`, q.includes(w) && (reader ? p.bufs.length === 0 && p.writers > 0 : p.full && p.readers > 0)],
  };
}

/** A waiter's file reference goes: at once, or after the queues are served if that is under way. */
function dropFile(p: Pipe, f: File): void {
  if (p.waking) p.puts.push(f);
  else fput(f);
}

/** A waiter's call is complete with result r (SIGPIPE first if asked): it gets its answer. */
function finish(kn: Kernel, p: Pipe, w: PipeWaiter, r: number, sigpipe: boolean): void {
  w.t.blocked = null;
  if (sigpipe) kn.signal(w.t.proc, U.SIGPIPE);
  if (!w.t.dying) kn.reply(w.t.cpu, r);
  dropFile(p, w.f);
}

/**
 * The pipe changed: serve the blocked readers (while it has data or no writers) and
 * writers (while it has room or no readers), oldest first, round after round while any
 * made progress. Re-entered (a waiter's SIGPIPE killing another waiter), it only asks for
 * another round.
 */
export function wakeWaiters(kn: Kernel, p: Pipe): void {
  if (p.waking) {
    p.again = true;
    return;
  }
  p.waking = true;
  try {
    do {
      p.again = false;
      serveReaders(kn, p);
      serveWriters(kn, p);
    } while (p.again);
  } finally {
    p.waking = false; // a kernel bug (an oops) must not leave the pipe deaf to later wakes
  }
  for (const f of p.puts.splice(0)) fput(f);
}

/** Blocked readers, oldest first, while the pipe has data or no writer: each gets its read. */
function serveReaders(kn: Kernel, p: Pipe): void {
  while (p.rdWait.length > 0 && (p.bufs.length > 0 || p.writers === 0)) {
    const w = p.rdWait[0];
    if (p.bufs.length > 0 && mmHeldAgainst(w.t.proc.mm, w.t.cpu)) return waitForMm(w.t.proc.mm, p, () => wakeWaiters(kn, p)); // mmap_lock: a copy waits
    p.rdWait.shift();
    finish(kn, p, w, kn.k.clock.onBehalfOf(w.t.cpu, () => readNow(kn.k, p, w.t, w.buf, w.len)), false);
    if (p.wrWait.length > 0) p.again = true;
  }
}

/** Blocked writers, oldest first, while the pipe has room or no reader: each goes on with its write. */
function serveWriters(kn: Kernel, p: Pipe): void {
  while (p.wrWait.length > 0 && (!p.full || p.readers === 0)) {
    const w = p.wrWait[0];
    if (p.readers > 0 && mmHeldAgainst(w.t.proc.mm, w.t.cpu)) return waitForMm(w.t.proc.mm, p, () => wakeWaiters(kn, p)); // (EPIPE does not)
    const r = kn.k.clock.onBehalfOf(w.t.cpu, () => writeMore(kn.k, p, w));
    if (p.rdWait.length > 0 && p.bufs.length > 0) p.again = true;
    if (r === WRITE_BLOCK) break;
    p.wrWait.shift();
    finish(kn, p, w, r === WRITE_SIGPIPE ? (w.done > 0 ? w.done : -U.EPIPE) : r, r === WRITE_SIGPIPE);
  }
}

/** pipe_release: one end fewer; a side that lost its last file wakes the other; the last file frees the pipe. */
function pipeRelease(f: File): void {
  const pf = f as PipeFile;
  const p = pf.pipe;
  if (f.readable) p.readers--;
  if (f.writable) p.writers--;
  if (--p.files === 0) {
    const pages = pf.kn.k.pages;
    for (const b of p.bufs.splice(0)) pages.putPage(b.pfn);
    for (const pfn of p.tmpPages.splice(0)) pages.putPage(pfn);
    pf.kn.vfs.pipefs.userBufs -= p.nrAccounted;
    return;
  }
  if ((p.readers === 0) !== (p.writers === 0)) wakeWaiters(pf.kn, p);
}

/** round_pipe_size: at least a page, a power of two; 0 above 2 GiB. */
function roundPipeSize(size: number): number {
  if (size > 2 ** 31) return 0;
  return size < PAGE ? PAGE : 2 ** Math.ceil(Math.log2(size));
}

/**
 * pipe_set_size (F_SETPIPE_SZ): the new capacity in bytes, or EINVAL (above 2 GiB), EPERM
 * (growing past pipe-max-size without CAP_SYS_RESOURCE, or past the user's page limits
 * unprivileged), EBUSY (fewer slots than are in use). `arg` is the unsigned int fcntl passes.
 */
function pipeSetSize(pf: PipeFile, t: Thread, arg: number): number {
  const p = pf.pipe;
  const fs = pf.kn.vfs.pipefs;
  const size = roundPipeSize(arg);
  const slots = size / PAGE;
  if (slots === 0) return -U.EINVAL;
  if (slots > p.maxUsage && size > fs.maxSize && !t.proc.capable(U.CAP_SYS_RESOURCE)) return -U.EPERM;
  const userBufs = fs.userBufs - p.nrAccounted + slots;
  const over = (fs.userPagesHard !== 0 && userBufs > fs.userPagesHard) || (fs.userPagesSoft !== 0 && userBufs > fs.userPagesSoft);
  if (slots > p.maxUsage && over && pipeUnprivileged(t)) return -U.EPERM;
  if (slots < p.bufs.length) return -U.EBUSY;
  fs.userBufs = userBufs;
  p.maxUsage = slots;
  p.nrAccounted = slots;
  wakeWaiters(pf.kn, p); // room for writers, perhaps
  return slots * PAGE;
}

/**
 * pipe_fcntl: F_GETPIPE_SZ, and F_SETPIPE_SZ with arg as the unsigned int Linux takes of
 * it. An argument beyond 2^53 reaches ptlab rounded (float64), its low bits lost: EINVAL,
 * which is what Linux answers for the usual such values (0x7fffffffffffffff, ~0).
 */
function pipeFcntl(f: File, t: Thread, cmd: number, arg: number): number {
  const pf = f as PipeFile;
  if (cmd === U.F_GETPIPE_SZ) return pf.pipe.maxUsage * PAGE;
  if (cmd !== U.F_SETPIPE_SZ) return -U.EINVAL;
  if (!Number.isSafeInteger(arg)) return -U.EINVAL;
  return pipeSetSize(pf, t, Number(BigInt.asUintN(32, BigInt(arg))));
}

/** pipe_ioctl: FIONREAD writes the bytes waiting as an int; ENOTTY for anything else. */
function pipeIoctl(f: File, cmd: number, arg: number, io: UserIo): number {
  if (cmd !== U.FIONREAD) return -U.ENOTTY;
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, (f as PipeFile).pipe.bytes, true);
  return io.copyTo(arg, out);
}

export const PIPE_FOPS: FileOps = {
  seekable: false,
  directIo: true,
  fasync: true,
  readUser: pipeRead,
  writeUser: pipeWrite,
  fcntl: pipeFcntl,
  ioctl: pipeIoctl,
  release: pipeRelease,
  getattr: (f) => ({ mode: U.S_IFIFO | 0o600, ino: (f as PipeFile).pipe.ino, nlink: 1, size: 0, blocks: 0 }),
  dname: (f) => `pipe:[${(f as PipeFile).pipe.ino}]`,
  reopen: pipeReopen,
};

/**
 * fifo_open of a pipe's inode (the follow of /proc/PID/fd/N): a new end of the same pipe,
 * read, write or both as the flags ask. A pipefs inode never waits for a partner and never
 * gives ENXIO (fifo_open's is_pipe), as the host shows.
 */
function pipeReopen(f: File, flags: number): File {
  const pf = f as PipeFile;
  const p = pf.pipe;
  const g = new PipeFile(p, pf.kn, flags & (U.O_ACCMODE | U.O_NONBLOCK | U.O_APPEND | U.O_DIRECT));
  if (g.readable) p.readers++;
  if (g.writable) p.writers++;
  p.files++;
  return g;
}

/** pipe2's flags (O_NOTIFICATION_PIPE is accepted, then refused: no watch queues). */
const PIPE2_FLAGS = U.O_CLOEXEC | U.O_NONBLOCK | U.O_DIRECT | U.O_NOTIFICATION_PIPE;

/**
 * pipe2(2): a pipe's read and write ends at the two lowest free descriptors, their numbers
 * written to fildes as two ints. EINVAL for other flags, ENOPKG for O_NOTIFICATION_PIPE,
 * ENFILE over the user's hard page limit, EMFILE at RLIMIT_NOFILE, EFAULT if fildes is
 * not writable; nothing is left behind on failure.
 */
export function sysPipe2(kn: Kernel, t: Thread, fildes: number, flags: number): number {
  if (!Number.isInteger(flags) || ((flags | 0) & ~PIPE2_FLAGS) !== 0) return -U.EINVAL;
  const p = allocPipe(kn.vfs.pipefs, t);
  if (p === null) return -U.ENFILE;
  const r = new PipeFile(p, kn, U.O_RDONLY | (flags & U.O_NONBLOCK));
  const w = new PipeFile(p, kn, U.O_WRONLY | (flags & (U.O_NONBLOCK | U.O_DIRECT)));
  if ((flags & U.O_NOTIFICATION_PIPE) !== 0) return dropBoth(r, w, -U.ENOPKG);
  const fds = t.proc.fds;
  const limit = t.proc.mm.rlimits[U.RLIMIT_NOFILE][0];
  const cloexec = (flags & U.O_CLOEXEC) !== 0;
  const fdr = fds.install(r, cloexec, limit);
  if (fdr < 0) return dropBoth(r, w, fdr);
  const fdw = fds.install(w, cloexec, limit);
  if (fdw < 0) {
    fds.close(fdr);
    fput(w);
    return fdw;
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setInt32(0, fdr, true);
  new DataView(out.buffer).setInt32(4, fdw, true);
  const c = copyToUser(kn.k, t.proc.mm, fildes, out, t.cpu);
  if (c < 0) {
    fds.close(fdr);
    fds.close(fdw);
  }
  return c;
}

/** Both ends of a pipe that never reached a descriptor go; `err` is returned. */
function dropBoth(r: File, w: File, err: number): number {
  fput(r);
  fput(w);
  return err;
}

/** pipe(2): pipe2 without flags. */
export const sysPipe = (kn: Kernel, t: Thread, fildes: number): number => sysPipe2(kn, t, fildes, 0);
