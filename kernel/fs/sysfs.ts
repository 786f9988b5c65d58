// sysfs: the attribute files under /sys that ptlab has (the THP policy under
// /sys/kernel/mm/transparent_hugepage, the hugetlb pools under /sys/kernel/mm/hugepages,
// and, on request, lkdtm's /sys/kernel/debug/provoke-crash/DIRECT).
// An attribute's read shows its text as of the read; a write stores (and takes all of it)
// or fails with an errno.

import { KernelBug } from '../bug.ts';
import * as U from '../uapi.ts';
import type { FileOps } from './file.ts';
import type { Inode, Vfs } from './vfs.ts';

/** Add the attributes under `sys`, the /sys directory; lkdtm's with `lkdtm`. */
export function populateSysfs(vfs: Vfs, sys: Inode, lkdtm: boolean): void {
  const k = vfs.k;
  const attr = (dir: Inode, name: string, show: () => string, store?: (text: string) => number): void => {
    const inode = vfs.newInode(U.S_IFREG | (store === undefined ? 0o444 : 0o644));
    inode.attr = store === undefined ? { show } : { show, store };
    vfs.linkIn(dir, name, inode);
  };
  const kernel = vfs.mkdirIn(sys, 'kernel', 0o755);
  const mm = vfs.mkdirIn(kernel, 'mm', 0o755);
  // /sys/kernel/mm/transparent_hugepage: the THP policy and the huge zero page switch.
  const thp = vfs.mkdirIn(mm, 'transparent_hugepage', 0o755);
  const POLICIES = ['always', 'madvise', 'never'] as const;
  attr(thp, 'enabled', () => `${POLICIES.map((p) => (p === k.thp.policy ? `[${p}]` : p)).join(' ')}\n`, (text) => {
    const p = POLICIES.find((x) => x === text.trim());
    if (p === undefined) return -U.EINVAL;
    k.thp.policy = p;
    return text.length;
  });
  attr(thp, 'use_zero_page', () => `${k.thp.useZeroPage ? 1 : 0}\n`, (text) => {
    const v = text.trim();
    if (v !== '0' && v !== '1') return -U.EINVAL;
    k.thp.useZeroPage = v === '1';
    return text.length;
  });
  attr(thp, 'hpage_pmd_size', () => '2097152\n');
  // /sys/kernel/mm/hugepages/hugepages-SIZE: the hugetlb pools.
  const pools = vfs.mkdirIn(mm, 'hugepages', 0o755);
  for (const h of k.hugetlb.hstates) {
    const dir = vfs.mkdirIn(pools, h.name, 0o755);
    attr(dir, 'nr_hugepages', () => `${h.persistent}\n`, (text) => {
      const n = Number(text.trim());
      if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n)) return -U.EINVAL;
      h.setNr(k, n);
      return text.length;
    });
    attr(dir, 'free_hugepages', () => `${h.free.length}\n`);
    attr(dir, 'resv_hugepages', () => `${h.resv}\n`);
    attr(dir, 'surplus_hugepages', () => `${h.surplus}\n`);
  }
  // lkdtm's direct entry (drivers/misc/lkdtm): the crash type written happens at once, in
  // the writer's system call. ptlab has one type, BUG (lkdtm_BUG: BUG(), an oops that kills
  // the writer); reading lists it, as lkdtm's "Available crash types".
  if (lkdtm) {
    const provoke = vfs.mkdirIn(vfs.mkdirIn(kernel, 'debug', 0o700), 'provoke-crash', 0o700);
    attr(provoke, 'DIRECT', () => 'Available crash types:\nBUG\n', (text) => {
      if (text.trim() === 'BUG') throw new KernelBug('lkdtm_BUG: BUG() provoked through /sys/kernel/debug/provoke-crash/DIRECT');
      return -U.EINVAL;
    });
  }
}

/** An attribute's open file: reads show its text (as of the read), writes store. */
export function sysfsAttrOps(inode: Inode): FileOps {
  const attr = inode.attr!;
  return {
    seekable: true,
    read: (_f, len, pos) => {
      const text = new TextEncoder().encode(attr.show());
      return text.subarray(Math.min(pos, text.length), Math.min(pos + len, text.length));
    },
    write: (_f, data) => (attr.store === undefined ? -U.EACCES : attr.store(new TextDecoder().decode(data))),
    getattr: () => inode.stat(),
    release: () => { inode.opens--; },
  };
}
