// The OOM killer (task/oom.ts, mm/oom_kill.ts) driven through the kernel without workers
// (KernelHarness): the victim oom_badness chooses, oom_score_adj's exemptions and
// preferences, the kill of every process sharing the victim's memory, the reaper, the
// kernel log in Linux's words, and /proc/PID/oom_score, oom_score_adj and oom_adj.
import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { procOpen, procRead } from '../../../kernel/fs/proc/base.ts';
import type { File } from '../../../kernel/fs/file.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { GFP_USER } from '../../../kernel/mm/page_alloc.ts';
import { die } from '../../../kernel/task/exit.ts';
import { outOfMemory } from '../../../kernel/task/oom.ts';
import type { Process, Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const P = 4096;
const WRITE = X86_PF_USER | X86_PF_WRITE;

let h: KernelHarness;
/** Frames the test took from the allocator (real exhaustion), given back after each test. */
let taken: number[] = [];

afterEach(() => {
  for (const p of taken) h.k.pages.putPage(p);
  taken = [];
  h.killAll();
  expect(h.leakedFrames(), 'frames not freed').toBe(0);
});

function boot(memBytes = 16 << 20): void {
  h = new KernelHarness({ memBytes, validate: true });
}

/** A process running /NAME.ts with `pages` private pages written: its main thread and the mapping. */
function proc(name: string, pages: number): { t: Thread; p: Process; va: number } {
  const t = h.spawn(`/${name}.ts`);
  const va = h.call(t, U.SYS_mmap, 0, Math.max(1, pages) * P, RW, ANON, -1, 0);
  for (let i = 0; i < pages; i++) expect(h.fault(t, va + i * P, WRITE)).toEqual({ kind: 'return', value: 0 });
  return { t, p: t.proc, va };
}

/** Take every free frame. */
function exhaust(): void {
  for (let order = 18; order >= 0; order--) for (let p = h.k.pages.takeBlock(order); p >= 0; p = h.k.pages.takeBlock(order)) taken.push(p);
  expect(h.k.pages.nrFree).toBe(0);
}

const klog = (): string[] => h.messages.flatMap((m) => (m.t === 'klog' ? [m.text] : []));

/**
 * Take the kernel's messages as pump() does, but leave the workers it asked to stop
 * running (a slow host): the CPUs to report gone later with hostGone.
 */
function drainSlowly(): number[] {
  const cpus: number[] = [];
  for (let m = h.toHost.receive(); m !== undefined; m = h.toHost.receive()) {
    const msg = m as (typeof h.messages)[number];
    h.messages.push(msg);
    if (msg.t === 'terminate') cpus.push(msg.cpu);
  }
  return cpus;
}

function hostGone(cpus: number[]): void {
  for (const cpu of cpus) h.kernel.hostMessage({ t: 'exited', cpu });
  h.pump();
}
const exitOf = (pid: number) => h.messages.find((m) => m.t === 'procexit' && m.pid === pid) as Extract<(typeof h.messages)[number], { t: 'procexit' }> | undefined;
const killedPids = (): number[] => klog().flatMap((l) => /^Out of memory: Killed process (\d+) /.exec(l)?.[1] ?? []).map(Number);

/** Open /proc/PID/name for `by`. */
function open(by: Thread, pid: number, name: string, flags = U.O_RDWR): File {
  const f = procOpen(h.kernel, by.proc, `/proc/${pid}/${name}`, flags);
  if (typeof f === 'number') throw new Error(`open ${name}: ${f}`);
  return f;
}

/** write(2) of `text` to /proc/PID/name by `by`: the result. */
function write(by: Thread, pid: number, name: string, text: string | Uint8Array): number {
  const f = open(by, pid, name);
  return f.ops.write!(f, typeof text === 'string' ? new TextEncoder().encode(text) : text, 0);
}

const read = (p: Process, name: string): string => procRead(h.kernel, p, name);

/** oom_badness and proc_oom_score as Linux computes them, for a process with these figures. */
function expectedScore(p: Process): number {
  const total = h.k.pages.nrFrames - 1;
  const badness = p.mm.rss() + p.mm.ptePages + p.oomScoreAdj * Math.floor(total / 1000);
  return Math.trunc((1000 + Math.trunc(badness * 1000 / total)) * 2 / 3);
}

describe('the OOM killer chooses by oom_badness', () => {
  it('kills the process with the most memory, not the one that faulted; the fault is retried', () => {
    boot();
    const a = proc('small', 50);
    const b = proc('big', 300);
    const c = proc('middle', 200);
    const d = proc('faulter', 10);
    const va = h.call(d.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    exhaust();
    // The faulting process is still alive: its fault is answered so that it retries.
    expect(h.fault(d.t, va, WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(killedPids()).toEqual([b.p.pid]);
    expect(exitOf(b.p.pid)?.status).toBe(U.wSignalStatus(U.SIGKILL));
    // total-vm: its 1200 kB and the 132 kB stack every process starts with.
    expect(exitOf(b.p.pid)?.report).toMatch(/^Killed by the OOM killer \(out of memory\): total-vm:1332kB, anon-rss:1200kB, /);
    for (const x of [a, c, d]) expect(x.p.state).toBe('live');
    // The big process's pages are back: the retried fault finds one.
    expect(h.k.pages.nrFree).toBeGreaterThanOrEqual(300);
    expect(h.fault(d.t, va, WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(d.p.mm.rssAnon).toBe(11);
    expect(h.k.events.oomKill).toBe(1);
    expect(procRead(h.kernel, a.p, 'vmstat')).toMatch(/\npgreuse \d+\n(?:.*\n)*?oom_kill 1\n(?:.*\n)*?thp_fault_alloc /);
  });

  it('oom_score_adj -1000 makes the biggest process immune; the next biggest dies', () => {
    boot();
    const big = proc('big', 300);
    const middle = proc('middle', 200);
    const d = proc('faulter', 10);
    expect(write(big.t, big.p.pid, 'oom_score_adj', '-1000\n')).toBe(6);
    exhaust();
    const va = h.call(d.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    expect(h.fault(d.t, va, WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(killedPids()).toEqual([middle.p.pid]);
    expect(big.p.state).toBe('live');
  });

  it('oom_score_adj 1000 makes a small process the victim', () => {
    boot();
    const small = proc('small', 5);
    proc('big', 300);
    const d = proc('faulter', 10);
    expect(write(small.t, small.p.pid, 'oom_score_adj', '1000')).toBe(4);
    const pgtables = 4 * small.p.mm.ptePages;
    exhaust();
    const va = h.call(d.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    h.fault(d.t, va, WRITE);
    expect(killedPids()[0]).toBe(small.p.pid);
    expect(klog()).toContain(`Out of memory: Killed process ${small.p.pid} (small) total-vm:152kB, anon-rss:20kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:${pgtables}kB oom_score_adj:1000`);
  });

  it('of equal scores the later process is chosen (a later equal score replaces the choice)', () => {
    boot();
    const first = proc('first', 100);
    const second = proc('second', 100);
    const d = proc('faulter', 10);
    expect(first.p.mm.ptePages).toBe(second.p.mm.ptePages);
    exhaust();
    const va = h.call(d.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    h.fault(d.t, va, WRITE);
    expect(killedPids()).toEqual([second.p.pid]);
  });

  it('the faulting process is the victim when it is the biggest: its fault ends it', () => {
    boot();
    proc('small', 20);
    const d = proc('faulter', 300);
    const va = h.call(d.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    exhaust();
    expect(h.fault(d.t, va, WRITE)).toEqual({ kind: 'exit' });
    expect(killedPids()).toEqual([d.p.pid]);
    expect(exitOf(d.p.pid)?.report).toMatch(/^Killed by the OOM killer/);
  });
});

describe('the kill', () => {
  it('logs in Linux 6.18 words: the header, the task table, the summary, the kill and the reaper', () => {
    boot();
    const a = proc('alpha', 40);
    const b = proc('beta', 120);
    expect(write(a.t, a.p.pid, 'oom_score_adj', '-5')).toBe(2);
    const va = h.call(a.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    exhaust();
    h.fault(a.t, va, WRITE);
    const row = (p: Process, adj: number, name: string) => {
      const mm = p.mm;
      return `[${String(p.pid).padStart(7)}]     0 ${String(p.pid).padStart(5)} ${String(mm.totalVm).padStart(8)} ${String(mm.rss()).padStart(8)} `
        + `${String(mm.rssAnon).padStart(8)}        0         0 ${String(mm.ptePages * 4096).padStart(8)}        0         ${String(adj).padStart(5)} ${name}`;
    };
    // Rows show the figures before the kill: b's are read again from the kill line.
    const lines = klog();
    expect(lines[0]).toBe('alpha invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=-5');
    expect(lines[1]).toBe('Tasks state (memory values in pages):');
    expect(lines[2]).toBe('[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name');
    expect(lines[3]).toBe(row(a.p, -5, 'alpha'));
    expect(lines[4]).toMatch(new RegExp(`^\\[${String(b.p.pid).padStart(7)}\\]     0 ${String(b.p.pid).padStart(5)} +153 +120 +120 +0 +0 +\\d+ +0 +0 beta$`)); // total_vm: 120 pages and the 33 of its stack
    expect(lines[5]).toBe(`oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=beta,pid=${b.p.pid},uid=0`);
    expect(lines[6]).toMatch(new RegExp(`^Out of memory: Killed process ${b.p.pid} \\(beta\\) total-vm:\\d+kB, anon-rss:480kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:\\d+kB oom_score_adj:0$`));
    expect(lines[7]).toBe(`oom_reaper: reaped process ${b.p.pid} (beta), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB`);
    expect(lines).toHaveLength(8);
  });

  it('reaps the victim at once: its frames are free before its workers are gone; meanwhile the killer waits', () => {
    boot();
    const big = proc('big', 400);
    const d = proc('faulter', 10);
    exhaust();
    // The OOM killer called directly: no host plays its part until pump().
    expect(outOfMemory(h.kernel, d.t, { gfp: GFP_USER, order: 0 })).toBe('killed');
    expect(big.p.state).toBe('dying');
    expect(big.p.threads.size).toBe(1); // its worker is still there
    expect(h.k.pages.nrFree).toBeGreaterThanOrEqual(400);
    expect(big.p.mm.rssAnon).toBe(0);
    // Another call while the victim is still dying: nobody else is killed, nothing logged.
    const cpus = drainSlowly();
    const before = klog().length;
    expect(before).toBeGreaterThan(5);
    expect(outOfMemory(h.kernel, d.t, { gfp: GFP_USER, order: 0 })).toBe('waiting');
    expect(drainSlowly()).toEqual([]);
    expect(klog().length).toBe(before);
    hostGone(cpus);
    expect(h.kernel.tasks.procs.has(big.p.pid)).toBe(false);
    // Once it is gone the killer chooses again.
    expect(outOfMemory(h.kernel, d.t, { gfp: GFP_USER, order: 0 })).toBe('killed');
    expect(d.p.state).toBe('dying');
    h.pump();
  });

  it('kills every process sharing the victim\'s memory (CLONE_VM), and only those', () => {
    boot();
    const big = proc('big', 300);
    const other = proc('other', 50);
    const sharer = cloneVm(big.t);
    const d = proc('faulter', 10);
    const va = h.call(d.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    exhaust();
    h.fault(d.t, va, WRITE);
    // The victim is the last of the equal pair (both count the shared memory).
    expect(killedPids()).toEqual([sharer.pid]);
    for (const p of [big.p, sharer]) expect(exitOf(p.pid)?.status).toBe(U.wSignalStatus(U.SIGKILL));
    expect(exitOf(big.p.pid)?.report).toBe(`Killed by the OOM killer (out of memory): it shares the address space of process ${sharer.pid} (sharer), the victim`);
    expect(other.p.state).toBe('live');
    expect(d.p.state).toBe('live');
    expect(h.k.events.oomKill).toBe(1);
  });

  it('an exiting process is reaped, not killed, and nobody else dies for it', () => {
    boot();
    const big = proc('big', 300);
    const d = proc('faulter', 10);
    exhaust();
    // big exits; the host has not reported its worker gone yet (no pump).
    die(h.kernel, big.p, U.wExitStatus(0), '');
    expect(outOfMemory(h.kernel, d.t, { gfp: GFP_USER, order: 0 })).toBe('killed');
    const cpus = drainSlowly();
    expect(klog()).toEqual([`oom_reaper: reaped process ${big.p.pid} (big), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB`]);
    expect(h.k.pages.nrFree).toBeGreaterThanOrEqual(300);
    expect(h.k.events.oomKill).toBe(0);
    expect(outOfMemory(h.kernel, d.t, { gfp: GFP_USER, order: 0 })).toBe('waiting');
    hostGone(cpus);
    expect(exitOf(big.p.pid)?.status).toBe(U.wExitStatus(0));
    expect(d.p.state).toBe('live');
  });

  it('with nobody killable it logs so; an exempt faulter retries, a vfork child that may die does', () => {
    boot();
    const parent = proc('parent', 100);
    expect(write(parent.t, parent.p.pid, 'oom_score_adj', '-1000')).toBe(5);
    const va = h.call(parent.t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    exhaust();
    expect(h.fault(parent.t, va, WRITE)).toEqual({ kind: 'return', value: 0 });
    expect(klog()).toContain('Out of memory and no killable processes...');
    expect(parent.p.state).toBe('live');
    // A vfork child runs in its parent's memory: oom_badness passes over it.
    for (const f of taken.splice(0)) h.k.pages.putPage(f);
    const child = vfork(parent.t);
    exhaust();
    expect(child.oomScoreAdj).toBe(-1000);
    expect(write(child.threads.get(child.pid)!, child.pid, 'oom_score_adj', '0')).toBe(1);
    expect(parent.p.oomScoreAdj).toBe(-1000); // a vfork child's value is its own
    expect(read(child, 'oom_score')).toBe('0\n');
    expect(h.fault(child.threads.get(child.pid)!, va, WRITE)).toEqual({ kind: 'exit' });
    expect(klog().at(-1)).toMatch(new RegExp(`^Out of memory \\(no killable process\\): Killed process ${child.pid} \\(sharer\\) `));
    expect(exitOf(child.pid)?.report).toMatch(/^Killed by the OOM killer \(out of memory, and no other process could be killed\): /);
    // The parent's memory was not reaped; its vfork returns.
    expect(parent.p.mm.rssAnon).toBe(100);
    expect(h.kernel.tasks.cpuThread[parent.t.cpu]?.blocked).toBeNull();
  });
});

/** clone(CLONE_VM) from t, its child named /sharer.ts: the child process. */
function cloneVm(t: Thread, flags = U.CLONE_VM | U.SIGCHLD): Process {
  const bytes = new TextEncoder().encode(JSON.stringify({ path: '/sharer.ts', exportName: 'child', arg: null }));
  const va = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
  expect(copyToUser(h.k, t.proc.mm, va, bytes, -1)).toBe(0);
  const before = new Set(h.kernel.tasks.procs.keys());
  h.syscall(t, U.SYS_clone, flags, va, bytes.length);
  return [...h.kernel.tasks.procs.values()].find((p) => !before.has(p.pid))!;
}

function vfork(t: Thread): Process {
  const child = cloneVm(t, U.VFORK_FLAGS);
  expect(h.kernel.tasks.cpuThread[t.cpu]?.blocked).toEqual({ kind: 'vfork', pid: child.pid });
  return child;
}

describe('/proc/PID/oom_score, oom_score_adj, oom_adj', () => {
  it('oom_score is (1000 + badness * 1000 / totalpages) * 2 / 3, 0 when exempt', () => {
    boot();
    const a = proc('a', 200);
    expect(read(a.p, 'oom_score')).toBe(`${expectedScore(a.p)}\n`);
    expect(expectedScore(a.p)).toBe(Math.trunc((1000 + Math.trunc((200 + a.p.mm.ptePages) * 1000 / 4095)) * 2 / 3));
    for (const adj of ['1000', '-999', '500', '-1']) {
      expect(write(a.t, a.p.pid, 'oom_score_adj', adj)).toBe(adj.length);
      expect(read(a.p, 'oom_score')).toBe(`${expectedScore(a.p)}\n`);
    }
    expect(write(a.t, a.p.pid, 'oom_score_adj', '1000')).toBe(4);
    expect(read(a.p, 'oom_score')).toBe(`${Math.trunc((1000 + Math.trunc((200 + a.p.mm.ptePages + 4000) * 1000 / 4095)) * 2 / 3)}\n`);
    expect(write(a.t, a.p.pid, 'oom_score_adj', '-1000')).toBe(5);
    expect(read(a.p, 'oom_score')).toBe('0\n');
  });

  it('oom_score_adj: reads the value; writes take an integer in [-1000, 1000] as kstrtoint reads it', () => {
    boot();
    const { t, p } = proc('a', 1);
    expect(read(p, 'oom_score_adj')).toBe('0\n');
    const cases: [string, number, number][] = [
      ['500', 3, 500], [' -5 \n', 5, -5], ['\t+7\n', 4, 7], ['0x10', 4, 16], ['010', 3, 8], ['-0x3e8', 6, -1000],
      ['1000\n', 5, 1000], ['12\0garbage', 10, 12],
    ];
    for (const [text, ret, value] of cases) {
      expect(write(t, p.pid, 'oom_score_adj', text), JSON.stringify(text)).toBe(ret);
      expect(read(p, 'oom_score_adj')).toBe(`${value}\n`);
    }
    const errors: [string, number][] = [
      ['1001', -U.EINVAL], ['-1001', -U.EINVAL], ['abc', -U.EINVAL], ['', -U.EINVAL], ['\n', -U.EINVAL], ['12abc', -U.EINVAL],
      ['1 2', -U.EINVAL], ['08', -U.EINVAL], ['0x', -U.EINVAL], ['+-1', -U.EINVAL], ['99999999999', -U.ERANGE],
      ['-2147483649', -U.ERANGE], ['2147483647', -U.EINVAL], ['            7', -U.EINVAL],
    ];
    for (const [text, err] of errors) expect(write(t, p.pid, 'oom_score_adj', text), JSON.stringify(text)).toBe(err);
    expect(read(p, 'oom_score_adj')).toBe('12\n');
    // Only the first 12 bytes count, and that is what the write takes.
    expect(write(t, p.pid, 'oom_score_adj', '3           \n\n\n')).toBe(12);
    expect(read(p, 'oom_score_adj')).toBe('3\n');
    // oom_score is read-only.
    const f = open(t, p.pid, 'oom_score');
    expect(f.ops.write).toBeUndefined();
  });

  it('lowering below oom_score_adj_min needs CAP_SYS_RESOURCE (EACCES), which also moves the floor', () => {
    boot();
    const { t, p } = proc('a', 1);
    const other = proc('b', 1);
    const capSysResource = 1n << BigInt(U.CAP_SYS_RESOURCE);
    // With it: any value, and the floor follows.
    expect(write(t, p.pid, 'oom_score_adj', '-500')).toBe(4);
    expect(p.oomScoreAdjMin).toBe(-500);
    p.caps.effective &= ~capSysResource;
    expect(write(t, p.pid, 'oom_score_adj', '-600')).toBe(-U.EACCES);
    expect(write(t, p.pid, 'oom_score_adj', '300')).toBe(3);
    expect(p.oomScoreAdjMin).toBe(-500);
    // Back down to the floor is allowed (Linux compares with oom_score_adj_min).
    expect(write(t, p.pid, 'oom_score_adj', '-500')).toBe(4);
    expect(write(t, p.pid, 'oom_score_adj', '-501')).toBe(-U.EACCES);
    expect(read(p, 'oom_score_adj')).toBe('-500\n');
    // The writer's capability counts, not the target's.
    expect(write(t, other.p.pid, 'oom_score_adj', '-1')).toBe(-U.EACCES);
    expect(write(other.t, p.pid, 'oom_score_adj', '-1000')).toBe(5);
    // Children inherit the value and the floor, by fork and by spawn.
    const child = cloneVm(t, U.FORK_FLAGS);
    expect([child.oomScoreAdj, child.oomScoreAdjMin]).toEqual([-1000, -1000]);
    const desc = new TextEncoder().encode(JSON.stringify({ path: '/spawned.ts', argv: [] }));
    const va = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    copyToUser(h.k, t.proc.mm, va, desc, -1);
    const pid = h.call(t, U.SYS_ptlab_spawn, va, desc.length);
    expect(h.kernel.tasks.procs.get(pid)!.oomScoreAdj).toBe(-1000);
  });

  it('a write reaches every process sharing the address space, vfork children aside', () => {
    boot();
    const { t, p } = proc('a', 1);
    const sharer = cloneVm(t);
    expect(write(t, p.pid, 'oom_score_adj', '250')).toBe(3);
    expect(sharer.oomScoreAdj).toBe(250);
    expect(write(sharer.threads.get(sharer.pid)!, sharer.pid, 'oom_score_adj', '-20')).toBe(3);
    expect(p.oomScoreAdj).toBe(-20);
    const child = vfork(t);
    expect(write(child.threads.get(child.pid)!, p.pid, 'oom_score_adj', '40')).toBe(2);
    expect([p.oomScoreAdj, sharer.oomScoreAdj, child.oomScoreAdj]).toEqual([40, 40, -20]);
  });

  it('oom_adj: the legacy scale, -17 exempts, 15 is 1000; lowering needs CAP_SYS_RESOURCE; warned once', () => {
    boot();
    const { t, p } = proc('a', 1);
    const cases: [string, number, string][] = [['-17', -1000, '-17'], ['15', 1000, '15'], ['8', 470, '7'], ['-16', -941, '-15'], ['0', 0, '0']];
    for (const [text, adj, back] of cases) {
      expect(write(t, p.pid, 'oom_adj', text)).toBe(text.length);
      expect(p.oomScoreAdj).toBe(adj);
      expect(read(p, 'oom_adj')).toBe(`${back}\n`);
    }
    for (const bad of ['16', '-18', 'x']) expect(write(t, p.pid, 'oom_adj', bad)).toBe(-U.EINVAL);
    h.pump();
    expect(klog().filter((l) => l.includes('deprecated'))).toEqual([`a (${p.pid}): /proc/${p.pid}/oom_adj is deprecated, please use /proc/${p.pid}/oom_score_adj instead.`]);
    p.caps.effective &= ~(1n << BigInt(U.CAP_SYS_RESOURCE));
    expect(write(t, p.pid, 'oom_adj', '3')).toBe(1);
    expect(write(t, p.pid, 'oom_adj', '2')).toBe(-U.EACCES);
    // oom_score_adj shows the scaled value; reading oom_adj scales it back.
    expect(read(p, 'oom_score_adj')).toBe('176\n');
  });

  it('guests reach the files through open, read and write', () => {
    boot();
    const { t, p } = proc('a', 1);
    const path = new TextEncoder().encode(`/proc/self/oom_score_adj\0-42\n`);
    const va = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    copyToUser(h.k, p.mm, va, path, -1);
    const fd = h.call(t, U.SYS_open, va, U.O_RDWR, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(h.call(t, U.SYS_write, fd, va + 25, 4)).toBe(4);
    expect(h.call(t, U.SYS_pread64, fd, va + 100, 16, 0)).toBe(4);
    expect(p.oomScoreAdj).toBe(-42);
  });
});
