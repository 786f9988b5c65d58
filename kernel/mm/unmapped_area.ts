// get_unmapped_area (mm/mmap.c): where a mapping goes when the caller does not fix its
// address, with the top-down layout that ../shared/reference/vma-syscalls.md section 3
// observes on x86-64, and the stack guard gap (vm_start_gap) every search keeps.

import { MAP_32BIT, MMAP_MIN_ADDR, TASK_SIZE, ENOMEM } from '../uapi.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE as PAGE, pageAlign, VM_GROWSDOWN, type Vma } from './mm_types.ts';

/** stack_guard_gap: room kept free below a VM_GROWSDOWN mapping (256 pages). */
export const STACK_GUARD_GAP = 256 * PAGE;
/** Where the bottom-up fallback search starts (TASK_UNMAPPED_BASE). */
const TASK_UNMAPPED_BASE = pageAlign(TASK_SIZE / 3);
const PMD_SIZE = 2 ** 21;

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
 * bottom-up search from TASK_UNMAPPED_BASE. MAP_32BIT searches [1 GiB, 2 GiB).
 */
export function unmappedArea(mm: Mm, addr: number, len: number, flags: number): number {
  if (len > TASK_SIZE || len > TASK_SIZE - MMAP_MIN_ADDR) return -ENOMEM;
  if (addr > 0 && (flags & MAP_32BIT) === 0) {
    const hint = addr - (addr % PAGE);
    if (hint >= MMAP_MIN_ADDR && hint <= TASK_SIZE - len && rangeFree(mm, hint, len)) return hint;
  }
  const align = len % PMD_SIZE === 0 ? PMD_SIZE : PAGE;
  const [low, high] = (flags & MAP_32BIT) !== 0 ? [2 ** 30, 2 ** 31] : [MMAP_MIN_ADDR, Math.min(mm.mmapBase, TASK_SIZE)];
  const down = searchTopDown(mm, len, align, low, high);
  if (down >= 0 || (flags & MAP_32BIT) !== 0) return down; // searchTopDown fails with -ENOMEM
  return searchBottomUp(mm, len, align, TASK_UNMAPPED_BASE, TASK_SIZE);
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
