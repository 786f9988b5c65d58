// The kernel's memory: physical memory and everything the memory-management code keeps
// about it, composed of one object per subsystem. Every kernel function that touches
// memory takes it as its first argument (`k`); nothing in kernel/ keeps state in module
// variables, so two kernels in one test share nothing.
//
//   pages    the buddy allocator and the per-frame metadata (page_alloc.ts)
//   ops      atomic edits of live page-table entries (machine/pte.ts)
//   tlb      shootdowns, and the frames they hold back until acknowledged (mmu_gather.ts)
//   rmap     what reverse maps start from: anon_vmas and page caches by id (anon_vma.ts)
//   thp      transparent huge pages: policy and the huge zero page (huge_memory.ts)
//   hugetlb  the hugetlb pools and the pages in use (hugetlb.ts)
//   mshare   tables shared by mshare regions and the flush policy (mshare.ts)
//   vm       vm.* sysctls and build-time choices; events: /proc/vmstat event counts
//   oom      what memory asks of the process side when it runs out (the OOM killer's choice)
//   reclaim  the LRU's reclaim state, kswapd and the reclaim events (vmscan.ts)
//   swap     the swap area, if the machine has one (swapfile.ts)
//   slice    the budget of a slice of long work, and what slicing did (slice.ts)

import { type ControlBlock, PageTableOps, type PhysMem } from '../../machine/index.ts';
import { RmapRoots } from './anon_vma.ts';
import { Hugetlb } from './hugetlb.ts';
import { Thp } from './huge_memory.ts';
import { MshareState } from './mshare.ts';
import { TlbState } from './mmu_gather.ts';
import { KernelWork, ModelClock } from './clock.ts';
import { PageAllocator } from './page_alloc.ts';
import type { SwapInfo } from './swapfile.ts';
import { ReclaimState } from './lru.ts';
import type { Mm } from './mm.ts';
import { SliceBudget } from './slice.ts';
import { DEFAULT_MAX_MAP_COUNT } from '../uapi.ts';

/** vm.* sysctls, and choices a Linux kernel makes at build time. */
export class VmSettings {
  /** vm.max_map_count: most VMAs a process may have. */
  maxMapCount = DEFAULT_MAX_MAP_COUNT;
  /**
   * Map the shared zero page on read faults of private anonymous memory (Linux does, unless
   * mm_forbids_zeropage); false allocates a page as a write fault would.
   */
  zeroPage = true;
  /**
   * Soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY): new VMAs are VM_SOFTDIRTY, the fault path
   * sets the PTE's soft-dirty bit with D, clear_refs 4 clears both and write-protects.
   * Off: as a kernel built without it (the CI host is one).
   */
  softDirty = true;
  /**
   * vm.memfd_noexec (the init pid namespace's): 0, memfd_create without MFD_EXEC or
   * MFD_NOEXEC_SEAL means MFD_EXEC; 1, it means MFD_NOEXEC_SEAL; 2, as 1 and MFD_EXEC is EACCES.
   */
  memfdNoexec = 0;
  /**
   * Names of anonymous memory (CONFIG_ANON_VMA_NAME): prctl(PR_SET_VMA) names VMAs. Off:
   * as a kernel built without it, PR_SET_VMA is EINVAL (the project's host is one).
   */
  anonVmaName = true;
}

/** Event counts that /proc/vmstat shows (count_vm_event), beyond the page allocator's. */
export class VmEvents {
  /** Write faults that reused the page (pgreuse), and ptlab's own: those that copied it (wp_page_copy). */
  pgreuse = 0;
  cowFaults = 0;
  thpFaultAlloc = 0;
  thpFaultFallback = 0;
  thpSplitPmd = 0;
  thpZeroPageAlloc = 0;
  /** Flushes of mshare host mms, and the CPUs they were sent to (ptlab's own). */
  mshareFlushes = 0;
  mshareFlushCpus = 0;
  /** Huge entries the dirty helpers found writable or dirty (their WARN_ON). */
  hugeDirtyWarnings = 0;
  /** Processes the OOM killer killed (oom_kill). */
  oomKill = 0;
}

/**
 * What memory asks of the process side when no frame can be found (out_of_memory): to
 * choose a victim among the processes and kill it, so that its memory comes back. The
 * kernel installs it (kernel.ts); tests that drive memory alone leave it unset.
 */
export interface OomHook {
  /**
   * A page fault of `mm` at `va` on `cpu` found no frame and reclaim could not make room
   * (pagefault_out_of_memory): the OOM killer chooses a victim by badness and kills it.
   */
  outOfMemory(mm: Mm, cpu: number, va: number): void;
}

export class Kmm {
  readonly mem: PhysMem;
  readonly cb: ControlBlock;
  readonly pages: PageAllocator;
  readonly ops: PageTableOps;
  readonly tlb: TlbState;
  readonly rmap = new RmapRoots();
  readonly thp = new Thp();
  readonly hugetlb = new Hugetlb();
  readonly mshare = new MshareState();
  readonly vm = new VmSettings();
  readonly events = new VmEvents();
  readonly work = new KernelWork();
  /** Modeled time, the kernel's side (clock.ts). */
  readonly clock: ModelClock;
  readonly reclaim = new ReclaimState();
  swap: SwapInfo | null = null;
  readonly slice = new SliceBudget();
  /** Set by the process side (kernel.ts); tests without processes leave it unset. */
  oom: OomHook | null = null;
  /** get_next_ino: inode numbers of tmpfs, shmem and hugetlbfs files. */
  private lastIno = 1023;

  constructor(mem: PhysMem, cb: ControlBlock) {
    this.mem = mem;
    this.cb = cb;
    this.pages = new PageAllocator(mem);
    this.ops = new PageTableOps(mem, cb);
    this.tlb = new TlbState(cb);
    this.clock = new ModelClock(cb, this.work, this.pages, this.ops);
    this.tlb.flusher.clock = this.clock;
  }

  /** Add n to kernel counter `slot` (K_* of machine/counters.ts: what `ptlab stat` reads). */
  count(slot: number, n = 1): void {
    this.cb.f64[this.cb.kernelCounterIndex(slot)] += n;
  }

  /** A new inode number (get_next_ino). */
  nextIno(): number {
    return ++this.lastIno;
  }
}
