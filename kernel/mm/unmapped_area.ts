// get_unmapped_area (mm/mmap.c): where a mapping goes when the caller does not fix its
// address, with the top-down layout that ../shared/reference/vma-syscalls.md section 3
// observes on x86-64, and the stack guard gap (vm_start_gap) every search keeps.

import { ENOMEM, MAP_32BIT, MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, MAP_TYPE, MMAP_MIN_ADDR, TASK_SIZE } from '../uapi.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE as PAGE, pageAlign, VM_GROWSDOWN, type Vma } from './mm_types.ts';

/** stack_guard_gap: room kept free below a VM_GROWSDOWN mapping (256 pages). */
export const STACK_GUARD_GAP = 256 * PAGE;
/** Where the bottom-up fallback search starts (TASK_UNMAPPED_BASE). */
const TASK_UNMAPPED_BASE = pageAlign(TASK_SIZE / 3);
const PMD_SIZE = 2 ** 21;
/** Where MAP_32BIT mappings go (find_start_end): [1 GiB, 2 GiB), as without ASLR. */
const BEGIN_32BIT = 2 ** 30;
const END_32BIT = 2 ** 31;

/** vm_start_gap: a VMA's start, less the guard gap below a stack. */
export function startGap(v: Vma): number {
  return (v.flags & VM_GROWSDOWN) !== 0 ? Math.max(0, v.start - STACK_GUARD_GAP) : v.start;
}

/** True if [addr, addr + len) misses every VMA and every guard gap. */
function rangeFree(mm: Mm, addr: number, len: number): boolean {
  const next = mm.vmas.findNext(addr);
  return next === null || addr + len <= startGap(next);
}

/**
 * Choose an address for a new anonymous mapping (get_unmapped_area, top-down layout, as
 * ../shared/reference/vma-syscalls.md section 3 observes x86-64 doing): a usable hint
 * (rounded down to a page) wins; else the highest gap below mmap_base that fits, keeping
 * stack guard gaps and aligning lengths that are multiples of 2 MiB to 2 MiB; else a
 * bottom-up search from TASK_UNMAPPED_BASE. MAP_32BIT goes bottom-up in [1 GiB, 2 GiB).
 */
export function unmappedArea(mm: Mm, addr: number, len: number, flags: number): number {
  if ((flags & MAP_32BIT) !== 0) return unmappedArea32(mm, addr, len, flags);
  if (len > TASK_SIZE || len > TASK_SIZE - MMAP_MIN_ADDR) return -ENOMEM;
  if (addr > 0) {
    const hint = addr - (addr % PAGE);
    if (hint >= MMAP_MIN_ADDR && hint <= TASK_SIZE - len && rangeFree(mm, hint, len)) return hint;
  }
  const align = len % PMD_SIZE === 0 ? PMD_SIZE : PAGE;
  const down = searchTopDown(mm, len, align, MMAP_MIN_ADDR, Math.min(mm.mmapBase, TASK_SIZE));
  if (down >= 0) return down; // searchTopDown fails with -ENOMEM
  return searchBottomUp(mm, len, align, TASK_UNMAPPED_BASE, TASK_SIZE);
}

/**
 * MAP_32BIT: arch_get_unmapped_area_topdown hands it to the bottom-up arch_get_unmapped_area
 * with find_start_end's window [1 GiB, 2 GiB): a free hint that ends within 2 GiB, else
 * the lowest gap of the window. A private anonymous length that is a multiple of 2 MiB
 * (and no hint) is THP-aligned as __thp_get_unmapped_area does it: a gap 2 MiB longer is
 * found bottom-up and the address moved up to the next 2 MiB boundary, a whole 2 MiB when
 * it already is one (the mm is top-down, MMF_TOPDOWN), so that a first 2 MiB mapping lands
 * at 1 GiB + 2 MiB, as on the host.
 */
function unmappedArea32(mm: Mm, addr: number, len: number, flags: number): number {
  if (len > END_32BIT) return -ENOMEM;
  if (addr > 0) {
    const hint = addr - (addr % PAGE);
    if (hint >= MMAP_MIN_ADDR && hint <= END_32BIT - len && rangeFree(mm, hint, len)) return hint;
  }
  const anonPrivate = (flags & (MAP_ANONYMOUS | MAP_HUGETLB)) === MAP_ANONYMOUS && (flags & MAP_TYPE) === MAP_PRIVATE;
  if (addr === 0 && anonPrivate && len % PMD_SIZE === 0) {
    const padded = searchBottomUp(mm, len + PMD_SIZE, PAGE, BEGIN_32BIT, END_32BIT);
    if (padded >= 0) return padded + (PMD_SIZE - (padded % PMD_SIZE));
  }
  return searchBottomUp(mm, len, PAGE, BEGIN_32BIT, END_32BIT);
}

function searchTopDown(mm: Mm, len: number, align: number, low: number, high: number): number {
  let top = high;
  for (;;) {
    const gap = mm.vmas.gapRangeTopDown(len, low, top);
    if (gap === null) return -ENOMEM;
    const [a, b] = gap;
    const above = mm.vmas.findNext(b);
    const limit = above !== null && above.start === b ? Math.min(b, startGap(above)) : b;
    const start = Math.floor((limit - len) / align) * align;
    if (start >= a) return start;
    top = a; // this gap is too small once guard and alignment are kept: look lower
  }
}

function searchBottomUp(mm: Mm, len: number, align: number, low: number, high: number): number {
  for (let at = Math.ceil(low / align) * align; at + len <= high;) {
    const next = mm.vmas.findNext(at);
    if (next === null || at + len <= startGap(next)) return at;
    at = Math.ceil(next.end / align) * align;
  }
  return -ENOMEM;
}
