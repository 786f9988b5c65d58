// The OOM killer (mm/oom_kill.c), memory's half: how bad a process is (oom_badness), the
// reaper that takes an OOM victim's memory back without waiting for it to exit
// (__oom_reap_task_mm), the state they keep, and the page fault's way in
// (pagefault_out_of_memory). Choosing, killing and logging is the process side's
// (task/oom.ts), which memory reaches through the hook the kernel installs (OomHook).
//
// What a caller must guarantee: a process given to oomBadness or an mm given to oomReapMm
// is not torn down (its state is not 'zombie').

import { Ratelimit } from '../ratelimit.ts';
import { OOM_SCORE_ADJ_MIN } from '../uapi.ts';
import type { Kmm } from './kmm.ts';
import { unmapVmaRange } from './memory.ts';
import type { Mm } from './mm.ts';
import { VM_HUGETLB, VM_SHARED, vmaIsAnonymous } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { GFP_USER, __GFP_NORETRY, __GFP_ZERO } from './page_alloc.ts';
import { VM_PFNMAP } from './pagewalk.ts';

/**
 * pagefault_out_of_memory: a fault of mm at va on cpu found no frame. Without a hook
 * (memory driven alone, in tests) nobody is killed and the fault simply fails again.
 *
 * Linux runs the OOM killer from the page allocator's slow path (__alloc_pages_may_oom)
 * once reclaim gives up, and a VM_FAULT_OOM that reaches the fault handler only retries.
 * ptlab's allocator fails at once, so the failed fault stands in for that slow path: the
 * hook runs the OOM killer (task/oom.ts) and the kernel retries the fault if the faulting
 * process is still alive.
 */
export function pagefaultOutOfMemory(k: Kmm, mm: Mm, cpu: number, va: number): void {
  k.oom?.outOfMemory(mm, cpu, va);
}

/** oom_badness's LONG_MIN: not a candidate at all (below any real score). */
export const OOM_UNKILLABLE = -Infinity;

/** What oom_badness reads of a process (the task_struct and signal_struct fields). */
export interface OomTask {
  readonly state: 'live' | 'dying' | 'zombie';
  readonly mm: Mm;
  /** signal->oom_score_adj, in [OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX]. */
  readonly oomScoreAdj: number;
  /** vfork_done: the thread (of the vforking process) held until this one exits, or null. */
  readonly vforkDone: { readonly proc: { readonly mm: Mm } } | null;
}

/** What the OOM killer keeps between calls (mm flags and oom_kill.c's statics in Linux). */
export class OomState {
  /**
   * Address spaces the reaper has emptied (MMF_OOM_SKIP): oom_badness passes over them and
   * nothing reaps them twice. Mm has no flags word for it; a WeakSet lets them go.
   */
  readonly reaped = new WeakSet<Mm>();
  /** dump_header's ratelimit (oom_rs in oom_kill_process). */
  readonly headerRs = new Ratelimit();
  /** pr_warn_once of a write to the legacy /proc/PID/oom_adj. */
  oomAdjWarned = false;
}

/** in_vfork: a CLONE_VFORK child still running in its parent's address space. */
export function inVfork(p: OomTask): boolean {
  return p.vforkDone !== null && p.vforkDone.proc.mm === p.mm;
}

/**
 * totalram_pages() + total_swap_pages: what oom_badness scales oom_score_adj by and
 * /proc/PID/oom_score divides by. `swapPages` is the swap space in pages (the caller's:
 * the kernel knows whether swap is on).
 */
export function oomTotalPages(k: Kmm, swapPages: number): number {
  return k.pages.nrFrames - 1 + swapPages; // frame 0 is reserved (MemTotal)
}

/**
 * oom_badness: how much memory killing p would free, in pages (resident pages, swap
 * entries and page-table pages), plus oom_score_adj thousandths of totalPages; or
 * OOM_UNKILLABLE for a process with no address space left (or one being torn down),
 * exempt (oom_score_adj -1000), already reaped (MMF_OOM_SKIP) or a vfork child (its memory
 * is its parent's). May be negative. Linux gives root no bonus any more (the 3% went in 4.17).
 */
export function oomBadness(p: OomTask, totalPages: number, state: OomState): number {
  if (p.state === 'zombie' || p.mm.exiting) return OOM_UNKILLABLE; // find_lock_task_mm: no thread has the mm
  const adj = p.oomScoreAdj;
  if (adj === OOM_SCORE_ADJ_MIN || state.reaped.has(p.mm) || inVfork(p)) return OOM_UNKILLABLE;
  const mm = p.mm;
  // get_mm_rss + MM_SWAPENTS + mm_pgtables_bytes / PAGE_SIZE
  const points = mm.rss() + mm.swapents + mm.ptePages;
  return points + adj * Math.floor(totalPages / 1000);
}

/**
 * __oom_reap_task_mm: unmap at once the memory of an OOM victim that can go without its
 * help (its threads are being stopped and will not touch it again), so that it comes back
 * before the host has stopped the victim's workers. Every VMA but hugetlb and PFN maps
 * whose backing is anonymous or private has its pages zapped, as MADV_DONTNEED would
 * (anonymous pages freed, page-cache pages unmapped); mlocked memory too, as Linux 6.x
 * reaps it. Shared memory stays (its pages outlive the process), and so do the page tables
 * (they go when the address space is torn down). The zapped range is shot down on the
 * mm's CPUs; `cpu` is the caller's (-1 for none). Marks mm reaped.
 */
export function oomReapMm(k: Kmm, mm: Mm, state: OomState, cpu: number): void {
  state.reaped.add(mm);
  const g = new Gather();
  // From the top down, as 6.18 does (to meet the exit path, which goes up, less often).
  const vmas = mm.vmas.all();
  for (let i = vmas.length - 1; i >= 0; i--) {
    const v = vmas[i];
    if ((v.flags & (VM_HUGETLB | VM_PFNMAP)) !== 0) continue;
    // Another mm's tables (an mshare region): shared, and not this mm's to empty.
    if (v.ops.foreignTables === true) continue;
    if (vmaIsAnonymous(v) || (v.flags & VM_SHARED) === 0) unmapVmaRange(k, v, v.start, v.end, g);
  }
  finishGather(k, mm, g, cpu);
}

// Linux's gfp_t bits (include/linux/gfp_types.h), for the log: ptlab's GFP_* are its own.
const L_GFP_ZERO = 0x100;
const L_GFP_NORETRY = 0x10000;
const L_GFP_COMP = 0x40000;
const L_GFP_KERNEL = 0xcc0;
const L_GFP_HIGHUSER_MOVABLE = 0x100cca;

/** %pGg's names, compound masks first, in include/trace/events/mmflags.h's order (the ones ptlab makes). */
const GFP_NAMES: readonly [number, string][] = [
  [L_GFP_HIGHUSER_MOVABLE, 'GFP_HIGHUSER_MOVABLE'], [L_GFP_KERNEL, 'GFP_KERNEL'],
  [L_GFP_NORETRY, '__GFP_NORETRY'], [L_GFP_COMP, '__GFP_COMP'], [L_GFP_ZERO, '__GFP_ZERO'],
];

/**
 * The gfp_mask an allocation of 2^order frames with ptlab's `gfp` would have in Linux, as
 * dump_header prints it ("%#x(%pGg)"): a user page is GFP_HIGHUSER_MOVABLE (zeroed after
 * the allocation, so without __GFP_ZERO) and a folio (__GFP_COMP), as a page fault's is;
 * a kernel page GFP_KERNEL, with __GFP_ZERO if asked.
 */
export function gfpMaskText(gfp: number, order: number): string {
  const user = (gfp & GFP_USER) !== 0;
  let mask = user ? L_GFP_HIGHUSER_MOVABLE : L_GFP_KERNEL;
  if (user || order > 0) mask |= L_GFP_COMP;
  if (!user && (gfp & __GFP_ZERO) !== 0) mask |= L_GFP_ZERO;
  if ((gfp & __GFP_NORETRY) !== 0) mask |= L_GFP_NORETRY;
  const names: string[] = [];
  let left = mask;
  for (const [bits, name] of GFP_NAMES) {
    if ((left & bits) !== bits) continue;
    names.push(name);
    left &= ~bits;
  }
  return `0x${mask.toString(16)}(${names.join('|')})`;
}

/** What a page fault allocates (for the OOM killer's report): one user page. */
export const PAGEFAULT_GFP = GFP_USER;
