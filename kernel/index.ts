// kernel/: the Linux-like kernel, the public face for the host (host/machine.ts boots it
// on the kernel thread through main.ts). Guests see only uapi.ts, the ABI.

export { KernelBug } from './bug.ts';
export { Kernel, type KernelOptions } from './kernel.ts';
export { COST_NAMES, DEFAULT_COSTS, type KernelCosts, parseCosts } from './mm/index.ts';
export type { KernelBoot, ToHost, ToKernel } from './messages.ts';
export { postedRequest } from './task/index.ts';
