// mseal(2) (mm/mseal.c, ../shared/reference/vma-syscalls.md section 10): sealed VMAs
// refuse munmap, MAP_FIXED over them, mprotect, mremap and destructive madvise.

import { EINVAL, ENOMEM } from '../uapi.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE as PAGE, pageAlign } from './mm_types.ts';
import { rangeSplitError, splitVma, vmaMerge } from './vma.ts';

/**
 * mseal(2) (../shared/reference/vma-syscalls.md section 10): seal [addr, addr + len) against
 * munmap, MAP_FIXED, mprotect, mremap and destructive madvise. The whole range must be
 * mapped (else ENOMEM and nothing changes); VMAs are split at its ends. Idempotent.
 */
export function sysMseal(k: Kmm, mm: Mm, addr: number, len: number, flags: number): number {
  if (!Number.isInteger(addr) || !Number.isInteger(len) || !Number.isInteger(flags)) return -EINVAL;
  if (flags !== 0) return -EINVAL;
  if (addr % PAGE !== 0 || addr < 0 || len < 0) return -EINVAL;
  const end = addr + pageAlign(len);
  if (end > 2 ** 64) return -EINVAL;
  if (len === 0) return 0;
  let at = addr;
  for (const v of mm.vmas.intersecting(addr, end)) {
    if (v.start > at) return -ENOMEM;
    at = v.end;
  }
  if (at < end) return -ENOMEM;
  const cut = rangeSplitError(mm, addr, end);
  if (cut < 0) return cut;
  for (const v of mm.vmas.intersecting(addr, end)) {
    if (v.sealed) continue;
    let t = v;
    if ((t.start < addr || t.end > end) && mm.vmas.count >= k.vm.maxMapCount) return -ENOMEM;
    if (t.start < addr) t = splitVma(mm, t, addr);
    if (t.end > end) splitVma(mm, t, end);
    t.sealed = true;
    vmaMerge(mm, t);
  }
  return 0;
}
