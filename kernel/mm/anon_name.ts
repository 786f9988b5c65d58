// Names of anonymous memory (CONFIG_ANON_VMA_NAME): prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME,
// addr, len, name) sets, or with a NULL name clears, the name of [addr, addr + len)
// (kernel/sys.c prctl_set_vma, mm/madvise.c madvise_set_anon_name). /proc/PID/maps and
// smaps show a named VMA as [anon:NAME] ([anon_shmem:NAME] for shared anonymous memory),
// unless it is the heap or the stack, whose names come first (task_mmu.ts).
//
//   name        at most ANON_VMA_NAME_MAX_LEN bytes with its NUL (else EINVAL; EFAULT if
//               unreadable), printable ASCII but \ ` $ [ ] (is_valid_name_char, else EINVAL)
//   range       as madvise's: an unaligned start, a wrap or a length that rounds to 0 past
//               the top is EINVAL; length 0 does nothing; the name is given to every mapped
//               part (VMAs split where the range ends inside them, and merge with
//               neighbours of the same name and flags), then a hole makes it ENOMEM
//   refusals    a VMA with a file that is not shared anonymous memory: EBADF, and the walk
//               stops there (madvise_vma_behavior); a split past vm.max_map_count: EAGAIN
//
// The name is kept by splits, mprotect, mremap and fork (vm_area_dup), as Linux keeps it.

import { vmaIsAnonShmem } from './filemap.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE as PAGE, vmaHasFile } from './mm_types.ts';
import { copyFromUser } from './uaccess.ts';
import { modifyName } from './vma.ts';
import { ANON_VMA_NAME_MAX_LEN, EAGAIN, EBADF, EFAULT, EINVAL, ENOMEM, TASK_SIZE } from '../uapi.ts';

/** is_valid_name_char: printable ASCII, except ANON_VMA_NAME_INVALID_CHARS. */
function isValidNameChar(c: number): boolean {
  return c > 0x1f && c < 0x7f && !'\\`$[]'.includes(String.fromCharCode(c));
}

/**
 * strndup_user(uname, ANON_VMA_NAME_MAX_LEN) and the character check of prctl_set_vma:
 * the name at va, or -EFAULT (unreadable before its NUL) or -EINVAL (too long, or a
 * character not allowed).
 */
export function anonNameFromUser(k: Kmm, mm: Mm, va: number, cpu: number): string | number {
  if (!Number.isInteger(va) || va < 0 || va >= TASK_SIZE) return -EFAULT;
  let name = '';
  for (let at = va; name.length < ANON_VMA_NAME_MAX_LEN; at++) {
    // Byte by byte, as strnlen_user stops at the NUL (the page after it may be unmapped).
    if (at >= TASK_SIZE) return -EFAULT;
    const b = copyFromUser(k, mm, at, 1, cpu);
    if (typeof b === 'number') return -EFAULT;
    if (b[0] === 0) return name;
    name += String.fromCharCode(b[0]);
  }
  return -EINVAL;
}

/** Whether every character of name may be in an anonymous VMA's name. */
export function validAnonName(name: string): boolean {
  for (let i = 0; i < name.length; i++) if (!isValidNameChar(name.charCodeAt(i))) return false;
  return true;
}

/**
 * madvise_set_anon_name: [start, start + len) gets `name` (null clears it). 0, or -EINVAL,
 * -ENOMEM (a hole in the range, after naming the rest), -EBADF or -EAGAIN (see above).
 */
export function madviseSetAnonName(mm: Mm, start: number, len: number, name: string | null): number {
  if (!Number.isInteger(start) || !Number.isInteger(len) || start < 0 || start % PAGE !== 0 || len < 0) return -EINVAL;
  const end = start + Math.ceil(len / PAGE) * PAGE;
  if (end >= 2 ** 64) return -EINVAL; // check_input_range: a length rounded up to 0, or a wrap
  if (end === start) return 0;
  let unmapped = 0;
  let at = start;
  // madvise_walk_vmas with __MADV_SET_ANON_VMA_NAME.
  while (at < end) {
    const v = mm.vmas.findNext(at);
    if (v === null) return -ENOMEM;
    if (at < v.start) {
      unmapped = -ENOMEM;
      at = v.start;
      if (at >= end) break;
    }
    if (vmaHasFile(v) && !vmaIsAnonShmem(v)) return -EBADF;
    const t = modifyName(mm, v, at, Math.min(v.end, end), name);
    if (t === null) return -EAGAIN; // madvise's ENOMEM from a split
    at = t.end;
  }
  return unmapped;
}
