// The OOM killer's entry from memory management (mm/oom_kill.c): when memory cannot be
// found, memory asks the process side, through the hook the kernel installs on Kmm
// (OomHook), to choose a victim and kill it. Reclaim (to come) tries before this.

import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';

/**
 * pagefault_out_of_memory: a fault of mm at va on cpu found no frame. Without a hook
 * (memory driven alone, in tests) nobody is killed and the fault simply fails again.
 */
export function pagefaultOutOfMemory(k: Kmm, mm: Mm, cpu: number, va: number): void {
  k.oom?.outOfMemory(mm, cpu, va);
}
