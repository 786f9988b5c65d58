// Kernel bugs (Linux's BUG() and BUG_ON()): a broken invariant of the kernel's own data,
// never something a guest can cause. Anything a guest can do ends in an errno, a signal
// or an OOM kill; a guest that can reach a KernelBug has found a bug in ptlab, and the
// kernel kills that process with a report (kernel.ts, `oops`).
//
// Throw KernelBug with a message that names the function and the invariant:
//   throw new KernelBug('splitVma: addr not inside the vma');

export class KernelBug extends Error {
  override readonly name = 'KernelBug';
}
