// The OOM killer (mm/oom_kill.c), the process side: when memory cannot be found, choose the
// process whose death frees the most (select_bad_process over oom_badness), kill it and
// every process sharing its address space (__oom_kill_process), have the reaper take its
// memory back at once, and say so in the kernel log in Linux's words (dump_header,
// dump_tasks, the summary and the kill lines). Memory's half (oom_badness, the reaper) is
// mm/oom_kill.ts.
//
// Caller: the kernel's OomHook (kernel.ts), for a page fault or populate loop whose
// allocation found no frame and whose reclaim made no progress. One request at a time (the
// kernel thread), so nothing runs between the choice and the kill.
//
// Where ptlab differs from Linux:
// - The reaper runs at once, inside the kill, where Linux's oom_reaper thread waits 2 s
//   (OOM_REAPER_DELAY) for the victim to exit by itself; and it runs just before the
//   SIGKILL rather than after: the victim's threads then take the shootdown as any thread
//   does, where a thread already told to exit would never acknowledge it (the shootdown
//   would wait out its timeout). Nothing runs in between, so nothing sees the difference.
// - Linux stops waiting for a victim once its mm is MMF_OOM_SKIP (reaped, or its exit_mmap
//   done), because a victim may be stuck for good; ptlab's victims always finish dying (the
//   host terminates their workers), so until every process using a victim's address space
//   is gone the killer waits ('waiting'): what the reaper leaves (page tables, shared,
//   hugetlb memory) comes back then, and nobody else dies for it. It waits the same way
//   for any process whose address space is being torn down (exit.ts, in slices), victim
//   or not, where Linux passes over a task without an mm: its memory is on its way, and
//   in one go it would have been back already. Such a process is never chosen or counted
//   (oom_badness, dump_tasks: its task has no mm).
// - With nobody left to kill Linux panics ("System is deadlocked on memory"). ptlab logs
//   it, kills the process that asked for memory if its oom_score_adj allows (-1000 does
//   not), and otherwise answers 'none': the caller retries, as a fault does, until some
//   memory comes back.
// - No memory cgroups, cpusets or NUMA policies (CONSTRAINT_NONE always), no
//   panic_on_oom, oom_kill_allocating_task or oom_dump_tasks sysctls (dump_tasks on), no
//   init to protect, and no stack or show_mem dump in the header.

import type { Kernel } from '../kernel.ts';
import { gfpMaskText, OOM_UNKILLABLE, oomBadness, oomReapMm } from '../mm/index.ts';
import * as U from '../uapi.ts';
import { killProcess } from './exit.ts';
import type { Process, Thread } from './task.ts';

/** What the allocation that failed asked for (struct oom_control): ptlab's GFP_* and the order. */
export interface OomControl {
  readonly gfp: number;
  readonly order: number;
}

/**
 * What out_of_memory did: 'killed' a victim (or had an exiting one reaped), so memory came
 * back or is on its way; 'waiting' for an earlier victim to finish dying, nothing done;
 * 'none': nobody could be killed. The caller retries the allocation in the first two cases.
 */
export type OomResult = 'killed' | 'waiting' | 'none';

const K = (pages: number): number => pages * 4; // pages to kB

/**
 * out_of_memory: an allocation (oc) by `trigger` (null: none, kernel context) found no
 * frame and reclaim could not help. Chooses and kills a victim; see OomResult.
 */
export function outOfMemory(kn: Kernel, trigger: Thread | null, oc: OomControl): OomResult {
  const current = trigger?.proc ?? null;
  // The caller is exiting and its memory goes with it: reap it, kill nobody.
  if (current !== null && willFreeMem(kn, current)) {
    reapVictim(kn, current, trigger);
    return 'killed';
  }
  const totalPages = kn.oomTotalPages();
  const chosen = selectBadProcess(kn, totalPages);
  if (chosen === 'abort') return 'waiting';
  if (chosen === null) return noVictim(kn, trigger, oc);
  oomKillProcess(kn, chosen, trigger, oc);
  return 'killed';
}

/**
 * select_bad_process (oom_evaluate_task on each process, in pid order): the highest
 * oom_badness, a later equal score replacing an earlier one; null if nobody is a
 * candidate; 'abort' if an earlier victim is still dying.
 */
function selectBadProcess(kn: Kernel, totalPages: number): Process | null | 'abort' {
  let chosen: Process | null = null;
  let chosenPoints = OOM_UNKILLABLE;
  if (kn.k.slice.background.length > 0) return 'abort'; // a killed fork's copy is on its way back
  for (const p of kn.tasks.procs.values()) {
    if (p.state === 'zombie') continue;
    if (p.oomVictim || p.teardown !== null) return 'abort';
    const points = oomBadness(p, totalPages, kn.oomState);
    if (points === OOM_UNKILLABLE || points < chosenPoints) continue;
    chosen = p;
    chosenPoints = points;
  }
  return chosen;
}

/** The processes other than p using p's address space (process_shares_mm), zombies aside. */
function sharers(kn: Kernel, p: Process): Process[] {
  const out: Process[] = [];
  if (p.mm.users <= 1) return out;
  for (const q of kn.tasks.procs.values()) if (q !== p && q.state !== 'zombie' && q.mm === p.mm) out.push(q);
  return out;
}

/**
 * task_will_free_mem: p is exiting, so is every other user of its address space, and the
 * reaper has not been there: its memory comes back without a kill.
 */
function willFreeMem(kn: Kernel, p: Process): boolean {
  if (p.state !== 'dying' || kn.oomState.reaped.has(p.mm)) return false;
  return sharers(kn, p).every((q) => q.state === 'dying');
}

/** mark_oom_victim and queue_oom_reaper for p (and the users of its mm), the reaper's line. */
function reapVictim(kn: Kernel, p: Process, trigger: Thread | null): void {
  p.oomVictim = true;
  for (const q of sharers(kn, p)) q.oomVictim = true;
  if (kn.oomState.reaped.has(p.mm)) return;
  oomReapMm(kn.k, p.mm, kn.oomState, trigger?.cpu ?? -1);
  const mm = p.mm;
  kn.printk(`oom_reaper: reaped process ${p.pid} (${p.comm}), now anon-rss:${K(mm.rssAnon)}kB, file-rss:0kB, shmem-rss:${K(mm.rssShmem)}kB`);
}

/**
 * oom_kill_process: a victim already exiting is only reaped; otherwise the header (rate
 * limited, as Linux's) and the kill.
 */
function oomKillProcess(kn: Kernel, victim: Process, trigger: Thread | null, oc: OomControl): void {
  if (willFreeMem(kn, victim)) {
    reapVictim(kn, victim, trigger);
    return;
  }
  if (headerAllowed(kn)) dumpHeader(kn, trigger, oc, victim);
  killVictim(kn, victim, trigger, 'Out of memory');
}

/** __ratelimit(&oom_rs), with the "callbacks suppressed" line when a new interval opens. */
function headerAllowed(kn: Kernel): boolean {
  return kn.oomState.headerRs.allow(performance.now(), 'oom_kill_process', (line: string) => kn.printk(line));
}

/**
 * __oom_kill_process: count it, log the kill line, reap the victim's memory, SIGKILL it and
 * every other process sharing its address space (the reap comes first: see the header).
 */
function killVictim(kn: Kernel, victim: Process, trigger: Thread | null, message: string): void {
  const comm = victim.comm;
  kn.k.events.oomKill++;
  const stats = victimStats(victim);
  kn.printk(`${message}: Killed process ${victim.pid} (${comm}) ${stats}`);
  const others = sharers(kn, victim);
  reapVictim(kn, victim, trigger);
  killProcess(kn, victim, U.SIGKILL, `Killed by the OOM killer (out of memory): ${stats}`);
  for (const q of others) {
    killProcess(kn, q, U.SIGKILL, `Killed by the OOM killer (out of memory): it shares the address space of process ${victim.pid} (${comm}), the victim`);
  }
}

/** The victim's figures as __oom_kill_process prints them (ptlab has no file RSS: shmem is all). */
function victimStats(p: Process): string {
  const mm = p.mm;
  return `total-vm:${K(mm.totalVm)}kB, anon-rss:${K(mm.rssAnon)}kB, file-rss:0kB, shmem-rss:${K(mm.rssShmem)}kB, `
    + `UID:0 pgtables:${K(mm.ptePages)}kB oom_score_adj:${p.oomScoreAdj}`;
}

/**
 * No candidate: the header and Linux's last words before its panic; then ptlab kills the
 * process that asked for memory, alone, if its oom_score_adj allows, else answers 'none'.
 */
function noVictim(kn: Kernel, trigger: Thread | null, oc: OomControl): OomResult {
  if (headerAllowed(kn)) {
    dumpHeader(kn, trigger, oc, null);
    kn.printk('Out of memory and no killable processes...');
  }
  const p = trigger?.proc;
  if (p === undefined || p.state !== 'live' || p.oomScoreAdj === U.OOM_SCORE_ADJ_MIN) return 'none';
  // Alone: whoever shares its memory (a vfork parent) was found unkillable.
  const message = 'Out of memory (no killable process)';
  kn.k.events.oomKill++;
  p.oomVictim = true;
  const stats = victimStats(p);
  kn.printk(`${message}: Killed process ${p.pid} (${p.comm}) ${stats}`);
  killProcess(kn, p, U.SIGKILL, `Killed by the OOM killer (out of memory, and no other process could be killed): ${stats}`);
  return 'killed';
}

/**
 * dump_header: who invoked the OOM killer and for what, the task table (dump_tasks), and
 * with a victim the one-line summary (dump_oom_summary) a kernel without cpusets and memory
 * cgroups prints.
 */
function dumpHeader(kn: Kernel, trigger: Thread | null, oc: OomControl, victim: Process | null): void {
  // With no task (kernel context) Linux's current is the idle task.
  const comm = trigger === null ? 'swapper/0' : trigger.proc.comm;
  const adj = trigger?.proc.oomScoreAdj ?? 0;
  kn.printk(`${comm} invoked oom-killer: gfp_mask=${gfpMaskText(oc.gfp, oc.order)}, order=${oc.order}, oom_score_adj=${adj}`);
  dumpTasks(kn);
  if (victim !== null) {
    kn.printk(`oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=${victim.comm},pid=${victim.pid},uid=0`);
  }
}

/** dump_tasks: every process with an address space, in pages (pgtables in bytes). */
function dumpTasks(kn: Kernel): void {
  kn.printk('Tasks state (memory values in pages):');
  kn.printk('[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name');
  const r = (x: number, w: number) => String(x).padStart(w);
  for (const p of kn.tasks.procs.values()) {
    if (p.state === 'zombie' || p.mm.exiting) continue; // find_lock_task_mm: no task has the mm
    const mm = p.mm;
    kn.printk(`[${r(p.pid, 7)}] ${r(0, 5)} ${r(p.pid, 5)} ${r(mm.totalVm, 8)} ${r(mm.rss(), 8)} ${r(mm.rssAnon, 8)} ${r(0, 8)} `
      + `${r(mm.rssShmem, 9)} ${r(mm.ptePages * 4096, 8)} ${r(mm.swapents, 8)}         ${r(p.oomScoreAdj, 5)} ${p.comm}`);
  }
}
