// Stacks (mm/mmap.c expand_downwards and acct_stack_growth; arch/x86/mm/mmap.c
// mmap_base), without randomization; exec.ts makes the main thread's:
//
//   mmapBaseFor  mmap_base: RLIMIT_STACK plus the stack guard gap below the top, at least
//                128 MiB and at most 5/6 of the address space
//   expandStack  a fault in the hole just below a VM_GROWSDOWN VMA grows it down to the
//                faulting page (any distance: x86 no longer checks the stack pointer),
//                unless an accessible VMA that is no stack ends within the guard gap
//                below, the stack would pass RLIMIT_STACK or RLIMIT_AS, or mlock's limit
//                (then the fault is SIGSEGV, SEGV_MAPERR). GUP never grows a stack.
//
// Threads other than the main one have no stack here (Linux's are ordinary mmaps, made
// by the thread library).

import { ENOMEM, EPERM, MMAP_MIN_ADDR, RLIMIT_STACK, TASK_SIZE } from '../uapi.ts';
import { anonVmaPrepare } from './anon_vma.ts';
import type { Kmm } from './kmm.ts';
import { mayExpandVm, type Mm, mlockFutureOk, vmStatAccount } from './mm.ts';
import { PAGE_SIZE as PAGE, pageAlign, type Vma, VM_ACCESS_FLAGS, VM_GROWSDOWN } from './mm_types.ts';
import { STACK_GUARD_GAP } from './unmapped_area.ts';
import { setVmaBounds } from './vma.ts';

/**
 * mmap_base for a stack limit of `rlimStack` bytes (Infinity: unlimited): the gap below
 * the top is the limit plus the guard gap, clamped to [128 MiB, 5/6 of TASK_SIZE].
 */
export function mmapBaseFor(rlimStack: number): number {
  const gapMax = Math.floor(TASK_SIZE / 6) * 5;
  const gap = Math.min(Math.max(rlimStack + STACK_GUARD_GAP, 128 << 20), gapMax);
  return pageAlign(TASK_SIZE - gap);
}

/**
 * expand_downwards: grow the VM_GROWSDOWN vma down to the page of `addr` (below its start).
 * 0, or -EPERM (below mmap_min_addr) or -ENOMEM (a guard gap, a limit: acct_stack_growth).
 */
export function expandDownwards(k: Kmm, mm: Mm, vma: Vma, addr: number): number {
  const address = addr - (addr % PAGE);
  if (address < MMAP_MIN_ADDR) return -EPERM;
  const prev = mm.vmas.prevOf(vma.start);
  if (prev !== null && (prev.flags & VM_GROWSDOWN) === 0 && (prev.flags & VM_ACCESS_FLAGS) !== 0 && address - prev.end < STACK_GUARD_GAP) return -ENOMEM;
  anonVmaPrepare(k, vma, prev, mm.vmas.findNext(vma.end));
  const grow = (vma.start - address) / PAGE;
  if (grow > vma.pgoff) return -ENOMEM;
  // acct_stack_growth
  if (!mayExpandVm(mm, vma.flags, grow)) return -ENOMEM;
  if (vma.end - address > mm.rlimits[RLIMIT_STACK][0]) return -ENOMEM;
  if (!mlockFutureOk(mm, vma.flags, grow * PAGE)) return -ENOMEM;
  vmStatAccount(mm, vma.flags, grow);
  setVmaBounds(mm, vma, address, vma.end);
  vma.pgoff -= grow;
  return 0;
}

/**
 * The fault path's expand_stack (lock_mm_and_find_vma): for an address in no VMA, the
 * VM_GROWSDOWN VMA above it grown to reach it, or null (SIGSEGV, SEGV_MAPERR).
 */
export function expandStack(k: Kmm, mm: Mm, addr: number): Vma | null {
  const vma = mm.vmas.findNext(addr);
  if (vma === null || (vma.flags & VM_GROWSDOWN) === 0) return null;
  return expandDownwards(k, mm, vma, addr) === 0 ? vma : null;
}
