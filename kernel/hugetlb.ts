// hugetlb page pools (mm/hugetlb.c): one per huge page size, 2 MiB (the default) and 1 GiB.
// nr_hugepages (sysfs) grows a pool by taking naturally aligned blocks from the page
// allocator and shrinks it by giving free ones back; /proc/meminfo reports the default
// pool (HugePages_Total, _Free, _Rsvd, _Surp, Hugepagesize) and all of them (Hugetlb).

import type { Kmm } from './mm.ts';

export class HState {
  /** Allocation order of one huge page (9: 2 MiB, 18: 1 GiB). */
  readonly order: number;
  /** Pages in the pool, free or in use (nr_hugepages). */
  nr = 0;
  /** Free pages' first frames. */
  readonly free: number[] = [];
  /** Pages promised to mappings and not yet faulted in (resv_hugepages). */
  resv = 0;

  constructor(order: number) {
    this.order = order;
  }

  get size(): number {
    return 4096 * 2 ** this.order;
  }

  /** The sysfs directory name: hugepages-2048kB, hugepages-1048576kB. */
  get name(): string {
    return `hugepages-${this.size / 1024}kB`;
  }

  /**
   * Set nr_hugepages (set_max_huge_pages): allocate pages until the pool has `n` or memory
   * runs out; free free pages down to `n` (pages in use or reserved stay).
   */
  setNr(k: Kmm, n: number): void {
    while (this.nr < n) {
      const pfn = k.pages.allocPages(this.order);
      if (pfn < 0) break;
      this.free.push(pfn);
      this.nr++;
    }
    while (this.nr > n && this.free.length > this.resv) {
      k.pages.putPage(this.free.pop()!);
      this.nr--;
    }
  }
}

/** The pools: 2 MiB first (default_hugepagesz), then 1 GiB. */
export function hstates(): HState[] {
  return [new HState(9), new HState(18)];
}
