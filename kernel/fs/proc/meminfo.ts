// /proc/meminfo (fs/proc/meminfo.c) and /proc/vmstat (mm/vmstat.c): the machine's memory
// by use, counted from the frame metadata at each read (exact; O(frames)), and the event
// counters.

import { pmdPfn, ptePfn, readKernelCounters } from '../../../machine/index.ts';
import {
  forEachPte, HPAGE_PMD_NR, type Kmm, PG_ANON, PG_PGTABLE, PG_SHMEM, VM_ACCOUNT, VM_HUGETLB, VM_LOCKED,
} from '../../mm/index.ts';
import type { ProcRoot } from './base.ts';
import { kb } from './task_mmu.ts';

// --- /proc/meminfo and /proc/vmstat ------------------------------------------------------------------------

interface FrameCounts {
  anon: number;
  shmem: number;
  pgtable: number;
  /** Frames of transparent huge pages (AnonHugePages). */
  anonHuge: number;
}

/** Count frames by use from the frame metadata (exact at any moment; O(frames)). */
function frameCounts(k: Kmm): FrameCounts {
  const { flags, mapcount } = k.pages;
  const c: FrameCounts = { anon: 0, shmem: 0, pgtable: 0, anonHuge: 0 };
  for (let pfn = 0; pfn < flags.length; pfn++) {
    const f = flags[pfn];
    if (f === 0) continue;
    if ((f & PG_ANON) !== 0 && mapcount[pfn] > 0) {
      // A transparent huge page: its head stands for 512 frames, all PMD-mapped.
      const n = 1 << k.pages.orderOf(pfn);
      c.anon += n;
      if (n > 1) c.anonHuge += n;
    }
    else if ((f & PG_SHMEM) !== 0) c.shmem++;
    else if ((f & PG_PGTABLE) !== 0) c.pgtable++;
  }
  return c;
}

function mlockedPages(k: Kmm, root: ProcRoot): number {
  let n = 0;
  for (const t of root.liveTasks()) {
    for (const v of t.mm.vmas.all()) {
      if ((v.flags & VM_LOCKED) === 0) continue;
      forEachPte(k, t.mm, v.start, v.end, (w) => {
        if (!k.pages.isSpecial(ptePfn(k.ops.lo(w), k.ops.hi(w)))) n++;
      }, (w) => {
        // hugetlb pages are not on the LRU: Mlocked does not count them.
        if ((v.flags & VM_HUGETLB) === 0 && !k.pages.isSpecial(pmdPfn(k.ops.lo(w), k.ops.hi(w)))) n += HPAGE_PMD_NR;
        return true;
      });
    }
  }
  return n;
}

export function procMeminfo(root: ProcRoot): string {
  const k = root.k;
  const c = frameCounts(k);
  let committed = 0;
  for (const t of root.liveTasks()) for (const v of t.mm.vmas.all()) if ((v.flags & VM_ACCOUNT) !== 0 || v.mapping !== null) committed += (v.end - v.start) / 4096;
  const total = k.pages.nrFrames - 1;
  const mlocked = mlockedPages(k, root);
  const rows: [string, number][] = [
    ['MemTotal', total], ['MemFree', k.pages.nrFree], ['MemAvailable', k.pages.nrFree], ['Buffers', 0],
    ['Cached', c.shmem], ['SwapCached', 0], ['Active', c.anon + c.shmem], ['Inactive', 0],
    ['Active(anon)', c.anon + c.shmem], ['Inactive(anon)', 0], ['Active(file)', 0], ['Inactive(file)', 0],
    ['Unevictable', mlocked], ['Mlocked', mlocked], ['SwapTotal', 0], ['SwapFree', 0], ['Zswap', 0], ['Zswapped', 0],
    ['Dirty', 0], ['Writeback', 0], ['AnonPages', c.anon], ['Mapped', 0], ['Shmem', c.shmem],
    ['KReclaimable', 0], ['Slab', 0], ['SReclaimable', 0], ['SUnreclaim', 0], ['KernelStack', 0],
    ['PageTables', c.pgtable], ['SecPageTables', 0], ['NFS_Unstable', 0], ['Bounce', 0], ['WritebackTmp', 0],
    ['CommitLimit', Math.floor(total / 2)], ['Committed_AS', committed],
  ];
  let out = '';
  for (const [label, pages] of rows) out += kb(label, pages * 4096);
  out += `${'VmallocTotal:'.padEnd(16)}${'34359738367'.padStart(8)} kB\n` + kb('VmallocUsed', 0) + kb('VmallocChunk', 0) + kb('Percpu', 0);
  out += kb('AnonHugePages', c.anonHuge * 4096);
  for (const label of ['ShmemHugePages', 'ShmemPmdMapped', 'FileHugePages', 'FilePmdMapped', 'Balloon']) out += kb(label, 0);
  const h = k.hugetlb.hstates[0];
  for (const [label, n] of [['HugePages_Total', h.nr], ['HugePages_Free', h.free.length], ['HugePages_Rsvd', h.resv], ['HugePages_Surp', h.surplus]] as const) out += `${`${label}:`.padEnd(16)}${String(n).padStart(8)}\n`;
  out += kb('Hugepagesize', h.size) + kb('Hugetlb', k.hugetlb.hstates.reduce((sum, x) => sum + x.nr * x.size, 0));
  out += kb('DirectMap4k', total * 4096) + kb('DirectMap2M', 0);
  return out;
}

export function procVmstat(root: ProcRoot): string {
  const k = root.k;
  const c = frameCounts(k);
  const kc = readKernelCounters(k.cb);
  const mlocked = mlockedPages(k, root);
  // In mm/vmstat.c's order: zone items, node items, then events.
  const rows: [string, number][] = [
    ['nr_free_pages', k.pages.nrFree], ['nr_zone_inactive_anon', 0], ['nr_zone_active_anon', c.anon + c.shmem],
    ['nr_zone_inactive_file', 0], ['nr_zone_active_file', 0], ['nr_zone_unevictable', mlocked],
    ['nr_zone_write_pending', 0], ['nr_mlock', mlocked], ['nr_bounce', 0], ['nr_zspages', 0], ['nr_free_cma', 0],
    ['nr_inactive_anon', 0], ['nr_active_anon', c.anon + c.shmem], ['nr_inactive_file', 0], ['nr_active_file', 0],
    ['nr_unevictable', mlocked], ['nr_anon_pages', c.anon], ['nr_mapped', 0], ['nr_file_pages', c.shmem],
    ['nr_dirty', 0], ['nr_writeback', 0], ['nr_shmem', c.shmem], ['nr_shmem_hugepages', 0], ['nr_shmem_pmdmapped', 0],
    ['nr_anon_transparent_hugepages', c.anonHuge / 512], ['nr_page_table_pages', c.pgtable], ['nr_sec_page_table_pages', 0],
    ['pgalloc_normal', k.pages.pgalloc], ['pgfree', k.pages.pgfree], ['pgfault', kc.pgfault], ['pgmajfault', kc.pgmajfault],
    ['pgreuse', k.events.pgreuse],
    ['thp_fault_alloc', k.events.thpFaultAlloc], ['thp_fault_fallback', k.events.thpFaultFallback], ['thp_split_pmd', k.events.thpSplitPmd], ['thp_zero_page_alloc', k.events.thpZeroPageAlloc],
    ['nr_tlb_remote_flush', kc.nr_tlb_remote_flush], ['nr_tlb_remote_flush_received', kc.nr_tlb_remote_flush_received],
    ['nr_tlb_local_flush_all', kc.nr_tlb_local_flush_all], ['nr_tlb_local_flush_one', kc.nr_tlb_local_flush_one],
    // ptlab's own: flushes of mshare host mms and the CPUs they reached.
    ['mshare_flushes', k.events.mshareFlushes], ['mshare_flush_cpus', k.events.mshareFlushCpus],
    // ptlab's own: write faults that copied a page (wp_page_copy, hugetlb_wp), forks, and
    // the PTEs and huge leaves they copied.
    ['cow_faults', k.events.cowFaults], ['forks', kc.forks], ['fork_ptes_copied', kc.fork_ptes_copied],
  ];
  return rows.map(([name, v]) => `${name} ${v}\n`).join('');
}

