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

// What the kernel's work counters read at one moment (a WorkSnapshot): pages zeroed and
// copied, PTE writes, user bytes copied, major faults, new anonymous pages, PTEs copied by
// forks (fork_ptes_copied), VMAs and PTEs reverse-map walks visited (rmap_vma_visits,
// rmap_pte_visits), pages written to swap (pswpout). Float64Arrays filled in place: a
// request takes two readings, and objects for them were a fifth of a getpid's kernel time
// (their allocation and collection).
const ZEROED = 0;
const COPIED = 1;
const PTES = 2;
const UACCESS = 3;
const MAJORS = 4;
const ANON = 5;
const FORKED = 6;
const RMAP_VMAS = 7;
const RMAP_PTES = 8;
const SWAP_OUT = 9;
const FIELDS = 10;
type WorkSnapshot = Float64Array;

export class ModelClock {
  costs: Readonly<KernelCosts> = DEFAULT_COSTS;
  private readonly cb: ControlBlock;
  private readonly work: KernelWork;
  private readonly pages: PageAllocator;
  private readonly ops: PageTableOps;
  /** The reading at the start of the request being served, and one to read into at its end. */
  private readonly at: WorkSnapshot = new Float64Array(FIELDS);
  private readonly now: WorkSnapshot = new Float64Array(FIELDS);
  /** The same for onBehalfOf and background, which run inside or between requests. */
  private readonly from: WorkSnapshot = new Float64Array(FIELDS);
  private readonly to: WorkSnapshot = new Float64Array(FIELDS);
  /** The kernel counters' indices in the control block's f64 view. */
  private readonly kc: { majors: number; forked: number; rmapVmas: number; rmapPtes: number; swapOut: number };
  private vmas: VmaTree | null = null;
  private vmaChanges = 0;

  constructor(cb: ControlBlock, work: KernelWork, pages: PageAllocator, ops: PageTableOps) {
    this.cb = cb;
    this.work = work;
    this.pages = pages;
    this.ops = ops;
    const i = (slot: number): number => cb.kernelCounterIndex(slot);
    this.kc = { majors: i(K_PGMAJFAULT), forked: i(K_FORK_PTES), rmapVmas: i(K_RMAP_VMA_VISITS), rmapPtes: i(K_RMAP_PTE_VISITS), swapOut: i(K_PSWPOUT) };
    writeIpiCosts(cb, this.costs);
  }

  /** Use cost table `c` from now on (the kernel, at boot: --costs). */
  setCosts(c: Readonly<KernelCosts>): void {
    this.costs = c;
    writeIpiCosts(this.cb, c);
  }

  /** Read the work counters into s. */
  private read(s: WorkSnapshot): void {
    const f = this.cb.f64;
    const kc = this.kc;
    s[ZEROED] = this.pages.zeroedPages + this.work.zeroed;
    s[COPIED] = this.work.copied;
    s[PTES] = this.ops.writes;
    s[UACCESS] = this.work.uaccessBytes;
    s[MAJORS] = f[kc.majors]!;
    s[ANON] = this.work.anonPages;
    s[FORKED] = f[kc.forked]!;
    s[RMAP_VMAS] = f[kc.rmapVmas]!;
    s[RMAP_PTES] = f[kc.rmapPtes]!;
    s[SWAP_OUT] = f[kc.swapOut]!;
  }

  /**
   * The price of the work done between readings a and b, ns, entries aside; PTE writes
   * only if `ptes` (a fault's are in its entry). A page written to swap is priced as a page
   * copy: swap lives in host memory (faultMajor prices a swap-in's copy the same way).
   */
  private workNs(a: WorkSnapshot, b: WorkSnapshot, ptes: boolean): number {
    const c = this.costs;
    return (b[ZEROED]! - a[ZEROED]!) * c.pageZero + (b[COPIED]! - a[COPIED]! + b[SWAP_OUT]! - a[SWAP_OUT]!) * c.pageCopy +
      (ptes ? (b[PTES]! - a[PTES]!) * c.pteWrite : 0) + (b[FORKED]! - a[FORKED]!) * c.forkPte +
      (b[UACCESS]! - a[UACCESS]!) * c.uaccessByte + (b[RMAP_VMAS]! - a[RMAP_VMAS]!) * c.rmapVma + (b[RMAP_PTES]! - a[RMAP_PTES]!) * c.rmapPte;
  }

  /** A request starts; `vmas` is the caller's VMA tree. */
  begin(vmas: VmaTree): void {
    this.read(this.at);
    this.vmas = vmas;
    this.vmaChanges = vmas.changes;
  }

  /**
   * The request begun last, on `cpu`, is done: charge it (`trap`: a page fault; `continued`:
   * a later slice of a call in slices, whose entry its first slice paid). Returns its ns.
   */
  end(cpu: number, trap: boolean, continued = false): number {
    const c = this.costs;
    const at = this.at;
    const now = this.now;
    this.read(now);
    let entry = continued ? 0 : c.syscall;
    if (trap) {
      if (now[MAJORS]! > at[MAJORS]!) entry = c.faultMajor;
      else if (now[COPIED]! > at[COPIED]!) entry = c.faultCow;
      else if (now[ANON]! > at[ANON]!) entry = c.faultAnon;
      else entry = c.faultMinor;
    }
    const vmas = this.vmas === null ? 0 : this.vmas.changes - this.vmaChanges;
    // A fault's entry cost includes its PTE writes (calibrate measures them together); a
    // fork's are priced per PTE it copied (forkPte, measured as such).
    const forked = now[FORKED]! - at[FORKED]!;
    const ns = entry + this.workNs(at, now, !trap && forked === 0) + vmas * c.vma;
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
    const before = new Float64Array(FIELDS); // not this.from: a copy's work may itself run kswapd
    this.read(before);
    try {
      return work();
    } finally {
      const now = this.to;
      this.read(now);
      const zeroed = now[ZEROED]! - before[ZEROED]!;
      const copied = now[COPIED]! - before[COPIED]!;
      const ptes = now[PTES]! - before[PTES]!;
      const uaccess = now[UACCESS]! - before[UACCESS]!;
      const c = this.costs;
      chargeKernelNs(this.cb, cpu, zeroed * c.pageZero + copied * c.pageCopy + ptes * c.pteWrite + uaccess * c.uaccessByte);
      // Not the served request's work: its reading moves past it.
      const at = this.at;
      at[ZEROED] += zeroed;
      at[COPIED] += copied;
      at[PTES] += ptes;
      at[UACCESS] += uaccess;
    }
  }

  /**
   * Run fn, kswapd's work (between requests), on kswapd's clock: its work priced as a
   * system call's would be, without an entry, and added to kswapd_modeled_ns, charged to no
   * CPU. Returns its ns.
   */
  background(fn: () => void): number {
    this.read(this.from);
    fn();
    this.read(this.to);
    const ns = this.workNs(this.from, this.to, true);
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
