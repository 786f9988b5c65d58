// The kernel thread: serve CPU requests and host messages until halted.
//
// Wait policy (DESIGN section 10): after the last piece of work, spin briefly polling the
// CPU request words and the control ring, then sleep on the doorbell with Atomics.wait.
// Posters ring the doorbell only when the kernel announced that it sleeps (doorbell.ts).

import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { workerData } from 'node:worker_threads';
import { ControlBlock, cpuRelax, G_HALT, MessageRing, PhysMem, RELAX, sleepOnDoorbell } from '../machine/index.ts';
import { Kernel } from './kernel.ts';
import type { KernelBoot, ToHost, ToKernel } from './messages.ts';

/**
 * The 'heap' message: this isolate's V8 heap, after a full collection if asked (V8's gc(),
 * exposed on first use; a worker cannot be started with --expose-gc). It is the kernel
 * thread's business, not the kernel's: Kernel itself runs on the tests' thread too.
 */
function heapReport(m: Extract<ToKernel, { t: 'heap' }>, gc: { fn: (() => void) | null }): ToHost {
  if (m.gc) {
    if (gc.fn === null) {
      setFlagsFromString('--expose-gc');
      gc.fn = runInNewContext('gc') as () => void;
    }
    gc.fn();
  }
  const h = getHeapStatistics();
  return { t: 'heap', tag: m.tag, used: h.used_heap_size, total: h.total_heap_size };
}

/** Serve requests until the host halts the machine, then say so. */
function serve(boot: KernelBoot): void {
  const cb = ControlBlock.fromBuffer(boot.control);
  const toKernel = MessageRing.fromBuffer(boot.toKernel);
  const toHost = MessageRing.fromBuffer(boot.toHost);
  const kernel = new Kernel(PhysMem.fromBuffer(boot.mem), cb, toHost, boot.options);
  const ctl = cb.i32;
  const posted = (): boolean => toKernel.pending() || kernel.hasWork();
  const gc = { fn: null as (() => void) | null };
  for (let halted = false; !halted;) {
    let worked = false;
    for (let m = toKernel.receive(); m !== undefined; m = toKernel.receive()) {
      const msg = m as ToKernel;
      if (msg.t === 'halt') halted = true;
      else if (msg.t === 'heap') toHost.send(heapReport(msg, gc));
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
