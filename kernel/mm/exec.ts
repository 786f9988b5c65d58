// The memory side of exec (fs/exec.c __bprm_mm_init and setup_arg_pages, with
// arch_pick_mmap_layout), without randomization: a new process's main thread gets a
// VM_GROWSDOWN anonymous VMA ending at STACK_TOP (TASK_SIZE), as large as the pages its
// argument strings take plus 128 KiB, at most RLIMIT_STACK, and its mm the mmap_base that
// limit gives (stack.ts). maps names the VMA [stack] (start_stack lies in it); it grows on
// faults below it (stack.ts expandStack). ptlab copies no strings into it (a process's
// argv reaches its module in JavaScript), so its pages stay untouched until used.

import { RLIMIT_STACK, TASK_SIZE } from '../uapi.ts';
import { anonVmOps } from './fault.ts';
import type { Kmm } from './kmm.ts';
import { type Mm, vmStatAccount } from './mm.ts';
import {
  PAGE_SIZE as PAGE, pageAlign, Vma, VM_ACCOUNT, VM_GROWSDOWN, VM_MAYEXEC, VM_MAYREAD, VM_MAYWRITE, VM_READ, VM_SOFTDIRTY,
  VM_WRITE,
} from './mm_types.ts';
import { mmapBaseFor } from './stack.ts';
import { linkVma } from './vma.ts';

/** STACK_TOP: the stack ends at the top of the user address space (no randomization). */
export const STACK_TOP = TASK_SIZE;
/** setup_arg_pages' stack_expand: how far below the arguments a new stack reaches. */
const STACK_EXPAND = 128 << 10;
/** VM_STACK_FLAGS on x86-64 (a non-executable stack): smaps' "rd wr mr mw me gd ac". */
export const VM_STACK_FLAGS = VM_GROWSDOWN | VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT;

/**
 * The bytes exec puts at the top of a new stack before setup_arg_pages (bprm->p's
 * distance from it): a pointer's room, the file name and each argument with their NULs.
 * ptlab has no environment.
 */
export function argBytes(path: string, argv: readonly string[]): number {
  const enc = new TextEncoder();
  return 8 + [path, ...argv].reduce((n, s) => n + enc.encode(s).length + 1, 0);
}

/**
 * The new stack of an mm at exec, holding `args` bytes of argument strings at its top
 * (bprm->p = STACK_TOP - args): arch_pick_mmap_layout and setup_arg_pages.
 */
export function setupStack(k: Kmm, mm: Mm, args: number): void {
  const rlim = mm.rlimits[RLIMIT_STACK][0];
  mm.mmapBase = mmapBaseFor(rlim);
  const argPages = pageAlign(args);
  const size = Math.max(argPages, Math.min(rlim === Infinity ? Infinity : rlim - (rlim % PAGE), argPages + STACK_EXPAND));
  const flags = VM_STACK_FLAGS | (k.vm.softDirty ? VM_SOFTDIRTY : 0);
  const vma = new Vma(STACK_TOP - size, STACK_TOP, flags, (STACK_TOP - size) / PAGE, anonVmOps);
  mm.vmas.insert(vma);
  linkVma(mm, vma);
  vmStatAccount(mm, flags, size / PAGE);
  mm.startStack = STACK_TOP - args;
}

/**
 * Where mm's main thread starts: its stack pointer (start_stack, 16-byte aligned down) and
 * the bytes of stack VMA below that pointer's page (what it may use without growing the
 * stack); zeros if mm has no stack.
 */
export function initialStack(mm: Mm): { sp: number; room: number } {
  const v = mm.startStack === 0 ? null : mm.vmas.find(mm.startStack);
  if (v === null) return { sp: 0, room: 0 };
  const sp = mm.startStack - (mm.startStack % 16);
  return { sp, room: Math.max(0, sp - (sp % PAGE) - v.start) };
}

