// /proc/meminfo (fs/proc/meminfo.c) and /proc/vmstat (mm/vmstat.c): the machine's memory
// by use, counted from the frame metadata at each read (exact; O(frames)), and the event
// counters.

import { readKernelCounters } from '../../../machine/index.ts';
import {
  type Kmm, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE, PG_ANON, PG_BUDDY,
  PG_HEAD, PG_PGTABLE, PG_SHMEM, PG_SWAPCACHE, VM_ACCOUNT,
} from '../../mm/index.ts';
import * as U from '../../uapi.ts';
import type { ProcRoot } from './base.ts';
import { kb } from './task_mmu.ts';

// --- /proc/meminfo and /proc/vmstat ------------------------------------------------------------------------

interface FrameCounts {
  anon: number;
  /** shmem/tmpfs pages in their page caches (not those in the swap cache). */
  shmem: number;
  pgtable: number;
  /** Frames of transparent huge pages (AnonHugePages). */
  anonHuge: number;
  /** Pages in the swap cache (SwapCached). */
  swapCached: number;
}

/**
 * Count frames by use from the frame metadata (exact at any moment; O(frames)), block by
 * block: a free block or an allocated one is read at its head only (the other frames of a
 * block keep whatever flags they had before it was merged or allocated whole).
 */
function frameCounts(k: Kmm): FrameCounts {
  const { flags, mapcount } = k.pages;
  const c: FrameCounts = { anon: 0, shmem: 0, pgtable: 0, anonHuge: 0, swapCached: 0 };
  for (let pfn = 0; pfn < flags.length;) {
    const f = flags[pfn];
    const n = (f & (PG_BUDDY | PG_HEAD)) !== 0 ? 1 << k.pages.orderOf(pfn) : 1;
    if ((f & PG_BUDDY) === 0 && f !== 0) {
      if ((f & PG_SWAPCACHE) !== 0) c.swapCached += n;
      if ((f & PG_ANON) !== 0 && mapcount[pfn] > 0) {
        // A transparent huge page: its head stands for 512 frames, all PMD-mapped.
        c.anon += n;
        if (n > 1) c.anonHuge += n;
      } else if ((f & PG_SHMEM) !== 0 && (f & PG_SWAPCACHE) === 0) c.shmem += n;
      else if ((f & PG_PGTABLE) !== 0) c.pgtable += n;
    }
    pfn += n;
  }
  return c;
}

export function procMeminfo(root: ProcRoot): string {
  const k = root.k;
  const c = frameCounts(k);
  let committed = 0;
  for (const t of root.liveTasks()) for (const v of t.mm.vmas.all()) if ((v.flags & VM_ACCOUNT) !== 0 || v.mapping !== null) committed += (v.end - v.start) / 4096;
  const total = k.pages.nrFrames - 1;
  const lru = k.pages.lruPages;
  const wm = k.pages.wmark;
  // si_mem_available: free memory above the reserve, plus the page cache reclaim could drop.
  const pagecache = lru[LRU_ACTIVE_FILE] + lru[LRU_INACTIVE_FILE];
  const available = Math.max(0, k.pages.nrFree - wm.high + pagecache - Math.min(Math.floor(pagecache / 2), wm.low));
  const swapTotal = k.swap?.pages ?? 0;
  const swapFree = k.swap?.freeSlots ?? 0;
  const rows: [string, number][] = [
    ['MemTotal', total], ['MemFree', k.pages.nrFree], ['MemAvailable', available], ['Buffers', 0],
    ['Cached', c.shmem], ['SwapCached', c.swapCached], ['Active', lru[LRU_ACTIVE_ANON] + lru[LRU_ACTIVE_FILE]],
    ['Inactive', lru[LRU_INACTIVE_ANON] + lru[LRU_INACTIVE_FILE]],
    ['Active(anon)', lru[LRU_ACTIVE_ANON]], ['Inactive(anon)', lru[LRU_INACTIVE_ANON]], ['Active(file)', lru[LRU_ACTIVE_FILE]],
    ['Inactive(file)', lru[LRU_INACTIVE_FILE]], ['Unevictable', lru[LRU_UNEVICTABLE]], ['Mlocked', k.pages.mlocked],
    ['SwapTotal', swapTotal], ['SwapFree', swapFree], ['Zswap', 0], ['Zswapped', 0],
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
  const lru = k.pages.lruPages;
  const e = k.reclaim.ev;
  const lists: [string, number][] = [
    ['inactive_anon', lru[LRU_INACTIVE_ANON]], ['active_anon', lru[LRU_ACTIVE_ANON]], ['inactive_file', lru[LRU_INACTIVE_FILE]],
    ['active_file', lru[LRU_ACTIVE_FILE]], ['unevictable', lru[LRU_UNEVICTABLE]],
  ];
  // In mm/vmstat.c's order: zone items, node items, then events.
  const rows: [string, number][] = [
    ['nr_free_pages', k.pages.nrFree], ...lists.map(([n, v]): [string, number] => [`nr_zone_${n}`, v]),
    ['nr_zone_write_pending', 0], ['nr_mlock', k.pages.mlocked], ['nr_bounce', 0], ['nr_zspages', 0], ['nr_free_cma', 0],
    ...lists.map(([n, v]): [string, number] => [`nr_${n}`, v]),
    ['workingset_refault_anon', e.workingsetRefaultAnon], ['workingset_refault_file', e.workingsetRefaultFile],
    ['workingset_activate_anon', e.workingsetActivateAnon], ['workingset_activate_file', e.workingsetActivateFile],
    ['workingset_restore_anon', e.workingsetRestoreAnon], ['workingset_restore_file', e.workingsetRestoreFile],
    ['workingset_nodereclaim', 0],
    ['nr_anon_pages', c.anon], ['nr_mapped', 0], ['nr_file_pages', c.shmem + c.swapCached],
    ['nr_dirty', 0], ['nr_writeback', 0], ['nr_shmem', c.shmem], ['nr_shmem_hugepages', 0], ['nr_shmem_pmdmapped', 0],
    ['nr_anon_transparent_hugepages', c.anonHuge / 512], ['nr_page_table_pages', c.pgtable], ['nr_sec_page_table_pages', 0],
    ['nr_swapcached', c.swapCached],
    ['pswpin', kc.pswpin], ['pswpout', kc.pswpout],
    ['pgalloc_normal', k.pages.pgalloc], ['allocstall_normal', kc.allocstall], ['pgfree', k.pages.pgfree],
    ['pgactivate', e.pgactivate], ['pgdeactivate', e.pgdeactivate], ['pglazyfree', e.pglazyfree],
    ['pgfault', kc.pgfault], ['pgmajfault', kc.pgmajfault], ['pglazyfreed', e.pglazyfreed], ['pgrefill', e.pgrefill],
    ['pgreuse', k.events.pgreuse],
    ['pgsteal_kswapd', e.pgstealKswapd], ['pgsteal_direct', e.pgstealDirect],
    ['pgscan_kswapd', e.pgscanKswapd], ['pgscan_direct', e.pgscanDirect],
    ['pgscan_anon', e.pgscanAnon], ['pgscan_file', e.pgscanFile], ['pgsteal_anon', e.pgstealAnon], ['pgsteal_file', e.pgstealFile],
    ['pageoutrun', e.kswapdRuns],
    ['oom_kill', k.events.oomKill],
    ['thp_fault_alloc', k.events.thpFaultAlloc], ['thp_fault_fallback', k.events.thpFaultFallback], ['thp_split_pmd', k.events.thpSplitPmd], ['thp_zero_page_alloc', k.events.thpZeroPageAlloc],
    ['nr_tlb_remote_flush', kc.nr_tlb_remote_flush], ['nr_tlb_remote_flush_received', kc.nr_tlb_remote_flush_received],
    ['nr_tlb_local_flush_all', kc.nr_tlb_local_flush_all], ['nr_tlb_local_flush_one', kc.nr_tlb_local_flush_one],
    // ptlab's own: flushes of mshare host mms and the CPUs they reached.
    ['swap_ra', e.swapRa], ['swap_ra_hit', e.swapRaHit],
    ['mshare_flushes', k.events.mshareFlushes], ['mshare_flush_cpus', k.events.mshareFlushCpus],
    // ptlab's own: reclaim's reverse-map walks (folio_referenced, try_to_unmap) and their cost.
    ['rmap_walks', kc.rmap_walks], ['rmap_vma_visits', kc.rmap_vma_visits], ['rmap_pte_visits', kc.rmap_pte_visits],
    ['rmap_abit_clears', kc.rmap_abit_clears], ['rmap_flush_targets', kc.rmap_flush_targets],
    // ptlab's own: kswapd's modeled time, ns (README.md, "Modeled time").
    ['kswapd_modeled_ns', Math.round(kc.kswapd_modeled_ns)],
    // ptlab's own: write faults that copied a page (wp_page_copy, hugetlb_wp), forks, and
    // the PTEs and huge leaves they copied.
    ['cow_faults', k.events.cowFaults], ['forks', kc.forks], ['fork_ptes_copied', kc.fork_ptes_copied],
  ];
  return rows.map(([name, v]) => `${name} ${v}\n`).join('');
}


// --- /proc/swaps, /proc/zoneinfo and the vm sysctls ------------------------------------------------

/** /proc/swaps (swap_show): the one swap area, sizes in KiB, as swapon -s prints it. */
export function procSwaps(k: Kmm): string {
  let out = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
  const s = k.swap;
  if (s === null) return out;
  const size = s.pages * 4;
  const used = s.inuse * 4;
  out += `${s.name}${' '.repeat(Math.max(1, 40 - s.name.length))}partition\t${size}\t${size < 10000000 ? '\t' : ''}${used}\t${used < 10000000 ? '\t' : ''}${s.priority}\n`;
  return out;
}

/** /proc/zoneinfo for the machine's one zone (Normal of node 0): free pages, the watermarks, the sizes. */
export function procZoneinfo(k: Kmm): string {
  const w = k.pages.wmark;
  const managed = k.pages.nrFrames - 1;
  const row = (name: string, v: number) => `        ${name.padEnd(8)} ${v}\n`;
  return `Node 0, zone   Normal\n  pages free     ${k.pages.nrFree}\n${row('boost', 0)}${row('min', w.min)}${row('low', w.low)}${row('high', w.high)}`
    + `${row('spanned', k.pages.nrFrames)}${row('present', k.pages.nrFrames)}${row('managed', managed)}${row('cma', 0)}`
    + `        protection: (0, 0, 0, 0, 0)\n`;
}

/** The files of /proc/sys/vm that ptlab has: getter, setter, and the range a write must be in. */
function sysVmKnobs(k: Kmm): Record<string, [() => number, (v: number) => void, number, number]> {
  const r = k.reclaim;
  const w = k.pages.wmark;
  return {
    swappiness: [() => r.swappiness, (v) => (r.swappiness = v), 0, 200],
    'page-cluster': [() => r.pageCluster, (v) => (r.pageCluster = v), 0, 31],
    min_free_kbytes: [() => w.minFreeKbytes, (v) => (w.minFreeKbytes = v), 0, 2 ** 31 - 1],
    watermark_scale_factor: [() => w.scaleFactor, (v) => (w.scaleFactor = v), 1, 3000],
    memfd_noexec: [() => k.vm.memfdNoexec, (v) => (k.vm.memfdNoexec = v), 0, 2],
  };
}

/** The names in /proc/sys/vm, in the order a listing gives them (sysctl's, by name). */
export function procSysVmNames(k: Kmm): string[] {
  return Object.keys(sysVmKnobs(k)).sort();
}

/**
 * A file of /proc/sys/vm that ptlab has: its text, and what a write does (proc_dointvec_minmax:
 * an integer in range, or EINVAL). min_free_kbytes and watermark_scale_factor recompute the
 * watermarks (setup_per_zone_wmarks). Null for any other name.
 */
export function procSysVm(k: Kmm, name: string): { read: () => string; write: (data: Uint8Array) => number } | null {
  const w = k.pages.wmark;
  const knob = sysVmKnobs(k)[name];
  if (knob === undefined) return null;
  const [get, set, lo, hi] = knob;
  return {
    read: () => `${get()}\n`,
    write: (data) => {
      const text = new TextDecoder().decode(data).trim();
      if (!/^[+-]?\d+$/.test(text)) return -U.EINVAL;
      const v = Number(text);
      if (v < lo || v > hi) return -U.EINVAL;
      set(v);
      w.setup(k.pages.nrFrames - 1);
      return data.length;
    },
  };
}
