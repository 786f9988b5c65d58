// Hand-written fork scenarios for the differential test (the rules are in
// ../shared/reference/fork-reclaim.md section 1), run on the host kernel and on ptlab like
// the random fork scripts: after every operation each live process prints its smaps of the
// range. Offsets are relative to the range; process 0 is the first, each fork's child takes
// the next id. Cases marked thp need the host to give transparent huge pages (the test
// skips them, with a note, when it does not).

const P = 4096;
const T = 512 * P; // the 2 MiB-aligned half of the range
const PA = 0x32; // MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
const SA = 0x31; // MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED
const FP = 0x12; // MAP_PRIVATE | MAP_FIXED (the memfd)
const FS = 0x11; // MAP_SHARED | MAP_FIXED (the memfd)
const DONTNEED = 4;
const REMOVE = 9;
const DONTFORK = 10;
const DOFORK = 11;
const HUGEPAGE = 14;
const WIPEONFORK = 18;
const KEEPONFORK = 19;
const POPULATE_READ = 22;
const POPULATE_WRITE = 23;

export interface ForkCase {
  script: string;
  /** Needs transparent huge pages from the host. */
  thp?: boolean;
  /**
   * A known difference from the host, not fixed (why says why): the outputs must be
   * identical up to the operation `from` (its "> OP" line) and must differ after it, so
   * that the case tells when ptlab comes to agree; unless the host sometimes behaves as
   * ptlab does (hostMayAgree says when), in which case agreement is accepted too.
   */
  known?: { from: string; why: string; hostMayAgree?: string };
}

export const FORK_CASES: Record<string, ForkCase> = {
  'COW of anonymous pages: the child writes before and after the parent (one copy each, then reuse)': { script: `
    mmap 0 0 ${4 * P} 3 ${PA}
    write 0 0 4 256
    fork 0
    write 1 0 1 512
    write 0 0 1 768
    write 0 ${P} 1 1024
    write 1 ${P} 1 1280
    read 0 0 4
    read 1 0 4
    pagemap 0 0 4
    pagemap 1 0 4` },
  'COW: after the child exits the parent\'s pages are its own again (Pss, reuse without a copy)': { script: `
    mmap 0 0 ${2 * P} 3 ${PA}
    write 0 0 2 256
    fork 0
    exit 1
    write 0 0 2 512
    read 0 0 2` },
  'MAP_SHARED anonymous: the child maps nothing at fork, then shares the pages; DONTNEED is per process': { script: `
    mmap 0 0 ${4 * P} 3 ${SA}
    write 0 0 2 256
    fork 0
    read 1 0 4
    write 1 0 1 512
    read 0 0 4
    write 0 ${2 * P} 1 768
    read 1 ${2 * P} 1
    madvise 1 0 ${4 * P} ${DONTNEED}
    read 0 0 4
    read 1 0 1` },
  'MAP_SHARED memfd: shared pages, pwrite seen by both, MADV_REMOVE in the child takes the parent\'s page': { script: `
    mmapf 0 0 ${4 * P} 3 ${FS} 0
    write 0 0 2 256
    fork 0
    read 1 0 4
    write 1 ${P} 1 512
    fwrite ${3 * P} 768
    read 0 0 4
    read 1 0 4
    madvise 1 0 ${P} ${REMOVE}
    read 0 0 2` },
  'MAP_PRIVATE memfd never written: not copied at fork (the child starts with Rss 0)': { script: `
    fwrite 0 17
    fwrite ${P} 34
    mmapf 0 0 ${4 * P} 1 ${FP} 0
    read 0 0 4
    mmapf 0 ${16 * P} ${4 * P} 3 ${FP} 0
    read 0 ${16 * P} 2
    fork 0
    read 1 0 2
    read 1 ${16 * P} 4` },
  'MAP_PRIVATE memfd written: the whole VMA is copied, file pages with it; pwrite shows through unwritten pages': { script: `
    fwrite 0 17
    mmapf 0 0 ${4 * P} 3 ${FP} 0
    read 0 0 4
    write 0 ${P} 1 256
    fork 0
    read 1 0 4
    write 1 0 1 512
    fwrite ${2 * P} 51
    read 0 0 4
    read 1 0 4
    write 0 ${P} 1 768
    read 1 ${P} 1` },
  'MADV_DONTFORK: the child has a hole there; after MADV_DOFORK the next child has the pages': { script: `
    mmap 0 0 ${8 * P} 3 ${PA}
    write 0 0 8 256
    madvise 0 ${2 * P} ${2 * P} ${DONTFORK}
    fork 0
    read 1 0 8
    mincore 1 0 ${8 * P}
    read 0 0 8
    madvise 0 ${2 * P} ${2 * P} ${DOFORK}
    fork 0
    read 2 0 8` },
  'MADV_WIPEONFORK: the child reads zeros there, and so does a grandchild; EINVAL on shared memory': { script: `
    mmap 0 0 ${4 * P} 3 ${PA}
    write 0 0 4 256
    madvise 0 ${P} ${2 * P} ${WIPEONFORK}
    mmap 0 ${8 * P} ${P} 3 ${SA}
    madvise 0 ${8 * P} ${P} ${WIPEONFORK}
    fork 0
    read 1 0 4
    write 1 ${P} 1 512
    fork 1
    read 2 0 4
    read 0 0 4` },
  'mlock: not inherited; mlock in the child breaks COW for the pages it locks': { script: `
    mmap 0 0 ${4 * P} 3 ${PA}
    write 0 0 2 256
    mlock 0 0 ${4 * P}
    fork 0
    mlock 1 0 ${2 * P}
    write 0 ${2 * P} 1 512
    read 1 0 4
    munlock 0 0 ${4 * P}` },
  'the zero page: read faults alone leave no anon_vma, so fork copies nothing': { script: `
    mmap 0 0 ${4 * P} 3 ${PA}
    read 0 0 4
    mincore 0 0 ${4 * P}
    fork 0
    mincore 1 0 ${4 * P}
    read 1 0 4
    write 1 0 1 256
    pagemap 0 0 4
    pagemap 1 0 4` },
  'the zero page: a VMA with an anon_vma is copied with its zero-page entries': { script: `
    mmap 0 0 ${4 * P} 3 ${PA}
    write 0 0 1 256
    read 0 ${P} 3
    fork 0
    mincore 1 0 ${4 * P}
    pagemap 1 0 4
    write 1 ${P} 1 512
    write 0 ${2 * P} 1 768
    read 0 0 4
    read 1 0 4` },
  'MADV_POPULATE_WRITE in the child breaks COW, POPULATE_READ does not; DONTNEED in the parent': { script: `
    mmap 0 0 ${4 * P} 3 ${PA}
    write 0 0 4 256
    fork 0
    madvise 1 0 ${P} ${POPULATE_WRITE}
    madvise 1 ${P} ${P} ${POPULATE_READ}
    madvise 0 ${2 * P} ${P} ${DONTNEED}
    read 0 ${2 * P} 1
    write 1 ${2 * P} 1 512
    read 1 0 4` },
  'mprotect and munmap in the child: SIGSEGV on a read-only page, the parent reuses what the child unmapped': { script: `
    mmap 0 0 ${4 * P} 3 ${PA}
    write 0 0 4 256
    fork 0
    mprotect 1 0 ${2 * P} 1
    write 1 0 1 512
    munmap 1 ${2 * P} ${2 * P}
    write 0 ${2 * P} 1 768
    mprotect 1 0 ${2 * P} 3
    write 1 0 1 1024
    read 0 0 4` },
  'SIGBUS past the end of the memfd, in the child': { script: `
    mmapf 0 0 ${8 * P} 3 ${FS} ${60 * P}
    write 0 0 4 256
    fork 0
    read 1 0 8
    write 1 ${2 * P} 4 512
    read 0 0 4` },
  'MADV_KEEPONFORK is accepted on shared and file mappings (MADV_WIPEONFORK is not)': { script: `
    mmap 0 0 ${4 * P} 3 ${SA}
    mmapf 0 ${8 * P} ${4 * P} 3 ${FP} 0
    madvise 0 0 ${4 * P} ${KEEPONFORK}
    madvise 0 ${8 * P} ${4 * P} ${KEEPONFORK}
    madvise 0 0 ${4 * P} ${WIPEONFORK}
    madvise 0 ${8 * P} ${4 * P} ${WIPEONFORK}
    fork 0
    madvise 1 ${8 * P} ${P} ${KEEPONFORK}` },
  'a private write past the end of the memfd (SIGBUS) still gives the VMA an anon_vma: fork copies it, split halves stay apart in the child': { script: `
    mmapf 0 0 ${8 * P} 3 ${FP} ${60 * P}
    read 0 0 2
    write 0 ${4 * P} 1 256
    mprotect 0 ${6 * P} ${2 * P} 1
    fork 0
    mprotect 1 ${6 * P} ${2 * P} 3
    mprotect 0 ${6 * P} ${2 * P} 3` },
  'fork of a forked process: three generations share pages (Pss a third), then copy in turn': { script: `
    mmap 0 0 ${3 * P} 3 ${PA}
    write 0 0 3 256
    fork 0
    fork 1
    write 1 0 1 512
    write 2 ${P} 1 768
    read 0 0 3
    read 1 0 3
    read 2 0 3
    exit 2
    write 0 ${2 * P} 1 1024
    write 1 ${2 * P} 1 1280` },
  'two children of one process: the page is shared three ways until each writes': { script: `
    mmap 0 0 ${2 * P} 3 ${PA}
    write 0 0 2 256
    fork 0
    fork 0
    write 2 0 1 512
    exit 1
    write 0 ${P} 1 768
    write 2 ${P} 1 1024
    read 0 0 2
    read 2 0 2` },
  'THP: fork shares the huge page; a write splits the writer\'s PMD and copies 4 KiB': { thp: true, script: `
    mmap 0 ${T} ${512 * P} 3 ${PA}
    madvise 0 ${T} ${512 * P} ${HUGEPAGE}
    write 0 ${T} 1 256
    fork 0
    write 0 ${T + 5 * P} 1 512
    write 1 ${T} 1 768
    read 0 ${T} 6
    read 1 ${T} 6
    pagemap 1 ${T} 2` },
  'THP: three generations map one huge page; the grandchild writes and exits': { thp: true, script: `
    mmap 0 ${T} ${512 * P} 3 ${PA}
    madvise 0 ${T} ${512 * P} ${HUGEPAGE}
    write 0 ${T} 1 256
    fork 0
    fork 1
    write 2 ${T + P} 1 512
    exit 2
    write 1 ${T} 1 768
    exit 1
    write 0 ${T} 1 1024` },
  'THP: mprotect to the same rights over one page leaves the huge page whole, before and after fork': { thp: true, script: `
    mmap 0 ${T} ${512 * P} 3 ${PA}
    madvise 0 ${T} ${512 * P} ${HUGEPAGE}
    write 0 ${T} 1 256
    mprotect 0 ${T + 5 * P} ${P} 3
    fork 0
    mprotect 1 ${T + 5 * P} ${P} 3
    write 1 ${T + 5 * P} 1 512` },
  'THP: the huge zero page is shared at fork; writes after it': { thp: true, known: {
    from: `write 1 ${T} 1 256`,
    why: 'a write fault on the huge zero page: recent Linux (do_huge_zero_wp_pmd, added in 2024) maps a new zeroed huge '
      + 'page; ptlab splits the PMD and copies one 4 KiB page, as Linux did before (test/guests/thp.ts expects that)',
    hostMayAgree: 'Linux falls back to the split when it cannot allocate a huge page at once (host memory fragmented)',
  }, script: `
    mmap 0 ${T} ${512 * P} 3 ${PA}
    madvise 0 ${T} ${512 * P} ${HUGEPAGE}
    read 0 ${T} 1
    fork 0
    read 1 ${T} 1
    write 1 ${T} 1 256
    write 0 ${T + P} 1 512
    read 0 ${T} 2
    read 1 ${T} 2` },
};

/** The names of the cases that run, in order: the THP ones only if the host gives huge pages. */
export function forkCases(thp: boolean): string[] {
  return Object.keys(FORK_CASES).filter((name) => thp || FORK_CASES[name].thp !== true);
}
