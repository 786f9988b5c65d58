// Hand-written differential cases: one script per row of the check-order tables in
// ../shared/reference/vma-syscalls.md (sections 4.1, 5, 7, 8, 9, 10 and 11), run on the host
// kernel and on ptlab like the random scripts. Offsets are relative to the reserved range;
// "mmapx OFF ... FD OFFSET" with OFF -1 asks for any address. fd 3 is /proc/self/maps
// opened read-only and fd 4 /proc/self/status opened write-only, on both sides: files with
// no mmap operation.
//
// Rows that need what does not exist yet are left out and listed here: files that can be
// mapped (4.1 rows 15, 16, 17b, 17c, 18a, 18c, 18e; 7 EACCES; 9 REMOVE and DONTNEED on file
// mappings), a lowered vm.max_map_count (4.1
// row 10 and the 5 hole rule: kernel unit tests cover them), lengths near 2^64 (not exact in
// a double; the hostile-argument test covers them). Guard regions (9 GUARD_INSTALL) have
// their own case; populate (22, 23) stands for the accesses that hit them.
//
// Not compared: smaps Referenced in a script that used MADV_FREE (both sides print "-").
// Linux clears the referenced flag of the pages it made lazy only when a per-CPU batch
// drains, so the host answers either way from one run to the next; ptlab shows the
// drained state.

const P = 4096;
const PRIVATE = 0x2;
const SHARED = 0x1;
const VALIDATE = 0x3;
const FIXED = 0x10;
const ANON = 0x20;
const DROPPABLE = 0x08;
const GROWSDOWN = 0x100;
const LOCKED = 0x2000;
const POPULATE = 0x8000;
const HUGETLB = 0x40000;
const NOREPLACE = 0x100000;
const PA = PRIVATE | ANON | FIXED;
const SA = SHARED | ANON | FIXED;
const huge = (log: number) => log * 2 ** 26;
// mremap flags
const MAYMOVE = 1;
const MFIXED = 2;
const DONTUNMAP = 4;

export const CASES: Record<string, string> = {
  // --- mmap (4.1) ---
  'mmap 1: unaligned offset EINVAL, aligned offset on anonymous memory ignored': `
    mmapx 0 ${P} 3 ${PA} -1 1
    mmapx 0 ${P} 3 ${PA} -1 ${P}`,
  'mmap 2: a bad descriptor is EBADF, before len 0': `
    mmapx 0 ${P} 3 ${PRIVATE | FIXED} 1000 0
    mmapx 0 ${P} 3 ${PRIVATE | FIXED} -1 0
    mmapx 0 0 3 ${PRIVATE | FIXED} -1 0`,
  'mmap 3: MAP_HUGETLB on a file that is not hugetlbfs': `
    mmapx 0 ${P} 1 ${PRIVATE | FIXED | HUGETLB} 3 0`,
  'mmap 4: anonymous MAP_HUGETLB, unknown size EINVAL (before len 0), empty pool ENOMEM': `
    mmapx 0 ${P} 3 ${PA | HUGETLB | huge(14)} -1 0
    mmapx 0 0 3 ${PA | HUGETLB | huge(14)} -1 0
    mmapx -1 ${512 * P} 3 ${PRIVATE | ANON | HUGETLB} -1 0
    mmapx -1 ${512 * P} 3 ${PRIVATE | ANON | HUGETLB | huge(21)} -1 0`,
  'mmap 6: len 0': `
    mmap 0 0 3 ${PA}
    mmapx -1 0 3 ${PRIVATE | ANON} -1 0`,
  'mmap 11: no room for 2^47 bytes': `
    mmapx -1 ${2 ** 47} 3 ${PRIVATE | ANON} -1 0`,
  'mmap 12: MAP_FIXED_NOREPLACE is EEXIST over anything, exact elsewhere': `
    mmap 0 ${8 * P} 3 ${PA}
    mmap ${4 * P} ${8 * P} 3 ${PRIVATE | ANON | NOREPLACE}
    mmap ${7 * P} ${P} 3 ${PRIVATE | ANON | NOREPLACE}
    mmap ${16 * P} ${4 * P} 3 ${PRIVATE | ANON | NOREPLACE}`,
  'mmap 17: MAP_SHARED_VALIDATE with an unknown bit or MAP_FIXED_NOREPLACE on a file': `
    mmapx 0 ${P} 1 ${VALIDATE | FIXED | 0x200000} 3 0
    mmapx 0 ${P} 1 ${VALIDATE | NOREPLACE} 3 0
    mmapx 0 ${P} 1 ${VALIDATE | FIXED} 3 0`,
  'mmap 17a: shared writable mapping of a read-only descriptor': `
    mmapx 0 ${P} 3 ${SHARED | FIXED} 3 0
    mmapx 0 ${P} 3 ${PRIVATE | FIXED} 3 0`,
  'mmap 18: a descriptor not open for reading': `
    mmapx 0 ${P} 1 ${PRIVATE | FIXED} 4 0
    mmapx 0 ${P} 1 ${SHARED | FIXED} 4 0`,
  'mmap 18b, 18d: no mmap operation is ENODEV; a bad type on a file EINVAL': `
    mmapx 0 ${P} 1 ${SHARED | FIXED} 3 0
    mmapx 0 ${P} 1 ${FIXED} 3 0`,
  'mmap 19: shared anonymous MAP_GROWSDOWN': `
    mmap 0 ${4 * P} 3 ${SA | GROWSDOWN}
    mmap 0 ${4 * P} 3 ${PA | GROWSDOWN}`,
  'mmap 20: MAP_DROPPABLE refuses LOCKED, HUGETLB, GROWSDOWN; mlock leaves it unlocked; no KEEPONFORK or DODUMP': `
    mmap 0 ${4 * P} 3 ${DROPPABLE | ANON | FIXED | LOCKED}
    mmap 0 ${4 * P} 3 ${DROPPABLE | ANON | FIXED | HUGETLB}
    mmap 0 ${4 * P} 3 ${DROPPABLE | ANON | FIXED | GROWSDOWN}
    mmap 0 ${4 * P} 3 ${DROPPABLE | ANON | FIXED}
    mmap ${4 * P} ${4 * P} 3 ${DROPPABLE | ANON | FIXED}
    mmap ${8 * P} ${2 * P} 3 ${PA}
    mlock ${P} ${8 * P} 2
    madvise 0 ${P} 19
    madvise 0 ${P} 17
    madvise 0 ${P} 18
    mseal ${2 * P} ${P} 0
    mremap ${6 * P} ${P} ${P} ${MAYMOVE | MFIXED} ${20 * P}`,
  'mmap 22: anonymous MAP_SHARED_VALIDATE and type 0 are EINVAL': `
    mmap 0 ${4 * P} 3 ${VALIDATE | ANON | FIXED}
    mmap 0 ${4 * P} 3 ${ANON | FIXED}`,
  'mmap 25: MAP_FIXED over a sealed page is EPERM and changes nothing': `
    mmap 0 ${8 * P} 3 ${PA}
    mmap ${8 * P} ${8 * P} 1 ${PA}
    mseal ${2 * P} ${2 * P} 0
    mmap 0 ${12 * P} 1 ${PA}
    mmap ${4 * P} ${4 * P} 1 ${PA}`,
  'mmap 25b: RLIMIT_AS counts the net growth of a MAP_FIXED replacement': `
    mmap 0 ${8 * P} 3 ${PA}
    aslimit 2
    mmap 0 ${8 * P} 3 ${PA}
    mmap 0 ${10 * P} 3 ${PA}
    mmap 0 ${13 * P} 3 ${PA}
    mmapx -1 ${P} 0 ${PRIVATE | ANON} -1 0`,
  'mmap 25b: RLIMIT_DATA counts private writable memory only': `
    datalimit 4
    mmap 0 ${5 * P} 3 ${PA}
    mmap 0 ${5 * P} 1 ${PA}
    mmap ${8 * P} ${5 * P} 3 ${SA}
    mprotect 0 ${5 * P} 3
    mprotect 0 ${4 * P} 3`,
  'mmap 26: MAP_POPULATE and MAP_LOCKED fault in; unknown flag and prot bits are ignored': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mmap ${8 * P} ${4 * P} 1 ${PA | LOCKED}
    mmap ${16 * P} ${4 * P} ${3 | 0x10} ${PA | 0x200000}
    mmap ${24 * P} ${4 * P} 3 ${SA | POPULATE}
    mincore 0 ${28 * P}`,
  // --- munmap (5) ---
  'munmap: unaligned start, start past TASK_SIZE, too long, len 0': `
    munmap 1 ${P}
    munmap ${2 ** 47} ${P}
    munmap 0 ${2 ** 47}
    munmap 0 0`,
  'munmap: nothing mapped is success; an unaligned length rounds up': `
    munmap 0 ${4 * P}
    mmap 0 ${4 * P} 3 ${PA}
    munmap 0 ${P + 1}`,
  'munmap: a sealed VMA inside is EPERM, and the first split stays': `
    mmap 0 ${12 * P} 1 ${PA}
    mseal ${4 * P} ${4 * P} 0
    munmap ${2 * P} ${8 * P}`,
  // --- mprotect (7) ---
  'mprotect 1, 2, 3: both GROWS bits, unaligned with len 0, len 0 unmapped': `
    mmap 0 ${4 * P} 3 ${PA}
    mprotect 0 ${P} ${1 | 0x1000000 | 0x2000000}
    mprotect 1 0 1
    mprotect ${100 * P} 0 1`,
  'mprotect 5: unknown bits EINVAL, PROT_SEM accepted': `
    mmap 0 ${4 * P} 3 ${PA}
    mprotect 0 ${4 * P} 16
    mprotect 0 ${4 * P} 9`,
  'mprotect 7, 9: nothing there, or a start in a hole': `
    mprotect ${100 * P} ${4 * P} 1
    mmap ${4 * P} ${4 * P} 3 ${PA}
    mprotect ${2 * P} ${4 * P} 1`,
  'mprotect 8: PROT_GROWSDOWN extends to the VMA start; EINVAL without VM_GROWSDOWN, and GROWSUP': `
    mmap ${4 * P} ${4 * P} 3 ${PA | GROWSDOWN}
    mprotect ${6 * P} ${P} ${1 | 0x1000000}
    mmap ${20 * P} ${4 * P} 3 ${PA}
    mprotect ${20 * P} ${P} ${1 | 0x1000000}
    mprotect ${20 * P} ${P} ${1 | 0x2000000}`,
  'mprotect 10, 11: a hole stops it with ENOMEM after the VMAs before it changed': `
    mmap 0 ${4 * P} 3 ${PA}
    mmap ${5 * P} ${3 * P} 3 ${PA}
    mprotect 0 ${8 * P} 1`,
  'mprotect 10: a sealed VMA is EPERM, even with no change, after the ones before it changed': `
    mmap 0 ${4 * P} 3 ${PA}
    mseal ${2 * P} ${2 * P} 0
    mprotect ${2 * P} ${2 * P} 3
    mprotect 0 ${4 * P} 1`,
  // --- mremap (8) ---
  'mremap 1-4: flags, alignment, new_len 0, past TASK_SIZE': `
    mmap 0 ${4 * P} 3 ${PA}
    mremap 0 ${P} ${P} 8 0
    mremap 1 ${P} ${P} 0 0
    mremap 0 ${P} 0 ${MAYMOVE} 0
    mremap 0 ${P} ${2 ** 47} ${MAYMOVE} 0
    mremap 0 ${P} ${P} ${MAYMOVE | MFIXED} ${2 ** 47}`,
  'mremap 5: FIXED and DONTUNMAP rules': `
    mmap 0 ${4 * P} 3 ${PA}
    mremap 0 ${P} ${P} ${MAYMOVE | MFIXED} ${16 * P + 1}
    mremap 0 ${P} ${P} ${MFIXED} ${16 * P}
    mremap 0 ${P} ${P} ${DONTUNMAP} ${16 * P}
    mremap 0 ${P} ${2 * P} ${MAYMOVE | DONTUNMAP} ${16 * P}
    mremap 0 ${2 * P} ${2 * P} ${MAYMOVE | MFIXED} ${P}`,
  'mremap 6, 9: no VMA at old_addr is EFAULT; a resize past the VMA end too': `
    mremap ${40 * P} ${P} ${2 * P} ${MAYMOVE} 0
    mmap 0 ${2 * P} 3 ${PA}
    mmap ${2 * P} ${2 * P} 1 ${PA}
    mremap 0 ${4 * P} ${6 * P} ${MAYMOVE} 0`,
  'mremap 7: a sealed source (shrink, grow, move) or a sealed FIXED target is EPERM': `
    mmap 0 ${4 * P} 3 ${PA}
    mseal 0 ${4 * P} 0
    mremap 0 ${4 * P} ${2 * P} 0 0
    mremap 0 ${4 * P} ${8 * P} ${MAYMOVE} 0
    mremap 0 ${4 * P} ${4 * P} ${MAYMOVE | MFIXED} ${16 * P}
    mmap ${16 * P} ${4 * P} 3 ${PA}
    mremap ${16 * P} ${P} ${P} ${MAYMOVE | MFIXED} 0`,
  'mremap 8: old_len 0 duplicates shared memory with MAYMOVE; EINVAL private, ENOMEM without MAYMOVE': `
    mmap 0 ${4 * P} 3 ${PA}
    mremap 0 0 ${P} ${MAYMOVE} 0
    mmap ${8 * P} ${4 * P} 3 ${SA}
    mremap ${8 * P} 0 ${P} 0 0
    mremap ${8 * P} 0 ${2 * P} ${MAYMOVE | MFIXED} ${20 * P}`,
  'mremap 11: growth over RLIMIT_AS is ENOMEM': `
    mmap 0 ${4 * P} 3 ${PA}
    aslimit 1
    mremap 0 ${4 * P} ${6 * P} ${MAYMOVE} 0
    mremap 0 ${4 * P} ${5 * P} ${MAYMOVE} 0`,
  'mremap: shrink, same size, grow into an exact hole, ENOMEM without MAYMOVE, then move': `
    mmap 0 ${4 * P} 3 ${PA}
    mmap ${5 * P} ${P} 3 ${PA}
    mremap 0 ${4 * P} ${3 * P + 1} 0 0
    mremap 0 ${3 * P} ${3 * P} 0 0
    mremap 0 ${3 * P} ${5 * P} 0 0
    mremap 0 ${5 * P} ${7 * P} 0 0
    mremap 0 ${5 * P} ${7 * P} ${MAYMOVE | MFIXED} ${32 * P}`,
  'mremap: DONTUNMAP leaves the source; a FIXED move across VMAs and gaps keeps boundaries': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mremap 0 ${4 * P} ${4 * P} ${MAYMOVE | DONTUNMAP | MFIXED} ${16 * P}
    mmap ${40 * P} ${2 * P} 3 ${PA}
    mmap ${43 * P} ${2 * P} 1 ${PA}
    mmap ${60 * P} ${8 * P} 5 ${PA}
    mremap ${40 * P} ${5 * P} ${5 * P} ${MAYMOVE | MFIXED} ${61 * P}`,
  // --- madvise (9) ---
  'madvise 1-4: unaligned start and bad advice even with len 0; len 0': `
    madvise 1 0 4
    madvise 0 0 999
    madvise 0 0 4`,
  'madvise 5: a hole is ENOMEM after the advice was applied to the mapped part': `
    mmap 0 ${8 * P} 3 ${PA}
    madvise ${6 * P} ${4 * P} 1`,
  'madvise 6: discard advice on sealed read-only private memory is EPERM, fine when writable': `
    mmap 0 ${4 * P} 1 ${PA}
    mmap ${8 * P} ${4 * P} 3 ${PA}
    mseal 0 ${4 * P} 0
    mseal ${8 * P} ${4 * P} 0
    madvise 0 ${P} 4
    madvise 0 ${P} 8
    madvise 0 ${P} 10
    madvise 0 ${P} 18
    madvise 0 ${P} 24
    madvise 0 ${P} 1
    madvise ${8 * P} ${P} 4`,
  'madvise: DONTNEED on locked memory EINVAL, DONTNEED_LOCKED fine; FREE private anonymous only': `
    mmap 0 ${4 * P} 3 ${PA | LOCKED}
    madvise 0 ${4 * P} 4
    madvise 0 ${4 * P} 24
    madvise 0 ${4 * P} 8
    mmap ${8 * P} ${4 * P} 3 ${SA}
    madvise ${8 * P} ${4 * P} 8
    mmap ${16 * P} ${4 * P} 3 ${PA}
    madvise ${16 * P} ${4 * P} 8`,
  'madvise: POPULATE_READ needs PROT_READ (write-only and exec-only are EINVAL), POPULATE_WRITE PROT_WRITE': `
    mmap 0 ${2 * P} 2 ${PA}
    madvise 0 ${2 * P} 22
    madvise 0 ${2 * P} 23
    mmap ${4 * P} ${2 * P} 4 ${PA}
    madvise ${4 * P} ${2 * P} 22
    mmap ${8 * P} ${2 * P} 1 ${PA}
    madvise ${8 * P} ${2 * P} 23
    madvise ${8 * P} ${2 * P} 22
    mmap ${12 * P} ${2 * P} 0 ${PA}
    madvise ${12 * P} ${2 * P} 22`,
  'madvise: REMOVE on shared anonymous memory, EINVAL on private; WIPEONFORK private anonymous only': `
    mmap 0 ${4 * P} 3 ${SA | POPULATE}
    madvise 0 ${2 * P} 9
    mmap ${8 * P} ${4 * P} 3 ${PA}
    madvise ${8 * P} ${4 * P} 9
    madvise 0 ${4 * P} 18
    madvise ${8 * P} ${2 * P} 18
    madvise ${8 * P} ${P} 19`,
  'madvise: flag advice splits and merges (DONTFORK, DONTDUMP, HUGEPAGE, SEQUENTIAL)': `
    mmap 0 ${8 * P} 3 ${PA}
    madvise ${P} ${P} 10
    madvise ${2 * P} ${P} 16
    madvise ${3 * P} ${P} 14
    madvise ${4 * P} ${P} 15
    madvise ${5 * P} ${P} 2
    madvise ${P} ${P} 11
    madvise ${2 * P} ${P} 17
    madvise 0 ${8 * P} 0`,
  'madvise: COLD and PAGEOUT refuse locked memory; COLLAPSE refuses a small range': `
    mmap 0 ${4 * P} 3 ${PA | LOCKED}
    madvise 0 ${4 * P} 20
    madvise 0 ${4 * P} 21
    mmap ${8 * P} ${4 * P} 3 ${PA}
    madvise ${8 * P} ${4 * P} 20
    madvise ${8 * P} ${4 * P} 25`,
  'madvise: POPULATE on PROT_NONE and WRITE on read-only are EINVAL, a hole ENOMEM, past EOF EFAULT': `
    mmap 0 ${4 * P} 0 ${PA}
    madvise 0 ${4 * P} 22
    mmap ${8 * P} ${4 * P} 1 ${PA}
    madvise ${8 * P} ${4 * P} 23
    madvise ${8 * P} ${4 * P} 22
    madvise ${8 * P} ${8 * P} 22
    mmap ${20 * P} ${2 * P} 3 ${SA}
    mremap ${20 * P} ${2 * P} ${4 * P} 0 0
    madvise ${20 * P} ${4 * P} 22
    mincore ${20 * P} ${4 * P}`,
  // --- mseal (10) ---
  'mseal: flags, alignment with len 0, len 0, and a gap changes nothing': `
    mmap 0 ${4 * P} 3 ${PA}
    mmap ${5 * P} ${P} 3 ${PA}
    mseal 0 ${P} 1
    mseal 1 0 0
    mseal 0 0 0
    mseal 0 ${6 * P} 0
    mseal ${40 * P} ${P} 0`,
  'mseal: splits to the range, idempotent; mlock, munlock and RANDOM still work': `
    mmap 0 ${6 * P} 3 ${PA}
    mseal ${2 * P} ${2 * P} 0
    mseal ${2 * P} ${2 * P} 0
    mlock ${2 * P} ${P} 2
    munlock ${2 * P} ${P}
    madvise ${2 * P} ${2 * P} 1
    mprotect ${2 * P} ${P} 1`,
  // --- brk (11) ---
  'brk: below the start returns the break; unaligned values are kept; huge fails': `
    brk -5
    brk 1
    brk ${P + 1}
    brk ${2 ** 46}
    brk 0`,
  'brk: LTP brk02, grow, mprotect part, brk back unmaps it all': `
    brk ${3 * P}
    hprotect ${P} ${P} 1
    brk 0`,
  'brk: RLIMIT_DATA stops growth; a sealed heap cannot shrink': `
    datalimit 2
    brk ${4 * P}
    brk ${2 * P}
    mseal 0 0 0
    brk ${P}`,
  // --- /proc/PID/pagemap and clear_refs ---
  'pagemap: present, exclusive and file bits; PROT_NONE pages stay present': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mmap ${4 * P} ${4 * P} 3 ${SA | POPULATE}
    mmap ${8 * P} ${4 * P} 1 ${PA | POPULATE}
    mprotect ${8 * P} ${2 * P} 0
    mremap ${4 * P} 0 ${2 * P} ${MAYMOVE | MFIXED} ${20 * P}
    madvise ${20 * P} ${P} 22
    pagemap 0 ${12 * P / P}
    pagemap ${20 * P} 2
    pagemap ${30 * P} 2`,
  'clear_refs: 2 clears anonymous mappings, 3 file ones, 1 all; 0 and 6 are EINVAL': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mmap ${8 * P} ${4 * P} 3 ${SA | POPULATE}
    clearrefs 3
    clearrefs 0
    clearrefs 6
    clearrefs 5
    clearrefs 4`,
  'clear_refs 2 then 1': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mmap ${8 * P} ${4 * P} 3 ${SA | POPULATE}
    clearrefs 2`,
  'clear_refs 1': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mmap ${8 * P} ${4 * P} 3 ${SA | POPULATE}
    clearrefs 1`,
  // --- PAGEMAP_SCAN (T16): pmscan OFF LEN FLAGS INVERTED MASK ANYOF RETURN MAXPAGES VECLEN ---
  'PAGEMAP_SCAN: the matcher (mask, inverted, anyof) and what return_mask merges': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mmap ${4 * P} ${4 * P} 3 ${SA | POPULATE}
    mmap ${8 * P} ${4 * P} 3 ${PA}
    mmap ${12 * P} ${2 * P} 1 ${PA | POPULATE}
    madvise ${9 * P} ${P} 23
    pmscan 0 ${16 * P} 0 0 8 0 255 0 16
    pmscan 0 ${16 * P} 0 8 8 0 255 0 16
    pmscan 0 ${16 * P} 0 0 0 36 255 0 16
    pmscan 0 ${16 * P} 0 0 8 0 8 0 16
    pmscan 0 ${16 * P} 0 0 0 0 0 0 16
    pmscan 0 ${16 * P} 0 0 0 0 255 0 16`,
  'PAGEMAP_SCAN: max_pages and a short vector stop the walk and set walk_end': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    mmap ${8 * P} ${4 * P} 3 ${PA | POPULATE}
    pmscan 0 ${16 * P} 0 0 8 0 8 3 16
    pmscan 0 ${16 * P} 0 0 8 0 8 0 1
    pmscan ${2 * P} ${16 * P} 0 0 8 0 8 4 16
    pmscan 0 ${16 * P} 0 0 8 0 8 0 0`,
  'PAGEMAP_SCAN: WP_MATCHING skips VMAs without async uffd-wp; CHECK_WPASYNC is EPERM; bad arguments': `
    mmap 0 ${4 * P} 3 ${PA | POPULATE}
    pmscan 0 ${8 * P} 1 0 8 0 8 0 16
    pmscan 0 ${8 * P} 2 0 8 0 8 0 16
    pmscan 0 ${8 * P} 3 0 8 0 8 0 16
    pmscan 0 ${8 * P} 4 0 8 0 8 0 16
    pmscan 0 ${8 * P} 0 0 1024 0 8 0 16
    pmscan 1 ${8 * P} 0 0 8 0 8 0 16`,
  // --- memfd seals (memfd, mapfd, seal, fdio: scripts.ts) ---
  'memfd seals: F_SEAL_WRITE is EBUSY under a shared mapping that may write, then shared writable mmaps are EPERM and read-only ones lose mw': `
    memfd 2 ${16 * P}
    mapfd 0 ${4 * P} 1 ${SHARED | FIXED} 0
    seal 8
    mprotect 0 ${P} 3
    munmap ${P} ${P}
    seal 8
    munmap 0 ${4 * P}
    mapfd 0 ${4 * P} 3 ${PRIVATE | FIXED} 0
    seal 8
    mapfd ${8 * P} ${4 * P} 3 ${SHARED | FIXED} 0
    mapfd ${8 * P} ${4 * P} 3 ${VALIDATE | FIXED} 0
    mapfd ${8 * P} ${4 * P} 1 ${SHARED | FIXED} ${P}
    mprotect ${8 * P} ${P} 3
    mprotect ${9 * P} ${P} 5
    madvise 0 ${2 * P} 23
    madvise ${8 * P} ${P} 9
    fdio 0 0 1
    fdio 1 ${8 * P} 0
    fdio 3 0 ${P}
    fdio 2 0 ${32 * P}`,
  'memfd seals: F_SEAL_FUTURE_WRITE keeps the mappings there were, refuses new ones': `
    memfd 2 ${16 * P}
    mapfd 0 ${4 * P} 3 ${SHARED | FIXED} 0
    mapfd ${4 * P} ${4 * P} 1 ${SHARED | FIXED} 0
    seal 16
    madvise 0 ${4 * P} 23
    mprotect ${4 * P} ${P} 3
    mapfd ${8 * P} ${P} 3 ${SHARED | FIXED} 0
    mapfd ${8 * P} ${P} 1 ${SHARED | FIXED} 0
    mprotect ${8 * P} ${P} 3
    madvise ${4 * P} ${P} 9
    mremap 0 ${4 * P} ${8 * P} ${MAYMOVE | MFIXED} ${16 * P}
    seal 8
    fdio 0 0 ${P}
    fdio 3 0 ${P}`,
  'memfd seals: SHRINK and GROW, writes cut at the first page past the end, populate past it': `
    memfd 2 ${4 * P}
    seal 6
    fdio 0 ${4 * P - 84} 100
    fdio 0 ${3 * P} ${2 * P}
    fdio 0 ${4 * P} 1
    fdio 1 ${4 * P - 1} 0
    fdio 1 ${4 * P + 1} 0
    fdio 2 0 ${4 * P + 1}
    fdio 4 0 ${4 * P + 1}
    fdio 3 0 ${8 * P}
    mapfd 0 ${8 * P} 3 ${SHARED | FIXED} 0
    madvise 0 ${8 * P} 23`,
  'memfd seals: F_SEAL_EXEC brings the write seals on an executable memfd; unsealable and noexec memfds': `
    memfd 2 ${4 * P}
    mapfd 0 ${4 * P} 3 ${SHARED | FIXED} 0
    seal 32
    munmap 0 ${4 * P}
    seal 32
    fdio 0 0 1
    memfd 0 ${4 * P}
    seal 0
    seal 64
    memfd 8 ${4 * P}
    seal 32
    mapfd 0 ${P} 5 ${SHARED | FIXED} 0
    seal 1
    seal 2`,
  'madvise GUARD_INSTALL/REMOVE (6.13): markers stay through DONTNEED, FREE, COLD, PAGEOUT, mprotect and a failed mlock; populate is EFAULT on them; pagemap bits 62 and 58; mremap moves them, munmap drops them; shared memory, gaps, VmFlags gu and merges': `
    mmap 0 ${16 * P} 3 ${PA}
    madvise 0 ${4 * P} 23            # populate: pages 0-3 written
    madvise ${P} ${2 * P} 102         # zaps pages 1 and 2, guards them
    pagemap 0 4
    madvise 0 ${4 * P} 22            # EFAULT at page 1
    madvise ${3 * P} ${P} 22
    madvise 0 ${16 * P} 4
    madvise 0 ${16 * P} 8
    madvise 0 ${16 * P} 20
    madvise 0 ${16 * P} 21
    mprotect 0 ${16 * P} 0
    mprotect 0 ${16 * P} 3
    pagemap 0 4
    mincore 0 ${4 * P}
    mlock 0 ${16 * P} 2              # ENOMEM: the population faults; the VMA is locked
    madvise ${P} ${P} 102            # EINVAL: locked
    madvise ${P} ${P} 103            # removal is allowed under mlock
    munlock 0 ${16 * P}
    madvise ${P} ${2 * P} 22          # EFAULT at page 2
    mremap 0 ${4 * P} ${4 * P} 3 ${32 * P}
    pagemap ${32 * P} 4
    madvise ${32 * P} ${4 * P} 22
    mremap ${32 * P} ${4 * P} ${2 * P} 0 0
    mremap ${32 * P} ${2 * P} ${4 * P} 0 0
    pagemap ${32 * P} 4
    munmap ${32 * P} ${4 * P}
    mmap ${32 * P} ${4 * P} 3 ${PA}
    pagemap ${32 * P} 4
    mmap ${40 * P} ${4 * P} 3 ${SA}
    madvise ${40 * P} ${4 * P} 23
    madvise ${40 * P} ${P} 102
    pagemap ${40 * P} 4
    mincore ${40 * P} ${4 * P}        # shared: the page cache answers for the guard page
    madvise ${38 * P} ${8 * P} 102   # ENOMEM: holes around; 40-43 guarded
    madvise ${40 * P} ${4 * P} 22
    madvise ${40 * P} ${4 * P} 103
    madvise ${40 * P} ${4 * P} 22
    mmap ${48 * P} ${4 * P} 1 ${PA}
    madvise ${49 * P} ${P} 102
    mseal ${48 * P} ${4 * P} 0
    madvise ${50 * P} ${P} 102       # EPERM: sealed read-only
    madvise ${49 * P} ${P} 103
    mmap ${60 * P} ${4 * P} 0 ${PA}
    madvise ${61 * P} ${P} 102       # PROT_NONE takes guards
    mprotect ${60 * P} ${4 * P} 1
    madvise ${60 * P} ${4 * P} 22
    mmap ${64 * P} ${4 * P} 1 ${PA}  # merges with the guarded VMA before it
    mmap ${56 * P} ${4 * P} 1 ${PA}`,
  'prctl(PR_SET_VMA_ANON_NAME): split, merge of equal names, mprotect, mremap, holes, bad names': `
    mmap 0 ${8 * P} 3 ${PA}
    vmaname ${P} ${2 * P} 1
    vmaname ${3 * P} ${P} 1
    vmaname ${5 * P} ${P} 2
    mprotect ${2 * P} ${P} 1
    vmaname ${6 * P} ${4 * P} 3
    vmaname 1 ${P} 1
    vmaname 0 ${P} 4
    vmaname 0 0 4
    mremap ${5 * P} ${P} ${P} ${MAYMOVE | MFIXED} ${12 * P}
    vmaname ${4 * P} ${P} 0`,
  // --- last: it drops CAP_IPC_LOCK for the rest of the process ---
  'mmap 13, 14; mlock, mlockall, mremap and brk under RLIMIT_MEMLOCK without CAP_IPC_LOCK': `
    mmap 0 ${16 * P} 3 ${PA}
    mlock 0 ${2 * P} 2
    dropipclock
    memlocklimit ${4 * P}
    mlock 0 ${4 * P} 2
    mlock ${4 * P} ${P} 2
    mlock ${8 * P} ${P} 0
    mmap ${20 * P} ${P} 3 ${PA | LOCKED}
    mremap 0 ${4 * P} ${5 * P} ${MAYMOVE} 0
    mlockall 1
    mlockall 2
    mmap ${24 * P} ${P} 3 ${PA}
    brk ${P}
    mlockall 0
    munlock 0 ${16 * P}
    memlocklimit 0
    mlock 0 ${P} 2
    mlock 0 ${P} 1
    mmap ${20 * P} ${P} 3 ${PA | LOCKED}
    mlockall 1
    munlock 0 ${P}`,
};
