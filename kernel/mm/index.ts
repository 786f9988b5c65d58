// kernel/mm: memory management, the public face. Other folders import mm through this file
// only; inside mm, files import each other directly. In dependency order, roughly:
//
//   page_alloc   frames: the buddy allocator, per-frame metadata, allocPages
//   kmm          the kernel's memory: one object per subsystem, no module state
//   mm, mm_types address spaces, VMAs, VM_* flags, VmOperations (what a backing does)
//   vmatree, interval_tree, anon_vma, vma     the VMA index, i_mmap, anon_vmas, the VMA layer
//   pgtable, memory, pagewalk, mmu_gather, tlbflush    page tables, walks, shootdowns
//   fault, gup, filemap, huge_memory, hugetlb, refpage, mshare     faults and backings
//   mmap, munmap, mprotect, mremap, madvise, mlock, mseal, msync   the system calls
//   exit_mmap    an ended process's address space torn down, in slices
//   slice        long work in bounded slices (cond_resched)
//   truncate     truncation, hole punching and fallocate of a page cache, in slices
//   rmap, mapping_dirty_helpers, uaccess, oom_kill, validate
//   swapfile, swap_state, vmscan   the swap area, the swap cache and swap-in, the LRU and reclaim

export { anonNameFromUser, madviseSetAnonName, validAnonName } from './anon_name.ts';
export { argBytes, initialStack, setupStack, STACK_TOP } from './exec.ts';
export { exitMmap, exitMmapSliced } from './exit_mmap.ts';
export { FAULT_DONE, FAULT_OOM, handleMmFault } from './fault.ts';
export { AddressSpace, cachePage, fileMmap, filemapFault, readCache, releaseIfUnused, shmemZeroSetup, writeCache } from './filemap.ts';
export { HPAGE_PMD_NR, HPAGE_PMD_SIZE, thpEligible } from './huge_memory.ts';
export { HugetlbMapping, hugetlbfsMmap } from './hugetlb.ts';
export { Kmm, type OomHook } from './kmm.ts';
export { sysMadvise, sysMadviseSliced } from './madvise.ts';
export { cleanRecordSharedMappingRange, wpSharedMappingRange } from './mapping_dirty_helpers.ts';
export { sysMlock, sysMlockall, sysMlockallSliced, sysMlockSliced } from './mlock.ts';
export { joinMm, leaveMm, lockedVm, type Mm, mmAlloc, mmHeldAgainst, mmReadBlocked, mmReadLock, setMmHold, waitForMm } from './mm.ts';
export {
  FAULT_SEGV_ACCERR, FAULT_SIGBUS, type MappedFile, type Vma, type VmaDesc, vmaHasFile, type VmOperations, VM_ACCOUNT, VM_EXEC,
  VM_HUGETLB, VM_LOCKED, VM_LOCKONFAULT, VM_MAYSHARE, VM_READ, VM_SHARED, VM_SOFTDIRTY, VM_WRITE,
} from './mm_types.ts';
export { dupMmap, dupMmapSliced, sysBrk, sysBrkSliced, sysMmap, sysMmapSliced } from './mmap.ts';
export { finishGather, Gather, releaseDeferred } from './mmu_gather.ts';
export { sysMprotect, sysMprotectSliced } from './mprotect.ts';
export { sysMremap, sysMremapSliced } from './mremap.ts';
export { sysMseal } from './mseal.ts';
export { MSHARE_ALIGN, MshareRegion, regionMmap, regionUnmappedArea } from './mshare.ts';
export { sysMincore, sysMsync, sysMsyncSliced } from './msync.ts';
export { sysMunmap, sysMunmapSliced } from './munmap.ts';
export {
  gfpMaskText, inVfork, OOM_UNKILLABLE, oomBadness, oomReapMm, OomState, type OomTask, oomTotalPages,
  PAGEFAULT_GFP, pagefaultOutOfMemory,
} from './oom_kill.ts';
export {
  allocPages, GFP_USER, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE, PageAllocator, PG_ANON, PG_BUDDY,
  PG_DIRTY, PG_HEAD, PG_LAZYFREE, PG_PGTABLE, PG_SHMEM, PG_SWAPCACHE,
} from './page_alloc.ts';
export { ACTION_CONTINUE, forEachPte, type MmWalk, type MmWalkOps, VM_PFNMAP, walkPageRange } from './pagewalk.ts';
export { pteMapped } from './pgtable.ts';
export { type RefPage, refpageAlloc, refpageMmap } from './refpage.ts';
export { drain, finish, type MaybeSliced, SliceBudget, type Sliced } from './slice.ts';
export { inPieces, nextTable, pieceCost } from './slice_range.ts';
export { fallocatePages, punchHoleSliced, truncateSliced, unmapMappingRange } from './truncate.ts';
export { addSeals, checkSealsFallocate, checkSealsResize, F_ALL_SEALS, type SealedFile } from './seals.ts';
export { copyFromUser, copyFromUserPartial, copyToUser, copyToUserPartial, jsonFromUser, pathFromUser } from './uaccess.ts';
export { isGuardPte, markerSwpOffset, SwapInfo, swpOffset, swpType, SWP_PTE_MARKER, _PAGE_SWP_SOFT_DIRTY } from './swapfile.ts';
export { validateMm } from './validate.ts';
export { ReclaimEvents } from './lru.ts';
export { kswapdStep, reclaimBeforeCall, reclaimForAllocation, tryToFreePages } from './vmscan.ts';
export { COST_NAMES, DEFAULT_COSTS, FILLED_COSTS, type KernelCosts, parseCosts } from './costs.ts';
export { ModelClock } from './clock.ts';
