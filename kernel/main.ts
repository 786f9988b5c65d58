// The kernel thread: serve CPU requests and host messages until halted.
//
// Wait policy (DESIGN section 10): after the last piece of work, spin briefly polling the
// CPU request words and the control ring, then sleep on the doorbell with Atomics.wait.
// Posters ring the doorbell only when the kernel announced that it sleeps (doorbell.ts).

import { workerData } from 'node:worker_threads';
import { ControlBlock, cpuRelax, G_HALT, MessageRing, PhysMem, RELAX, sleepOnDoorbell } from '../machine/index.ts';
import { Kernel } from './kernel.ts';
import type { KernelBoot, ToKernel } from './messages.ts';

/** Serve requests until the host halts the machine, then say so. */
function serve(boot: KernelBoot): void {
  const cb = ControlBlock.fromBuffer(boot.control);
  const toKernel = MessageRing.fromBuffer(boot.toKernel);
  const toHost = MessageRing.fromBuffer(boot.toHost);
  const kernel = new Kernel(PhysMem.fromBuffer(boot.mem), cb, toHost, boot.options);
  const ctl = cb.i32;
  const posted = (): boolean => toKernel.pending() || kernel.hasWork();
  for (let halted = false; !halted;) {
    let worked = false;
    for (let m = toKernel.receive(); m !== undefined; m = toKernel.receive()) {
      const msg = m as ToKernel;
      if (msg.t === 'halt') halted = true;
      else kernel.hostMessage(msg);
      worked = true;
    }
    for (const cpu of kernel.activeCpus()) if (kernel.serveCpu(cpu)) worked = true;
    // kswapd runs here between requests, and on its own while it has work: no sleep then.
    if (kernel.tick()) worked = true;
    if (worked || halted) continue;
    // Idle: a frame zeroed now is one a page fault need not zero (one per turn, then poll).
    if (kernel.idle()) continue;
    let spins = 0;
    while (spins < boot.spin && !posted()) {
      spins++;
      cpuRelax(RELAX);
    }
    if (spins >= boot.spin && Atomics.load(ctl, G_HALT) === 0) sleepOnDoorbell(cb, posted, kernel.k.tlb.deferred.length > 0 ? 5 : 1000);
  }
  toHost.send({ t: 'halted' });
}

serve((workerData as { data: KernelBoot }).data ?? workerData as KernelBoot);
