// SysRq 't' (show_state): each thread's state letter and what it waits for, so that a hang
// (the fuzzer's watchdog) can say who holds whom.
import { expect, it } from 'vitest';
import type { PipeFile } from '../../../kernel/fs/pipe.ts';
import { showState } from '../../../kernel/task/sysrq.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;

it('show_state: the call in slices holds mmap_lock (R), its sibling waits for it (D), others are listed', () => {
  const h = new KernelHarness({ memBytes: 64 << 20, slicePages: 64 });
  const a = h.spawn('/holder.ts');
  const sibling = h.thread(a);
  const other = h.spawn('/other.ts');
  const va = h.call(a, U.SYS_mmap, 0, 2 ** 26, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
  expect(h.startSyscall(a, U.SYS_mlock, va, 2 ** 26)).toEqual({ kind: 'blocked' });
  expect(h.startSyscall(sibling, U.SYS_munmap, va, P)).toEqual({ kind: 'blocked' });
  h.pump();
  h.messages.length = 0;
  h.kernel.hostMessage({ t: 'sysrq-show-state', tag: 7 });
  h.pump();
  const reply = h.messages.find((m) => m.t === 'state');
  expect(reply?.t === 'state' && reply.tag).toBe(7);
  const lines = reply?.t === 'state' ? reply.lines : [];
  const of = (t: Thread): string => lines.find((l) => l.includes(` pid:${t.tid} `)) ?? '';
  expect(of(a)).toMatch(new RegExp(`^task:holder state:R pid:${a.tid} tgid:${a.proc.pid} .*in slices \\(\\d+ run, holds mmap_lock for read\\): mlock\\(0x${va.toString(16)}, 0x4000000,`));
  expect(of(sibling)).toMatch(new RegExp(`state:D pid:${sibling.tid} tgid:${a.proc.pid} .*waits for mmap_lock, held by the call in slices on cpu ${a.cpu}: munmap\\(`));
  expect(of(other)).toMatch(/^task:other state:[RS] /);
  // The same lines are in the kernel log.
  expect(h.messages.filter((m) => m.t === 'klog').map((m) => m.t === 'klog' ? m.text : '')).toEqual(lines);
  while (h.answer(a).kind === 'blocked') h.serveRound();
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('show_state: a reader asleep on an empty pipe with a writer sleeps as Linux would; a pipe that should have woken it says so', () => {
  const h = new KernelHarness({ memBytes: 64 << 20 });
  const a = h.spawn('/reader.ts');
  const buf = h.call(a, U.SYS_mmap, 0, P, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_POPULATE, -1, 0);
  expect(h.call(a, U.SYS_pipe2, buf, 0)).toBe(0);
  const rfd = 3; // the lowest free descriptor
  const pipe = (a.proc.fds.get(rfd) as PipeFile).pipe;
  expect(h.startSyscall(a, U.SYS_read, rfd, buf, 64)).toEqual({ kind: 'blocked' });
  const line = (): string => showState(h.kernel.tasks.procs, h.cb, () => false).find((l) => l.includes(` pid:${a.tid} `)) ?? '';
  expect(line()).toMatch(/state:S .*blocked in file I\/O \(pipe read: 0 bytes, 1 readers, 1 writers; Linux sleeps here too\): read\(0x3,/);
  pipe.writers = 0; // as if the last writer went without waking the reader
  expect(line()).toMatch(/blocked in file I\/O \(pipe read: 0 bytes, 1 readers, 0 writers; Linux would have woken it\)/);
  pipe.writers = 1;
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

it('show_state: a join of a live sibling sleeps as Linux would; a wait4 with a live child too, and one whose child is a zombie not yet handed over says it would have been woken', () => {
  const h = new KernelHarness({ memBytes: 64 << 20 });
  const a = h.spawn('/joiner.ts');
  const sibling = h.thread(a);
  expect(h.startSyscall(a, U.SYS_ptlab_thread_join, sibling.tid)).toEqual({ kind: 'blocked' });
  const line = (t: Thread): string => showState(h.kernel.tasks.procs, h.cb, () => false).find((l) => l.includes(` pid:${t.tid} `)) ?? '';
  expect(line(a)).toMatch(new RegExp(`state:S .*blocked in joining thread ${sibling.tid} \\(Linux sleeps here too\\): ptlab_thread_join\\(`));
  const child = h.spawn('/child.ts');
  a.proc.children.add(child.proc.pid);
  expect(h.startSyscall(sibling, U.SYS_wait4, child.proc.pid, 0, 0, 0)).toEqual({ kind: 'blocked' });
  expect(line(sibling)).toMatch(new RegExp(`blocked in wait4\\(${child.proc.pid}\\) \\(Linux sleeps here too\\)`));
  child.proc.state = 'zombie'; // as if its end had not been handed to the waiter
  expect(line(sibling)).toMatch(/blocked in wait4\(\d+\) \(Linux would have woken it\)/);
  child.proc.state = 'live';
  a.proc.children.delete(child.proc.pid);
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});
