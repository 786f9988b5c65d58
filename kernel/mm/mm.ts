// Address spaces (struct mm_struct): an Mm is a process's PML4, its VMA tree, its
// resource limits and the counters /proc shows (RSS by kind, VmPTE, VmSize, VmData,
// locked memory), with the accounting rules that keep them (vm_stat_account,
// may_expand_vm, mlock limits). The page tables themselves are memory.ts's.

import {
  ENOMEM, RLIM_NLIMITS, RLIMIT_AS, RLIMIT_CORE, RLIMIT_DATA, RLIMIT_MEMLOCK, RLIMIT_NOFILE, RLIMIT_STACK, TASK_SIZE,
} from '../uapi.ts';
import type { Kmm } from './kmm.ts';
import { type Vma, VM_GROWSDOWN, VM_LOCKED, VM_SHARED, VM_WRITE } from './mm_types.ts';
import { PG_PGTABLE, allocPages, GFP_KERNEL, __GFP_ZERO } from './page_alloc.ts';
import { VmaTree } from './vmatree.ts';

export const USER_TOP = 2 ** 47;
/** Where the heap starts (where a PIE's brk area typically lies on x86-64). */
export const HEAP_BASE = 0x5555_5560_0000;
export class Mm {
  readonly k: Kmm;
  readonly pml4: number;
  readonly vmas = new VmaTree();
  /**
   * Page tables set aside with each transparent huge PMD (pgtable_trans_huge_deposit), by the
   * PMD entry's word: a split never needs a frame it may not get. Counted in ptePages.
   */
  readonly deposited = new Map<number, number>();
  /** CPUs whose TLB may hold this mm's translations (the CPUs of its threads). */
  readonly cpus = new Set<number>();
  /** Resident anonymous and shmem pages (RSS by kind), and page-table pages (VmPTE). */
  rssAnon = 0;
  rssShmem = 0;
  ptePages = 0;
  /** Swap entries in its page tables (MM_SWAPENTS: VmSwap). */
  swapents = 0;
  /** Faults that read a page from swap (maj_flt). */
  majFaults = 0;
  /** Sum of VMA sizes in pages (VmSize), and its highest value before an unmap (VmPeak). */
  totalVm = 0;
  hiwaterVm = 0;
  /** Pages of private writable non-stack mappings (VmData; what RLIMIT_DATA limits). */
  dataVm = 0;
  /** Pages of VM_GROWSDOWN mappings (stack_vm: VmStk). */
  stackVm = 0;
  /** Resource limits [soft, hard] by RLIMIT_*, in bytes or counts; Infinity = unlimited. */
  readonly rlimits: [number, number][] = defaultRlimits();
  /** Highest RSS seen (VmHWM), in pages. */
  hiwaterRss = 0;
  /** Processes using it (mm_users): more than one after clone(CLONE_VM) without CLONE_THREAD. */
  users = 1;
  /**
   * The CPU whose system call holds this mm between its slices (mm/slice.ts), or -1: as its
   * mmap_lock, requests of the mm's other threads wait until that call ends (kernel.ts).
   */
  slicedCpu = -1;
  /** That call holds mmap_lock for read (a populate): the mm's page faults are served meanwhile (SliceBudget.shared). */
  slicedShared = false;
  /**
   * CPUs whose calls in slices began under that read hold and run beside it (a /proc walk
   * beside a populate): readers of mmap_lock too, so when the holder lets go one of them
   * takes the hold, and a call that takes the mm for write waits for all (joinMm, leaveMm).
   */
  readonly readersBeside = new Set<number>();
  /**
   * The CPU of a call that takes the mm for write and was turned away by a read hold, or
   * -1: new calls of the mm's other threads queue behind it (as an rwsem's readers queue
   * behind a waiting writer), so that readers taking turns cannot starve it (kernel.ts).
   */
  writerWaiting = -1;
  /**
   * Work from outside the mm that waits for that call to let go of it as of mmap_lock
   * (a pipe's hand-over into a blocked reader's buffer, wait4's status copy): see waitForMm.
   */
  readonly lockWaiters = new Map<object, () => void>();
  /**
   * VMAs an munmap in slices took out of the tree and is still zapping (munmap.ts): their
   * PTEs are still in the tables until it gets to them (validateMm allows them there).
   */
  unmapping: readonly Vma[] = [];
  /**
   * Its teardown has begun (exit_mmap.ts; Linux's task has no mm then and the mm is
   * MMF_OOM_SKIP): /proc shows no memory for it, the OOM killer does not count it.
   */
  exiting = false;
  /** Write faults here that reused a page (pgreuse) and that copied one (wp_page_copy). */
  pgreuse = 0;
  cowFaults = 0;
  /**
   * Where top-down searches for free room start (mmap_base): exec sets it from
   * RLIMIT_STACK (stack.ts mmapBaseFor); this is its value for the default 8 MiB.
   */
  mmapBase = TASK_SIZE - (128 << 20);
  /**
   * CAP_IPC_LOCK of the tasks using this mm (credentials belong to tasks in Linux; every
   * thread here shares its process's). Without it RLIMIT_MEMLOCK limits locked memory.
   */
  capIpcLock = true;
  /** Flush whole TLBs on any change (an mshare host mm: see finishGather). */
  flushAll = false;
  /** The CPUs a flush of this mm must reach, when not its own (an mshare host mm). */
  flushCpus: (() => Iterable<number>) | null = null;
  /** TLB flushes in progress on this mm (inc/dec_tlb_flush_pending); > 1 means nested. */
  tlbFlushPending = 0;
  /** VMA flags every new mapping gets (mlockall MCL_FUTURE sets VM_LOCKED here). */
  defFlags = 0;
  /** Where the main thread's stack began at exec (start_stack): maps names its VMA [stack]; 0 for none. */
  startStack = 0;
  /** Start of the heap (start_brk) and the current break (brk). */
  startBrk = HEAP_BASE;
  brk = HEAP_BASE;

  /** An address space whose PML4 is the (zeroed, PG_PGTABLE) frame `pml4`: see mmAlloc. */
  constructor(k: Kmm, pml4: number) {
    this.k = k;
    this.pml4 = pml4;
  }

  rss(): number {
    return this.rssAnon + this.rssShmem;
  }

  noteRss(): void {
    const r = this.rss();
    if (r > this.hiwaterRss) this.hiwaterRss = r;
  }
}

/** mm_alloc: a new, empty address space (its PML4 allocated), or -ENOMEM. */
export function mmAlloc(k: Kmm): Mm | number {
  const pfn = allocPages(k, 0, GFP_KERNEL | __GFP_ZERO);
  if (pfn < 0) return -ENOMEM;
  k.pages.flags[pfn] |= PG_PGTABLE;
  return new Mm(k, pfn);
}

/** locked_vm: pages of VM_LOCKED mappings (computed, as count_mm_mlocked_page_nr walks them). */
export function lockedVm(mm: Mm, start = 0, end = USER_TOP): number {
  let n = 0;
  for (const v of mm.vmas.intersecting(start, end)) {
    if ((v.flags & VM_LOCKED) !== 0) n += (Math.min(end, v.end) - Math.max(start, v.start)) / 4096;
  }
  return n;
}

/** can_do_mlock: CAP_IPC_LOCK, or a non-zero RLIMIT_MEMLOCK. */
export function canDoMlock(mm: Mm): boolean {
  return mm.capIpcLock || mm.rlimits[RLIMIT_MEMLOCK][0] !== 0;
}

/** mlock_future_ok: room for `bytes` more locked memory if `flags` has VM_LOCKED. */
export function mlockFutureOk(mm: Mm, flags: number, bytes: number): boolean {
  if ((flags & VM_LOCKED) === 0 || mm.capIpcLock) return true;
  return lockedVm(mm) + bytes / 4096 <= Math.floor(mm.rlimits[RLIMIT_MEMLOCK][0] / 4096);
}

/** Linux's defaults for a process started by root. */
function defaultRlimits(): [number, number][] {
  const r: [number, number][] = Array.from({ length: RLIM_NLIMITS }, () => [Infinity, Infinity]);
  r[RLIMIT_STACK] = [8 << 20, Infinity];
  r[RLIMIT_CORE] = [0, Infinity];
  r[RLIMIT_NOFILE] = [1024, 4096];
  r[RLIMIT_MEMLOCK] = [8 << 20, 8 << 20];
  return r;
}

/** is_data_mapping: private, writable, not a stack. */
export function isDataMapping(flags: number): boolean {
  return (flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) === VM_WRITE;
}

/** vm_stat_account: count npages (negative to remove) of a mapping with `flags`. */
export function vmStatAccount(mm: Mm, flags: number, npages: number): void {
  if (npages < 0 && mm.totalVm > mm.hiwaterVm) mm.hiwaterVm = mm.totalVm; // update_hiwater_vm
  mm.totalVm += npages;
  if ((flags & VM_GROWSDOWN) !== 0) mm.stackVm += npages; // is_stack_mapping
  else if (isDataMapping(flags)) mm.dataVm += npages;
}

/** may_expand_vm: room for npages more of a mapping with `flags` under RLIMIT_AS and RLIMIT_DATA. */
export function mayExpandVm(mm: Mm, flags: number, npages: number): boolean {
  if (mm.totalVm + npages > mm.rlimits[RLIMIT_AS][0] / 4096) return false;
  if (isDataMapping(flags) && mm.dataVm + npages > mm.rlimits[RLIMIT_DATA][0] / 4096) return false;
  return true;
}

/**
 * An access to mm on behalf of a thread on `cpu` that is not its request (a pipe's
 * hand-over into a blocked reader's buffer, wait4's status copy into a blocked parent's)
 * must wait: a call in slices of another CPU holds mm for write. Linux's accessor would
 * take mmap_lock for its page faults and wait; between two slices of a munmap, mprotect or
 * mremap's move it would otherwise see, and fault pages into, a half-done call.
 */
export function mmHeldAgainst(mm: Mm, cpu: number): boolean {
  return mm.slicedCpu !== -1 && mm.slicedCpu !== cpu && !mm.slicedShared;
}

/**
 * Run fn once the call in slices holding mm for write no longer does (the kernel runs it:
 * SliceBudget.due); one wait per key (a pipe, a child to hand over), the last fn kept.
 */
export function waitForMm(mm: Mm, key: object, fn: () => void): void {
  mm.lockWaiters.set(key, fn);
}

/**
 * mm's hold changes: let go of (holder -1) or kept for read only (shared); what waited for
 * the write hold is due now (the kernel runs SliceBudget.due at its next chance).
 */
export function setMmHold(k: Kmm, mm: Mm, holder: number, shared: boolean): void {
  mm.slicedCpu = holder;
  mm.slicedShared = holder !== -1 && shared;
  if ((holder === -1 || shared) && mm.lockWaiters.size > 0) {
    for (const fn of mm.lockWaiters.values()) k.slice.due.push(fn);
    mm.lockWaiters.clear();
  }
}

/**
 * A call in slices on `cpu` begins in mm: it holds mm if no call does (for write until its
 * first slice says otherwise), else it runs beside the holder's read hold (the caller saw
 * to it that there is one: kernel.ts waitsForMm, mmReadLock). True if it took the hold.
 */
export function joinMm(mm: Mm, cpu: number): boolean {
  if (mm.slicedCpu === -1) {
    mm.slicedCpu = cpu;
    return true;
  }
  if (mm.slicedCpu !== cpu) mm.readersBeside.add(cpu);
  return false;
}

/**
 * The call in slices on `cpu` is done with mm (it ended, or its thread did): a holder
 * hands the hold, for read, to a call running beside it, or lets go of the mm.
 */
export function leaveMm(k: Kmm, mm: Mm, cpu: number): void {
  if (mm.slicedCpu !== cpu) {
    mm.readersBeside.delete(cpu);
    return;
  }
  const next = mm.readersBeside.values().next();
  if (next.done === true) return setMmHold(k, mm, -1, false);
  mm.readersBeside.delete(next.value);
  setMmHold(k, mm, next.value, true);
}

/** mmap_read_lock of mm from `cpu` would wait: a write hold, or a writer queued for it. */
export function mmReadBlocked(mm: Mm, cpu: number): boolean {
  return mmHeldAgainst(mm, cpu) || (mm.writerWaiting !== -1 && mm.writerWaiting !== cpu);
}

/**
 * mmap_read_lock of another process's mm for a call in slices (a read of /proc/PID/maps):
 * yield, holding the caller's own mm only for read, while a call in slices of that mm's
 * holds it for write.
 */
export function* mmReadLock(k: Kmm, mm: Mm, cpu: number): Generator<void, void, void> {
  while (mmReadBlocked(mm, cpu)) {
    k.slice.shared = true;
    yield;
  }
}
