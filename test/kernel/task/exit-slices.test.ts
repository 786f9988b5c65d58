// An ended process's address space is torn down in slices (kernel/mm/exit_mmap.ts, task/exit.ts's
// exitStep): other CPUs' requests are answered between them, the process is a zombie (and
// its exit reported, its parent woken) only once its memory is back, the result is the one
// in one go, and what runs between slices (reclaim's reverse-map walks, /proc, the OOM
// killer, the users of shared memory) finds every structure consistent. Ordering and
// counters, no clocks.

import { afterEach, describe, expect, it } from 'vitest';
import { K_PGSCAN, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { procRead } from '../../../kernel/fs/index.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import { kswapdStep, reclaimPages } from '../../../kernel/mm/vmscan.ts';
import { outOfMemory } from '../../../kernel/task/oom.ts';
import { showState } from '../../../kernel/task/sysrq.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.kernel.tasks.exiting.length).toBe(0);
  expect(h.leakedFrames()).toBe(0);
  expect(h.k.swap?.inuse ?? 0).toBe(0);
});

function boot(slicePages: number, memBytes = 64 << 20, swapBytes = 0): Thread {
  h = new KernelHarness({ memBytes, slicePages, swapBytes, validate: 64 });
  return h.spawn();
}

/** clone(flags) from t: the new process's main thread. */
function clone(t: Thread, flags: number): Thread {
  const pid = h.call(t, U.SYS_clone, flags, ...h.cloneDesc(t));
  expect(pid).toBeGreaterThan(0);
  return h.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
}

/** `len` bytes of private anonymous memory in t, every page written (MAP_POPULATE of a writable mapping). */
function written(t: Thread, len: number): number {
  const va = h.call(t, U.SYS_mmap, 0, len, RW, ANON | U.MAP_POPULATE, -1, 0);
  expect(va).toBeGreaterThan(0);
  return va;
}

const store = (t: Thread, va: number, v: number) => expect(copyToUser(h.k, t.proc.mm, va, new Uint8Array([v]), -1)).toBe(0);
const load = (t: Thread, va: number): number => (copyFromUser(h.k, t.proc.mm, va, 1, -1) as Uint8Array)[0]!;
const exits = (pid: number) => h.messages.filter((m) => m.t === 'procexit' && m.pid === pid).length;

/** t's process exits; its teardown begins (the first slice runs as the host reports its worker gone). */
function exit(t: Thread): void {
  expect(h.syscall(t, U.SYS_exit_group, 0)).toEqual({ kind: 'exit' });
  expect(t.proc.threads.size).toBe(0);
}

/** Kernel-loop turns until t's process is a zombie (or reaped), each after `between`; the turns. */
function turnsToZombie(t: Thread, between: () => void = () => undefined): number {
  let turns = 0;
  while (t.proc.state === 'dying') {
    between();
    h.serveRound();
    turns++;
    if (turns > 1e6) throw new Error('the teardown never ends');
  }
  return turns;
}

describe('the teardown of an exit runs in slices', () => {
  it('another process\'s getpid is answered while 2^25 written bytes are torn down; the exit is reported after', () => {
    const a = boot(64);
    const b = h.spawn();
    written(a, 2 ** 25);
    expect(a.proc.mm.rssAnon).toBe(2 ** 25 / P);
    exit(a);
    expect(a.proc.state).toBe('dying');
    expect(a.proc.teardown).not.toBeNull();
    expect(h.kernel.tasks.exiting).toEqual([a.proc]);
    // SysRq 't' tells a long teardown from a hang.
    expect(showState(h.kernel.tasks.procs, h.cb, () => false)).toContain(`task:${a.proc.comm} state:dying pid:${a.proc.pid} ppid:0 has no thread, its address space being torn down (1 slices run)`);
    const turns = turnsToZombie(a, () => {
      expect(h.syscall(b, U.SYS_getpid)).toEqual({ kind: 'return', value: b.proc.pid });
      expect(exits(a.proc.pid)).toBe(0);
      validateMm(h.k, a.proc.mm);
    });
    // 2^13 pages in 16 page tables: a slice zaps at most one full table (slice_range.ts's pieces) past its 64 units.
    expect(turns).toBeGreaterThanOrEqual(15);
    expect(exits(a.proc.pid)).toBe(1);
    expect(h.kernel.tasks.procs.has(a.proc.pid)).toBe(false); // no parent: reaped at once
    expect(h.kernel.tasks.exiting.length).toBe(0);
  });

  it('a small address space is torn down in the first slice: a zombie at once', () => {
    const a = boot(256);
    written(a, 16 * P);
    exit(a);
    expect(a.proc.state).toBe('zombie');
    expect(a.proc.teardown).toBeNull();
    expect(exits(a.proc.pid)).toBe(1);
  });

  it('a parent\'s wait4 is answered only once the child\'s teardown is over; WNOHANG finds no zombie before', () => {
    const parent = boot(32);
    const child = clone(parent, U.FORK_FLAGS);
    written(child, 2 ** 24);
    expect(h.startSyscall(parent, U.SYS_wait4, child.proc.pid, 0, 0, 0)).toEqual({ kind: 'blocked' });
    exit(child);
    expect(child.proc.state).toBe('dying');
    let turns = 0;
    while (child.proc.state === 'dying') {
      expect(h.answer(parent)).toEqual({ kind: 'blocked' });
      h.serveRound();
      turns++;
    }
    expect(turns).toBeGreaterThan(1);
    expect(h.answer(parent)).toEqual({ kind: 'return', value: child.proc.pid });
    expect(h.kernel.tasks.procs.has(child.proc.pid)).toBe(false);
  });

  it('wait4 WNOHANG returns 0 while the teardown runs, the pid after', () => {
    const parent = boot(32);
    const child = clone(parent, U.FORK_FLAGS);
    written(child, 2 ** 24);
    exit(child);
    expect(h.call(parent, U.SYS_wait4, child.proc.pid, 0, U.WNOHANG, 0)).toBe(0);
    turnsToZombie(child);
    expect(h.call(parent, U.SYS_wait4, child.proc.pid, 0, U.WNOHANG, 0)).toBe(child.proc.pid);
  });

  it('the result is the one in one go: the same free frames and swap slots, every page table back', () => {
    const run = (slicePages: number) => {
      const a = boot(slicePages, 32 << 20, 32 << 20);
      const b = h.spawn();
      const va = written(a, 2 ** 23);
      // Some of it in swap, some in a THP, some shared with a child (COW), a zero-page range.
      expect(h.call(a, U.SYS_madvise, va, 2 ** 21, U.MADV_PAGEOUT)).toBe(0);
      const child = clone(a, U.FORK_FLAGS);
      h.call(a, U.SYS_mmap, 0, 2 ** 26, U.PROT_READ, ANON | U.MAP_NORESERVE | U.MAP_POPULATE, -1, 0);
      const swapBefore = h.k.swap!.inuse;
      expect(swapBefore).toBeGreaterThan(0);
      exit(a);
      const turns = turnsToZombie(a);
      const result = { nrFree: h.k.pages.nrFree, swap: h.k.swap!.inuse, childRss: child.proc.mm.rssAnon, childSwap: child.proc.mm.swapents, childPte: child.proc.mm.ptePages };
      validateMm(h.k, child.proc.mm);
      validateMm(h.k, b.proc.mm);
      expect(load(child, va + 2 ** 22)).toBe(0);
      return { result, turns, ptePages: a.proc.mm.ptePages };
    };
    const whole = run(1e9);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
    const sliced = run(16);
    expect(whole.turns).toBe(0);
    expect(sliced.turns).toBeGreaterThan(10);
    expect(sliced.result).toEqual(whole.result);
    expect(sliced.ptePages).toBe(0);
    expect(whole.ptePages).toBe(0);
  });
});

describe('what runs between the slices of a teardown', () => {
  it('reclaim walks the reverse maps of pages the dying process shares with its child: consistent at every slice', () => {
    const a = boot(16, 32 << 20, 64 << 20);
    const va = written(a, 2 ** 24);
    const child = clone(a, U.FORK_FLAGS);
    const pfns: number[] = [];
    for (let x = va; x < va + 2 ** 24; x += P) pfns.push(leafWord(h.k, child.proc.mm, x)!.pfn);
    exit(a);
    let reclaimed = 0;
    let i = 0;
    const turns = turnsToZombie(a, () => {
      // Shared pages, a table's worth a turn: try_to_unmap visits the dying mm's VMAs and tables.
      reclaimed += reclaimPages(h.k, pfns.slice(i, i + 256));
      i += 256;
      validateMm(h.k, a.proc.mm);
      validateMm(h.k, child.proc.mm);
    });
    expect(turns).toBeGreaterThanOrEqual(7); // 8 page tables
    expect(reclaimed).toBeGreaterThan(0);
    // The child's memory is whole: a page written back to swap reads back as it was.
    store(child, va + 5 * P, 7);
    expect(load(child, va + 5 * P)).toBe(7);
    expect(h.fault(child, va + 2 ** 22, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
    validateMm(h.k, child.proc.mm);
  });

  it('kswapd runs between slices under memory pressure: nothing inconsistent, nothing lost', () => {
    const a = boot(16, 20 << 20, 64 << 20);
    const b = h.spawn();
    written(a, 2 ** 23);
    const vb = written(b, 2 ** 23);
    // b fills memory down to the high watermark before each turn (taking what the teardown
    // freed): kswapd has work, and the dying process's pages are among those it scans.
    const more = h.call(b, U.SYS_mmap, 0, 2 ** 25, RW, ANON | U.MAP_NORESERVE, -1, 0);
    let x = more;
    const fill = () => {
      for (; h.k.pages.nrFree >= h.k.pages.wmark.high && x < more + 2 ** 25; x += P) {
        expect(h.fault(b, x, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
      }
    };
    fill();
    const scanned = () => h.cb.f64[h.cb.kernelCounterIndex(K_PGSCAN)]!;
    const before = scanned();
    exit(a);
    turnsToZombie(a, () => {
      fill();
      h.k.reclaim.kswapdWoken = true;
      kswapdStep(h.k);
      validateMm(h.k, a.proc.mm);
      validateMm(h.k, b.proc.mm);
    });
    expect(scanned()).toBeGreaterThan(before);
    store(b, vb + 3 * P, 9);
    expect(load(b, vb + 3 * P)).toBe(9);
  });

  it('shared memory outlives the dying process: a memfd mapped MAP_SHARED by both keeps its contents', () => {
    const a = boot(16);
    const name = new TextEncoder().encode('f\0');
    const nva = h.call(a, U.SYS_mmap, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
    copyToUser(h.k, a.proc.mm, nva, name, -1);
    const fd = h.call(a, U.SYS_memfd_create, nva, 0);
    const LEN = 2 ** 22;
    expect(h.call(a, U.SYS_ftruncate, fd, LEN)).toBe(0);
    const sa = h.call(a, U.SYS_mmap, 0, LEN, RW, U.MAP_SHARED | U.MAP_POPULATE, fd, 0);
    store(a, sa + 100 * P, 42);
    written(a, 2 ** 22);
    const child = clone(a, U.FORK_FLAGS); // inherits the descriptor and the shared mapping
    const sc = sa;
    exit(a);
    expect(a.proc.state).toBe('dying');
    let k = 0;
    turnsToZombie(a, () => {
      k++;
      store(child, sc + (512 + (k % 512)) * P, 1 + (k % 200)); // pages the dying process maps too
      validateMm(h.k, a.proc.mm);
    });
    expect(k).toBeGreaterThan(1);
    expect(load(child, sc + 100 * P)).toBe(42);
    expect(load(child, sc + (512 + (k % 512)) * P)).toBe(1 + (k % 200));
    expect(h.call(child, U.SYS_munmap, sc, LEN)).toBe(0);
  });

  it('a clone(CLONE_VM) sibling keeps the mm: no teardown, a zombie at once, the sibling\'s memory whole', () => {
    const a = boot(16);
    const va = written(a, 2 ** 22);
    store(a, va + P, 5);
    const sib = clone(a, U.CLONE_VM | U.SIGCHLD);
    exit(a);
    expect(a.proc.state).toBe('zombie');
    expect(a.proc.teardown).toBeNull();
    expect(h.kernel.tasks.exiting.length).toBe(0);
    expect(load(sib, va + P)).toBe(5);
    expect(sib.proc.mm.rssAnon).toBeGreaterThanOrEqual(2 ** 22 / P);
    // The last user's exit tears it down, in slices.
    exit(sib);
    expect(sib.proc.state).toBe('dying');
    expect(turnsToZombie(sib)).toBeGreaterThan(1);
  });

  it('/proc shows no memory for a process being torn down; the OOM killer waits for it and never chooses it', () => {
    const a = boot(16);
    const b = h.spawn();
    written(a, 2 ** 24);
    written(b, 2 ** 20);
    exit(a);
    expect(a.proc.state).toBe('dying');
    expect(procRead(h.kernel, a.proc, 'maps')).toBe('');
    expect(procRead(h.kernel, a.proc, 'oom_score')).toBe('0\n');
    const kills = h.k.events.oomKill;
    expect(outOfMemory(h.kernel, b, { gfp: 0, order: 0 })).toBe('waiting');
    expect(h.k.events.oomKill).toBe(kills);
    expect(b.proc.state).toBe('live');
    turnsToZombie(a);
    // Once it is gone, the killer chooses again (b, the only candidate).
    expect(outOfMemory(h.kernel, b, { gfp: 0, order: 0 })).toBe('killed');
    expect(b.proc.state).toBe('dying');
  });

  it('a process killed by the OOM killer is torn down in slices once its workers are gone, and is not killed twice', () => {
    const a = boot(16);
    const b = h.spawn();
    written(a, 2 ** 24);
    expect(outOfMemory(h.kernel, b, { gfp: 0, order: 0 })).toBe('killed');
    expect(a.proc.oomVictim).toBe(true);
    h.pump();
    const kills = h.k.events.oomKill;
    // Reaped at the kill: what is left to tear down is the page tables and the VMAs.
    expect(outOfMemory(h.kernel, b, { gfp: 0, order: 0 })).toBe('waiting');
    turnsToZombie(a);
    expect(h.k.events.oomKill).toBe(kills);
    expect(exits(a.proc.pid)).toBe(1);
  });
});

describe('the kernel loop and the harness', () => {
  it('Kernel.tick does a slice a turn and says there is more while a teardown has work left', () => {
    const a = boot(64);
    written(a, 2 ** 24);
    exit(a);
    let turns = 0;
    while (h.kernel.tick()) {
      h.pump();
      turns++;
    }
    h.pump();
    expect(turns).toBeGreaterThan(1);
    expect(a.proc.state).toBe('zombie');
  });

  it('several teardowns: each goes to its end, oldest first, and the frames all come back', () => {
    const a = boot(64);
    const b = h.spawn();
    const c = h.spawn();
    written(a, 2 ** 23);
    written(b, 2 ** 23);
    exit(a);
    exit(b);
    expect(h.kernel.tasks.exiting).toEqual([a.proc, b.proc]);
    const order: number[] = [];
    while (h.kernel.tasks.exiting.length > 0) {
      expect(h.syscall(c, U.SYS_getpid)).toEqual({ kind: 'return', value: c.proc.pid });
      h.serveRound();
      for (const p of [a.proc, b.proc]) if (p.state === 'zombie' && !order.includes(p.pid)) order.push(p.pid);
    }
    expect(order).toEqual([a.proc.pid, b.proc.pid]);
  });
});
