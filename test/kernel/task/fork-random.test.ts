// Random mixes of fork, writes, reads, unmaps, madvise and exits over every kind of private
// and shared memory, driven through the kernel (KernelHarness), without and with swap
// (MADV_PAGEOUT, MADV_COLD and direct reclaim among the steps). After every step each live
// address space validates, and across all of them every frame's mapcount is the number of
// page-table entries that map it and an anonymous frame's refcount its mapcount; at the
// end, no frame is left. FORK_RUNS sets how many mixes (fast-check), FORK_SEED a seed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { _PAGE_PRESENT, pmdPfn, ptePfn, pteLeaf, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { USER_TOP } from '../../../kernel/mm/mm.ts';
import { PG_ANON, PG_SWAPCACHE } from '../../../kernel/mm/page_alloc.ts';
import { ACTION_CONTINUE, walkPageRangeNovma } from '../../../kernel/mm/pagewalk.ts';
import { pteMapped } from '../../../kernel/mm/pgtable.ts';
import { swpOffset } from '../../../kernel/mm/swapfile.ts';
import { tryToFreePages } from '../../../kernel/mm/vmscan.ts';
import { copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const RUNS = Number(process.env.FORK_RUNS ?? 25);

/** The areas every process of a mix shares the layout of: [start, pages]. */
interface Layout {
  areas: [number, number][];
}

/** Count, over every live mm, the entries that map each frame (and, in `slots`, the swap entries that refer to each slot). */
function mappings(h: KernelHarness, slots = new Map<number, number>()): Map<number, number> {
  const k = h.k;
  const n = new Map<number, number>();
  const add = (pfn: number) => n.set(pfn, (n.get(pfn) ?? 0) + 1);
  // Processes made with CLONE_VM share an mm: count each once.
  const mms = new Set([...h.kernel.tasks.procs.values()].filter((p) => p.state === 'live').map((p) => p.mm));
  for (const mm of mms) {
    walkPageRangeNovma(k, mm, 0, USER_TOP, {
      pmdEntry: (w, _a, _n, walk) => {
        const lo = k.ops.lo(w);
        if (!pteLeaf(lo) || (lo & _PAGE_PRESENT) === 0) return 0;
        walk.action = ACTION_CONTINUE;
        const head = pmdPfn(lo, k.ops.hi(w));
        if (head === k.thp.hugeZeroPfn) return 0;
        if (k.pages.orderOf(head) === 9) add(head);
        else for (let i = 0; i < 512; i++) add(head + i);
        return 0;
      },
      pteEntry: (w) => {
        const lo = k.ops.lo(w);
        if (pteMapped(lo)) {
          const pfn = ptePfn(lo, k.ops.hi(w));
          if (!k.pages.isSpecial(pfn)) add(pfn);
        } else if (lo !== 0) {
          const off = swpOffset(lo, k.ops.hi(w));
          slots.set(off, (slots.get(off) ?? 0) + 1);
        }
        return 0;
      },
    }, null);
  }
  return n;
}

function checkAll(h: KernelHarness): void {
  const k = h.k;
  h.kernel.tick();
  for (const p of h.kernel.tasks.procs.values()) if (p.state === 'live') validateMm(k, p.mm);
  const slots = new Map<number, number>();
  const n = mappings(h, slots);
  for (const [pfn, c] of n) {
    expect(k.pages.mapcount[pfn], `mapcount of frame ${pfn}`).toBe(c);
    // An anonymous page: a reference per mapping, and the swap cache's if it is there.
    const cached = (k.pages.flags[pfn] & PG_SWAPCACHE) !== 0 ? 1 : 0;
    if ((k.pages.flags[pfn] & PG_ANON) !== 0) expect(k.pages.refcount[pfn], `refcount of anonymous frame ${pfn}`).toBe(c + cached);
  }
  // Every slot is referred to exactly as often as its count says: swap PTEs and shmem entries.
  if (k.swap !== null) {
    for (const m of k.rmap.mappings.values()) m.swapped.forEach((_idx, off) => slots.set(off, (slots.get(off) ?? 0) + 1));
    const wrong: string[] = [];
    for (let off = 1; off < k.swap.max; off++) if (k.swap.map[off] !== (slots.get(off) ?? 0)) wrong.push(`slot ${off}: count ${k.swap.map[off]}, ${slots.get(off) ?? 0} references`);
    expect(wrong).toEqual([]);
  }
  for (let pfn = 1; pfn < k.pages.nrFrames; pfn++) {
    if (k.pages.mapcount[pfn] !== 0 && !n.has(pfn) && !k.hugetlb.pages.has(pfn)) throw new Error(`frame ${pfn} has mapcount ${k.pages.mapcount[pfn]} and no mapping`);
  }
}

/** The first process's areas: private anonymous, a THP-sized one, shared anonymous, a private and a shared file. */
function setUp(h: KernelHarness, t: Thread): Layout {
  const mmap = (len: number, flags: number, fd = -1) => h.call(t, U.SYS_mmap, 0, len, RW, flags, fd, 0);
  const name = mmap(P, U.MAP_SHARED | U.MAP_ANONYMOUS);
  copyToUser(h.k, t.proc.mm, name, new TextEncoder().encode('f\0'), -1);
  const fd = h.call(t, U.SYS_memfd_create, name, 0);
  h.call(t, U.SYS_ftruncate, fd, 8 * P);
  const raw = mmap(4 << 20, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  const thp = Math.ceil(raw / (2 << 20)) * (2 << 20);
  return {
    areas: [[mmap(16 * P, U.MAP_PRIVATE | U.MAP_ANONYMOUS), 16], [thp, 512], [mmap(4 * P, U.MAP_SHARED | U.MAP_ANONYMOUS), 4],
      [mmap(8 * P, U.MAP_PRIVATE, fd), 8], [mmap(8 * P, U.MAP_SHARED, fd), 8]],
  };
}

const step = fc.record({ op: fc.nat(11), who: fc.nat(7), area: fc.nat(4), page: fc.nat(511) });

/** One mix: `swap` gives the machine a swap area and lets ops 10 and 11 reclaim. */
function mix(steps: { op: number; who: number; area: number; page: number }[], swap: boolean): void {
  const h = new KernelHarness({ memBytes: 48 << 20, nrCpus: 12, swapBytes: swap ? 16 << 20 : 0 });
  h.k.thp.policy = 'always';
  const first = h.spawn();
  const layout = setUp(h, first);
  const d = new TextEncoder().encode('{"path":"/g.ts","exportName":"c"}');
  const descAt = h.call(first, U.SYS_mmap, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
  copyToUser(h.k, first.proc.mm, descAt, d, -1);
  const live = (): Thread[] => [...h.kernel.tasks.procs.values()].filter((p) => p.state === 'live').map((p) => p.threads.get(p.pid)!);
  for (const s of steps) {
    const procs = live();
    if (procs.length === 0) break;
    const t = procs[s.who % procs.length];
    const [start, pages] = layout.areas[s.area];
    const va = start + (s.page % pages) * P;
    if (s.op <= 3) h.fault(t, va, X86_PF_USER | (s.op <= 1 ? X86_PF_WRITE : 0));
    else if (s.op <= 5) {
      if (procs.length < 10) h.syscall(t, U.SYS_clone, s.op === 4 ? U.FORK_FLAGS : U.CLONE_VM | U.SIGCHLD, descAt, d.length);
    } else if (s.op === 6) h.syscall(t, U.SYS_madvise, va, P * (1 + (s.page % 3)), s.page % 4 === 3 ? U.MADV_FREE : U.MADV_DONTNEED);
    else if (s.op === 7) h.syscall(t, U.SYS_munmap, va, P);
    else if (s.op === 8) h.syscall(t, U.SYS_mprotect, start, pages * P, s.page % 2 === 0 ? U.PROT_READ : RW);
    else if (s.op === 9) {
      if (procs.length > 1) h.syscall(t, s.page % 2 === 0 ? U.SYS_exit_group : U.SYS_kill, s.page % 2 === 0 ? 0 : t.proc.pid, U.SIGKILL);
    } else if (!swap) continue;
    else if (s.op === 10) h.syscall(t, U.SYS_madvise, start, pages * P, s.page % 2 === 0 ? U.MADV_PAGEOUT : U.MADV_COLD);
    else tryToFreePages(h.k);
    checkAll(h);
  }
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
  expect(h.k.swap?.inuse ?? 0).toBe(0);
}

describe('random mixes of fork, faults, unmaps and exits', () => {
  const seed = process.env.FORK_SEED ? { seed: Number(process.env.FORK_SEED) } : {};
  it(`keep mapcounts and refcounts exact across processes and leak nothing (${RUNS} mixes)`, () => {
    fc.assert(fc.property(fc.array(step, { minLength: 10, maxLength: 60 }), (steps) => mix(steps, false)), { numRuns: RUNS, ...seed });
  }, 120_000);

  it(`with swap, MADV_PAGEOUT, MADV_COLD and direct reclaim among them: every swap slot referred to as counted (${RUNS} mixes)`, () => {
    fc.assert(fc.property(fc.array(step, { minLength: 10, maxLength: 60 }), (steps) => mix(steps, true)), { numRuns: RUNS, ...seed });
  }, 120_000);
});
