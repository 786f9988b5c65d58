// Modeled time, the kernel's side: each request served is charged to the CPU that made it,
// by the work it did (machine/timing.ts adds the user side from the counters).
//
// A request's cost is its entry (a syscall's, or a page fault's by kind) plus the pages it
// zeroed and copied, the page-table entries and VMAs it wrote and the bytes it copied to
// or from user memory, the VMAs and PTEs its reverse-map walks visited and the pages it
// wrote to swap, counted by the code that does them (PageAllocator.zeroedPages, KernelWork,
// PageTableOps.writes, VmaTree.changes, the kernel counters) and diffed around the request.
// kswapd's steps, which run between requests, have a clock of their own (background): the
// same work at the same prices, added to the kswapd_modeled_ns counter, not to a CPU. Clocks
// stay causal across CPUs: a new thread starts at its creator's clock, a shootdown's
// initiator waits for the latest clock among the CPUs that acknowledged, and wait4 leaves
// the parent no earlier than the child's exit.

import {
  chargeKernelNs, type ControlBlock, K_FORK_PTES, K_KSWAPD_NS, K_PGMAJFAULT, K_PSWPOUT, K_RMAP_PTE_VISITS, K_RMAP_VMA_VISITS, modelGhz, readCpuClock, startClock, writeIpiCosts,
} from '../../machine/index.ts';
import { DEFAULT_COSTS, type KernelCosts } from './costs.ts';
import type { PageAllocator } from './page_alloc.ts';
import type { PageTableOps } from '../../machine/index.ts';
import type { VmaTree } from './vmatree.ts';

/**
 * Work done by the kernel that modeled time charges (kernel/timing.ts), beyond what the page
 * allocator (zeroedPages), the page-table ops (writes) and the VMA trees (changes) count.
 */
export class KernelWork {
  /** Pages copied (COW, private file pages, reference pages). */
  copied = 0;
  /** Pages zeroed or filled outside the page allocator (hugetlb pages, one-byte reference pages). */
  zeroed = 0;
  /** Bytes copied to or from user memory (copy_to_user, copy_from_user). */
  uaccessBytes = 0;
  /** Anonymous pages a fault mapped new (what makes a fault an anonymous one). */
  anonPages = 0;
}

/** What the kernel's work counters read at one moment. */
interface WorkSnapshot {
  zeroed: number;
  copied: number;
  ptes: number;
  uaccess: number;
  majors: number;
  anon: number;
  /** PTEs copied by forks (fork_ptes_copied). */
  forked: number;
  /** VMAs and PTEs reverse-map walks visited (rmap_vma_visits, rmap_pte_visits). */
  rmapVmas: number;
  rmapPtes: number;
  /** Pages written to swap (pswpout). */
  swapOut: number;
}

export class ModelClock {
  costs: Readonly<KernelCosts> = DEFAULT_COSTS;
  private readonly cb: ControlBlock;
  private readonly work: KernelWork;
  private readonly pages: PageAllocator;
  private readonly ops: PageTableOps;
  private at: WorkSnapshot = { zeroed: 0, copied: 0, ptes: 0, uaccess: 0, majors: 0, anon: 0, forked: 0, rmapVmas: 0, rmapPtes: 0, swapOut: 0 };
  private vmas: VmaTree | null = null;
  private vmaChanges = 0;

  constructor(cb: ControlBlock, work: KernelWork, pages: PageAllocator, ops: PageTableOps) {
    this.cb = cb;
    this.work = work;
    this.pages = pages;
    this.ops = ops;
    writeIpiCosts(cb, this.costs);
  }

  /** Use cost table `c` from now on (the kernel, at boot: --costs). */
  setCosts(c: Readonly<KernelCosts>): void {
    this.costs = c;
    writeIpiCosts(this.cb, c);
  }

  private snapshot(): WorkSnapshot {
    const k = (slot: number) => this.cb.f64[this.cb.kernelCounterIndex(slot)];
    return {
      zeroed: this.pages.zeroedPages + this.work.zeroed, copied: this.work.copied, ptes: this.ops.writes,
      uaccess: this.work.uaccessBytes, majors: k(K_PGMAJFAULT), anon: this.work.anonPages, forked: k(K_FORK_PTES),
      rmapVmas: k(K_RMAP_VMA_VISITS), rmapPtes: k(K_RMAP_PTE_VISITS), swapOut: k(K_PSWPOUT),
    };
  }

  /**
   * The price of the work done between snapshots a and b, ns, entries aside; PTE writes
   * only if `ptes` (a fault's are in its entry). A page written to swap is priced as a page
   * copy: swap lives in host memory (faultMajor prices a swap-in's copy the same way).
   */
  private workNs(a: WorkSnapshot, b: WorkSnapshot, ptes: boolean): number {
    const c = this.costs;
    return (b.zeroed - a.zeroed) * c.pageZero + (b.copied - a.copied + b.swapOut - a.swapOut) * c.pageCopy +
      (ptes ? (b.ptes - a.ptes) * c.pteWrite : 0) + (b.forked - a.forked) * c.forkPte +
      (b.uaccess - a.uaccess) * c.uaccessByte + (b.rmapVmas - a.rmapVmas) * c.rmapVma + (b.rmapPtes - a.rmapPtes) * c.rmapPte;
  }

  /** A request starts; `vmas` is the caller's VMA tree. */
  begin(vmas: VmaTree): void {
    this.at = this.snapshot();
    this.vmas = vmas;
    this.vmaChanges = vmas.changes;
  }

  /**
   * The request begun last, on `cpu`, is done: charge it (`trap`: a page fault; `continued`:
   * a later slice of a call in slices, whose entry its first slice paid). Returns its ns.
   */
  end(cpu: number, trap: boolean, continued = false): number {
    const c = this.costs;
    const now = this.snapshot();
    const copied = now.copied - this.at.copied;
    let entry = continued ? 0 : c.syscall;
    if (trap) {
      if (now.majors > this.at.majors) entry = c.faultMajor;
      else if (copied > 0) entry = c.faultCow;
      else if (now.anon > this.at.anon) entry = c.faultAnon;
      else entry = c.faultMinor;
    }
    const vmas = this.vmas === null ? 0 : this.vmas.changes - this.vmaChanges;
    // A fault's entry cost includes its PTE writes (calibrate measures them together); a
    // fork's are priced per PTE it copied (forkPte, measured as such).
    const forked = now.forked - this.at.forked;
    const ns = entry + this.workNs(this.at, now, !trap && forked === 0) + vmas * c.vma;
    chargeKernelNs(this.cb, cpu, ns);
    this.vmas = null;
    return ns;
  }

  /**
   * Run `work`, done for the thread on `cpu` inside another thread's request (a blocked pipe
   * reader or writer served by the other end's call): the pages it zeroed and copied, the
   * PTEs it wrote and the bytes it copied to or from user memory are charged to `cpu`, as
   * Linux's woken waiter does that copy itself, and not to the request being served.
   */
  onBehalfOf<T>(cpu: number, work: () => T): T {
    const before = this.snapshot();
    try {
      return work();
    } finally {
      const now = this.snapshot();
      const zeroed = now.zeroed - before.zeroed;
      const copied = now.copied - before.copied;
      const ptes = now.ptes - before.ptes;
      const uaccess = now.uaccess - before.uaccess;
      const c = this.costs;
      chargeKernelNs(this.cb, cpu, zeroed * c.pageZero + copied * c.pageCopy + ptes * c.pteWrite + uaccess * c.uaccessByte);
      this.at = { ...this.at, zeroed: this.at.zeroed + zeroed, copied: this.at.copied + copied, ptes: this.at.ptes + ptes, uaccess: this.at.uaccess + uaccess };
    }
  }

  /**
   * Run fn, kswapd's work (between requests), on kswapd's clock: its work priced as a
   * system call's would be, without an entry, and added to kswapd_modeled_ns, charged to no
   * CPU. Returns its ns.
   */
  background(fn: () => void): number {
    const from = this.snapshot();
    fn();
    const ns = this.workNs(from, this.snapshot(), true);
    this.cb.f64[this.cb.kernelCounterIndex(K_KSWAPD_NS)] += ns;
    return ns;
  }

  /** The machine clock on `cpu`, cycles. */
  clock(cpu: number): number {
    return readCpuClock(this.cb, cpu);
  }

  /**
   * A thread (or a process's first thread, `process`) starts on `cpu`, created by the thread
   * on `creator` (-1: by the host, at clock 0): it starts at the creator's clock and has
   * paid for its start. Returns the clock it starts at.
   */
  start(cpu: number, creator: number, process: boolean): number {
    const at = creator < 0 ? 0 : this.clock(creator);
    startClock(this.cb, cpu, at, process ? this.costs.processStart : this.costs.threadStart);
    return at;
  }

  /** Advance the clock on `cpu` to `clock` cycles if it is behind (it waited for something that ended then). */
  syncTo(cpu: number, clock: number): void {
    const behind = clock - this.clock(cpu);
    const ghz = modelGhz(this.cb);
    if (behind > 0 && ghz > 0) chargeKernelNs(this.cb, cpu, behind / ghz);
  }

  /**
   * A shootdown from `initiator` reached `targets` and these acknowledged `acked`: the
   * initiator pays for the IPIs it sent, then waits for the latest acknowledgement (each
   * acknowledging CPU's clock includes the IPI it took, machine/timing.ts).
   */
  shootdown(initiator: number, targets: number, acked: readonly number[]): void {
    if (initiator < 0) return;
    chargeKernelNs(this.cb, initiator, targets * this.costs.ipiSend);
    let latest = 0;
    for (const cpu of acked) latest = Math.max(latest, this.clock(cpu));
    this.syncTo(initiator, latest);
  }
}
