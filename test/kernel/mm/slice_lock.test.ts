// mmap_lock from outside the mm (kernel/mm/mm.ts setMmHold, waitForMm): work another
// process's request does in a blocked thread's memory (a pipe's hand-over into a blocked
// reader's buffer or from a blocked writer's, wait4's status copy) waits while a sibling's
// call in slices holds that mm for write (an mremap move, here), and is done when the call
// lets go; under a read hold (a populate) it is done at once. Ordering, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { _PAGE_SOFT_DIRTY } from '../../../machine/index.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const NORESERVE = ANON | U.MAP_NORESERVE;
/** Written pages the move takes: 16 page tables, a slice each at 64 pages a slice. */
const LEN = 2 ** 25;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

function boot(): Thread {
  h = new KernelHarness({ memBytes: 96 << 20, slicePages: 64, validate: 1 });
  return h.spawn();
}

/** A buffer of n bytes in t's memory, written. */
function mem(t: Thread, n: number): number {
  return h.call(t, U.SYS_mmap, 0, Math.ceil(n / P) * P, RW, ANON | U.MAP_POPULATE, -1, 0);
}

/** Write `s` into t's memory at va. */
function put(t: Thread, va: number, s: string): void {
  expect(copyToUser(h.k, t.proc.mm, va, new TextEncoder().encode(s), -1)).toBe(0);
}

/** The n bytes of t's memory at va, as text. */
function text(t: Thread, va: number, n: number): string {
  return new TextDecoder().decode(copyFromUser(h.k, t.proc.mm, va, n, -1) as Uint8Array);
}

/** A pipe of t's process, its ends also given to process `other` at the same numbers: [read end, write end]. */
function pipeShared(t: Thread, other: Thread): [number, number] {
  const buf = mem(t, 8);
  expect(h.call(t, U.SYS_pipe2, buf, 0)).toBe(0);
  const dv = new DataView((copyFromUser(h.k, t.proc.mm, buf, 8, -1) as Uint8Array).buffer);
  const fds: [number, number] = [dv.getInt32(0, true), dv.getInt32(4, true)];
  for (const fd of fds) {
    const f = t.proc.fds.get(fd)!;
    f.refs++;
    other.proc.fds.installAt(fd, f, false);
  }
  return fds;
}

/** Start t's move of LEN written bytes to a free place (MREMAP_FIXED): it is in slices. */
function startMove(t: Thread): number {
  const va = h.call(t, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
  const dst = h.call(t, U.SYS_mmap, 0, LEN, U.PROT_NONE, NORESERVE, -1, 0);
  expect(h.startSyscall(t, U.SYS_mremap, va, LEN, LEN, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dst)).toEqual({ kind: 'blocked' });
  h.serveRound();
  expect(h.answer(t)).toEqual({ kind: 'blocked' });
  expect(t.proc.mm.slicedCpu).toBe(t.cpu);
  return dst;
}

/** Serve turns until t's call is answered, checking on every turn that `waiter` is still blocked and t's mm is whole. */
function untilAnswered(t: Thread, waiter: Thread): number {
  let turns = 0;
  while (h.answer(t).kind === 'blocked') {
    expect(h.answer(waiter)).toEqual({ kind: 'blocked' });
    validateMm(h.k, t.proc.mm);
    h.serveRound();
    turns++;
  }
  return turns;
}

describe('work from outside an mm waits for its write hold', () => {
  it('a pipe\'s hand-over into a blocked reader\'s buffer waits for a sibling\'s mremap move, then the reader has the bytes', () => {
    const a = boot();
    const reader = h.thread(a);
    const b = h.spawn();
    const [rfd, wfd] = pipeShared(a, b);
    const buf = mem(a, P);
    expect(h.startSyscall(reader, U.SYS_read, rfd, buf, 100)).toEqual({ kind: 'blocked' });
    const dst = startMove(a);
    const src = mem(b, P);
    put(b, src, 'hello');
    expect(h.call(b, U.SYS_write, wfd, src, 5)).toBe(5); // buffered in the pipe; the reader waits for the mm
    expect(untilAnswered(a, reader)).toBeGreaterThan(4);
    expect(h.answer(a)).toEqual({ kind: 'return', value: dst });
    expect(h.answer(reader)).toEqual({ kind: 'return', value: 5 });
    expect(text(a, buf, 5)).toBe('hello');
  });

  it('a blocked writer\'s bytes are taken from its buffer only once a sibling\'s move lets go of its mm', () => {
    const a = boot();
    const writer = h.thread(a);
    const b = h.spawn();
    const [rfd, wfd] = pipeShared(a, b);
    const big = mem(a, 16 * P);
    expect(h.call(a, U.SYS_write, wfd, big, 16 * P)).toBe(16 * P); // the pipe is full
    const src = mem(a, P);
    put(a, src, 'later');
    expect(h.startSyscall(writer, U.SYS_write, wfd, src, 5)).toEqual({ kind: 'blocked' });
    startMove(a);
    const sink = mem(b, 16 * P);
    expect(h.call(b, U.SYS_read, rfd, sink, 16 * P)).toBe(16 * P); // room now; the writer's copy waits
    untilAnswered(a, writer);
    expect(h.answer(writer)).toEqual({ kind: 'return', value: 5 });
    expect(h.call(b, U.SYS_read, rfd, sink, P)).toBe(5);
    expect(text(b, sink, 5)).toBe('later');
  });

  it('wait4\'s status copy into a blocked parent waits for a sibling\'s move; then the parent reaps the child', () => {
    const a = boot();
    const waiter = h.thread(a);
    const pid = h.call(a, U.SYS_clone, U.FORK_FLAGS, ...h.cloneDesc(a));
    expect(pid).toBeGreaterThan(0);
    const child = h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
    const status = mem(a, 4);
    expect(h.startSyscall(waiter, U.SYS_wait4, -1, status, 0, 0)).toEqual({ kind: 'blocked' });
    startMove(a);
    expect(h.startSyscall(child, U.SYS_exit_group, 7)).toEqual({ kind: 'exit' });
    untilAnswered(a, waiter);
    expect(h.answer(waiter)).toEqual({ kind: 'return', value: pid });
    const st = new DataView((copyFromUser(h.k, a.proc.mm, status, 4, -1) as Uint8Array).buffer).getInt32(0, true);
    expect(st).toBe(7 << 8); // WEXITSTATUS 7
    expect(h.kernel.tasks.procs.has(pid)).toBe(false);
  });

  it('under a read hold (a sibling\'s MAP_POPULATE) the hand-over is made at once', () => {
    const a = boot();
    const reader = h.thread(a);
    const b = h.spawn();
    const [rfd, wfd] = pipeShared(a, b);
    const buf = mem(a, P);
    expect(h.startSyscall(reader, U.SYS_read, rfd, buf, 100)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(a, U.SYS_mmap, 0, 2 ** 26, U.PROT_READ, NORESERVE | U.MAP_POPULATE, -1, 0)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(a.proc.mm.slicedShared).toBe(true);
    const src = mem(b, P);
    expect(h.call(b, U.SYS_write, wfd, src, 3)).toBe(3);
    expect(h.answer(reader)).toEqual({ kind: 'return', value: 3 });
    expect(h.answer(a)).toEqual({ kind: 'blocked' });
  });

  it('a holder killed between slices lets go of the mm: the hand-over that waited runs at the next turn and finds its reader gone; the bytes stay in the pipe', () => {
    const a = boot();
    const reader = h.thread(a);
    const b = h.spawn();
    const c = h.spawn();
    const [rfd, wfd] = pipeShared(a, b);
    const buf = mem(a, P);
    expect(h.startSyscall(reader, U.SYS_read, rfd, buf, 100)).toEqual({ kind: 'blocked' });
    startMove(a);
    const src = mem(b, P);
    put(b, src, 'kept');
    expect(h.call(b, U.SYS_write, wfd, src, 4)).toBe(4);
    expect(h.answer(reader)).toEqual({ kind: 'blocked' });
    expect(h.call(c, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect(h.answer(reader)).toEqual({ kind: 'exit' });
    h.serveRound();
    expect(h.k.slice.due).toEqual([]);
    h.finishExits();
    expect(a.proc.state).toBe('zombie');
    const sink = mem(b, P);
    expect(h.call(b, U.SYS_read, rfd, sink, P)).toBe(4);
    expect(text(b, sink, 4)).toBe('kept');
  });

  it('a blocked writer whose last reader goes gets EPIPE and SIGPIPE at once (no copy, no wait): its process dies, and the sibling in the move gets its end, not the move\'s result', () => {
    const a = boot();
    const writer = h.thread(a);
    const b = h.spawn();
    const [rfd, wfd] = pipeShared(a, b);
    expect(h.call(a, U.SYS_close, rfd)).toBe(0); // only b reads
    const big = mem(a, 16 * P);
    expect(h.call(a, U.SYS_write, wfd, big, 16 * P)).toBe(16 * P); // the pipe is full
    expect(h.startSyscall(writer, U.SYS_write, wfd, big, 5)).toEqual({ kind: 'blocked' });
    startMove(a);
    expect(h.call(b, U.SYS_close, rfd)).toBe(0);
    expect(a.proc.state).not.toBe('live'); // SIGPIPE's default action, without waiting for the move
    expect(h.answer(writer)).toEqual({ kind: 'exit' });
    expect(h.answer(a)).toEqual({ kind: 'exit' });
  });

  it.each([
    ['a read of /proc/PID/maps', 'maps', U.SYS_read],
    ['a read of /proc/PID/smaps', 'smaps', U.SYS_read],
    ['a write of 4 to /proc/PID/clear_refs', 'clear_refs', U.SYS_write],
  ])('%s from another process waits for the mm\'s mover; then it sees the move done', (_name, file, nr) => {
    const a = boot();
    const b = h.spawn();
    const path = mem(b, 16 * P);
    put(b, path, `/proc/${a.proc.pid}/${file}\0`);
    put(b, path + P, '4');
    const fd = h.call(b, U.SYS_openat, U.AT_FDCWD, path, nr === U.SYS_read ? U.O_RDONLY : U.O_WRONLY, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    const dst = startMove(a);
    const len = nr === U.SYS_read ? 15 * P : 1;
    expect(h.startSyscall(b, nr, fd, path + P, len)).toEqual({ kind: 'blocked' });
    untilAnswered(a, b);
    while (h.answer(b).kind === 'blocked') h.serveRound(); // smaps' own walk is in slices
    const r = h.answer(b);
    expect(r.kind === 'return' && r.value > 0).toBe(true);
    if (nr === U.SYS_read) {
      expect(text(b, path + P, (r as { value: number }).value)).toContain(`${dst.toString(16).padStart(8, '0')}-`); // the moved mapping, whole
    } else {
      // Every moved page is soft-dirty clean: clear_refs ran after the move (which marks
      // what it moves soft-dirty), not between its slices.
      let dirty = 0;
      for (let at = dst; at < dst + LEN; at += P) {
        const leaf = leafWord(h.k, a.proc.mm, at);
        if (leaf !== null && (h.k.ops.lo(leaf.w) & _PAGE_SOFT_DIRTY) !== 0) dirty++;
      }
      expect(dirty).toBe(0);
    }
  });

  it('a read of another process\'s smaps in slices holds its mm for read: an mremap it starts meanwhile waits for the walk, and every entry is whole (Rss <= Size)', () => {
    const a = boot();
    const b = h.spawn();
    const va = h.call(a, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
    const dst = h.call(a, U.SYS_mmap, 0, LEN, U.PROT_READ, NORESERVE | U.MAP_POPULATE, -1, 0); // the move replaces it
    const buf = mem(b, 64 * P);
    put(b, buf, `/proc/${a.proc.pid}/smaps\0`);
    const fd = h.call(b, U.SYS_openat, U.AT_FDCWD, buf, U.O_RDONLY, 0);
    expect(h.startSyscall(b, U.SYS_read, fd, buf, 60 * P)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(a.proc.mm.slicedCpu).toBe(b.cpu); // b's walk holds a's mm ...
    expect(a.proc.mm.slicedShared).toBe(true); // ... for read
    expect(h.startSyscall(a, U.SYS_mremap, va, LEN, LEN, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dst)).toEqual({ kind: 'blocked' });
    while (h.answer(b).kind === 'blocked') {
      expect(h.answer(a)).toEqual({ kind: 'blocked' }); // the move has not begun
      h.serveRound();
    }
    while (h.answer(a).kind === 'blocked') h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'return', value: dst });
    const r = h.answer(b);
    expect(r.kind === 'return' && r.value > 0).toBe(true);
    const entries = text(b, buf, (r as { value: number }).value).split(/\n(?=[0-9a-f]+-)/);
    expect(entries.length).toBeGreaterThan(2);
    for (const e of entries) expect(Number(/^Rss:\s+(\d+)/m.exec(e)![1])).toBeLessThanOrEqual(Number(/^Size:\s+(\d+)/m.exec(e)![1]));
    expect(a.proc.mm.slicedCpu).toBe(-1);
  });

  it('two walks of another process\'s smaps: when the first ends, the second, begun beside it, holds the mm for read, and an mremap waits for it too', () => {
    const a = boot();
    const readers = [h.spawn(), h.spawn()];
    const va = h.call(a, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
    const dst = h.call(a, U.SYS_mmap, 0, LEN, U.PROT_READ, NORESERVE | U.MAP_POPULATE, -1, 0);
    const bufs = readers.map((r) => {
      const buf = mem(r, 64 * P);
      put(r, buf, `/proc/${a.proc.pid}/smaps\0`);
      return buf;
    });
    const fds = readers.map((r, i) => h.call(r, U.SYS_openat, U.AT_FDCWD, bufs[i], U.O_RDONLY, 0));
    const [b, c] = readers;
    expect(h.startSyscall(b, U.SYS_read, fds[0], bufs[0], 60 * P)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(h.startSyscall(c, U.SYS_read, fds[1], bufs[1], 60 * P)).toEqual({ kind: 'blocked' }); // beside b's hold
    while (h.answer(b).kind === 'blocked') h.serveRound();
    expect(h.answer(c)).toEqual({ kind: 'blocked' });
    expect(a.proc.mm.slicedCpu).toBe(c.cpu);
    expect(a.proc.mm.slicedShared).toBe(true);
    expect(h.startSyscall(a, U.SYS_mremap, va, LEN, LEN, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dst)).toEqual({ kind: 'blocked' });
    while (h.answer(c).kind === 'blocked') {
      expect(h.answer(a)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    while (h.answer(a).kind === 'blocked') h.serveRound();
    expect(h.answer(a)).toEqual({ kind: 'return', value: dst });
    for (const [i, r] of readers.entries()) {
      const n = h.answer(r);
      expect(n.kind === 'return' && n.value > 0).toBe(true);
      const entries = text(r, bufs[i], (n as { value: number }).value).split(/\n(?=[0-9a-f]+-)/);
      for (const e of entries) expect(Number(/^Rss:\s+(\d+)/m.exec(e)![1])).toBeLessThanOrEqual(Number(/^Size:\s+(\d+)/m.exec(e)![1]));
    }
    expect(a.proc.mm.slicedCpu).toBe(-1);
    expect(a.proc.mm.readersBeside.size).toBe(0);
  });

  it('a walk beside the holder\'s, killed, is no reader any more: the holder\'s end lets go of the mm', () => {
    const a = boot();
    const [b, c] = [h.spawn(), h.spawn()];
    h.call(a, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
    const fds = [b, c].map((r) => {
      const buf = mem(r, 64 * P);
      put(r, buf, `/proc/${a.proc.pid}/smaps\0`);
      return [h.call(r, U.SYS_openat, U.AT_FDCWD, buf, U.O_RDONLY, 0), buf];
    });
    expect(h.startSyscall(b, U.SYS_read, fds[0][0], fds[0][1], 60 * P)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect(h.startSyscall(c, U.SYS_read, fds[1][0], fds[1][1], 60 * P)).toEqual({ kind: 'blocked' });
    h.serveRound();
    expect([a.proc.mm.slicedCpu, [...a.proc.mm.readersBeside]]).toEqual([b.cpu, [c.cpu]]);
    expect(h.call(a, U.SYS_kill, c.proc.pid, U.SIGKILL)).toBe(0);
    expect(a.proc.mm.readersBeside.size).toBe(0);
    while (h.answer(b).kind === 'blocked') h.serveRound();
    expect(a.proc.mm.slicedCpu).toBe(-1);
    validateMm(h.k, a.proc.mm);
  });

  it('a writer turned away by a read hold is queued: a walk its sibling begins meanwhile waits for it, so readers taking turns cannot starve it', () => {
    const a = boot();
    const [r1, r2, w] = [a, h.thread(a), h.thread(a)];
    const va = h.call(a, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
    const bufs = [r1, r2].map((r) => {
      const buf = mem(r, 64 * P);
      put(r, buf, '/proc/self/smaps\0');
      return buf;
    });
    const fds = [r1, r2].map((r, i) => h.call(r, U.SYS_openat, U.AT_FDCWD, bufs[i], U.O_RDONLY, 0));
    expect(h.startSyscall(r1, U.SYS_read, fds[0], bufs[0], 60 * P)).toEqual({ kind: 'blocked' });
    expect([a.proc.mm.slicedCpu, a.proc.mm.slicedShared]).toEqual([r1.cpu, true]);
    expect(h.startSyscall(w, U.SYS_munmap, va, LEN)).toEqual({ kind: 'blocked' }); // turned away by the read hold
    expect(a.proc.mm.writerWaiting).toBe(w.cpu);
    expect(h.startSyscall(r2, U.SYS_read, fds[1], bufs[1], 60 * P)).toEqual({ kind: 'blocked' }); // queued behind the writer
    expect(a.proc.mm.readersBeside.size).toBe(0);
    while (h.answer(w).kind === 'blocked') {
      expect(h.answer(r2)).toEqual({ kind: 'blocked' });
      h.serveRound();
    }
    expect(h.answer(w)).toEqual({ kind: 'return', value: 0 });
    expect(h.answer(r1).kind).toBe('return'); // the first walk ended before the munmap began
    while (h.answer(r2).kind === 'blocked') h.serveRound();
    const n = h.answer(r2);
    expect(n.kind === 'return' && !text(r2, bufs[1], n.value).includes(`${va.toString(16)}-`)).toBe(true); // it walked after the munmap
    expect([a.proc.mm.slicedCpu, a.proc.mm.writerWaiting]).toEqual([-1, -1]);
  });

  it('a queued writer killed in its wait is no longer queued', () => {
    const a = boot();
    const b = h.spawn();
    const [r1, r2, w] = [a, h.thread(a), h.thread(a)];
    const va = h.call(a, U.SYS_mmap, 0, LEN, RW, NORESERVE | U.MAP_POPULATE, -1, 0);
    const buf = mem(r1, 64 * P);
    put(r1, buf, '/proc/self/smaps\0');
    const fd = h.call(r1, U.SYS_openat, U.AT_FDCWD, buf, U.O_RDONLY, 0);
    expect(h.startSyscall(r1, U.SYS_read, fd, buf, 60 * P)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(w, U.SYS_munmap, va, LEN)).toEqual({ kind: 'blocked' });
    expect(a.proc.mm.writerWaiting).toBe(w.cpu);
    expect(h.call(b, U.SYS_kill, a.proc.pid, U.SIGKILL)).toBe(0);
    expect([w.dying, r2.dying]).toEqual([true, true]);
    expect(a.proc.mm.writerWaiting).toBe(-1); // an mm shared by CLONE_VM would otherwise keep its other users' calls queued
  });
});
