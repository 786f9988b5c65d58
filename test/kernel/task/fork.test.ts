// fork, vfork and clone driven through the kernel without workers (KernelHarness): the
// cases of ../shared/reference/fork-reclaim.md section 1, whose accounting tables are the
// expectations here, the flag errors, and frames after any order of exits.
import { afterEach, describe, expect, it } from 'vitest';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_RW, _PAGE_SOFT_DIRTY, pteLeaf, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import type { Mm } from '../../../kernel/mm/mm.ts';
import { VM_LOCKED } from '../../../kernel/mm/mm_types.ts';
import { PG_ANON_EXCLUSIVE } from '../../../kernel/mm/page_alloc.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, smapsRecord } from '../../harness/kernel.ts';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const P = 4096;

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  for (const hs of h.k.hugetlb.hstates) hs.setNr(h.k, 0);
  expect(h.leakedFrames()).toBe(0);
});

function boot(memBytes = 64 << 20): Thread {
  h = new KernelHarness({ memBytes });
  return h.spawn();
}

/** clone(flags) from t: the answer. */
function clone(t: Thread, flags: number) {
  return h.syscall(t, U.SYS_clone, flags, ...h.cloneDesc(t));
}

/** fork from t: the child's main thread. */
function fork(t: Thread): Thread {
  const a = clone(t, U.FORK_FLAGS);
  if (a.kind !== 'return' || a.value < 0) throw new Error(`fork: ${JSON.stringify(a)}`);
  return h.kernel.tasks.procs.get(a.value)!.threads.get(a.value)!;
}

const mmap = (t: Thread, len: number, prot = RW, flags = ANON, fd = -1): number => h.call(t, U.SYS_mmap, 0, len, prot, flags, fd, 0);
const write = (t: Thread, va: number) => expect(h.fault(t, va, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'return', value: 0 });
const read = (t: Thread, va: number) => expect(h.fault(t, va, X86_PF_USER)).toEqual({ kind: 'return', value: 0 });

function pte(mm: Mm, va: number): { lo: number; pfn: number; huge: boolean } {
  const l = leafWord(h.k, mm, va);
  if (l === null) throw new Error(`nothing mapped at ${va.toString(16)}`);
  return { lo: h.k.ops.lo(l.w), pfn: l.pfn, huge: l.huge };
}

const mapped = (mm: Mm, va: number): boolean => leafWord(h.k, mm, va) !== null;
const exclusive = (pfn: number): boolean => (h.k.pages.flags[pfn] & PG_ANON_EXCLUSIVE) !== 0;
const store = (t: Thread, va: number, v: number) => expect(copyToUser(h.k, t.proc.mm, va, new Uint8Array([v]), -1)).toBe(0);
const load = (t: Thread, va: number): number => (copyFromUser(h.k, t.proc.mm, va, 1, -1) as Uint8Array)[0];

const smaps = (mm: Mm, va: number): Record<string, number> => smapsRecord(h.k, mm, va);

describe('fork: a private anonymous page (section 1.6)', () => {
  it('shares the page read-only: counts, flags, the child PTE old with D kept', () => {
    const t = boot();
    const a = mmap(t, P);
    write(t, a);
    const x = pte(t.proc.mm, a).pfn;
    expect(exclusive(x)).toBe(true);
    const dBefore = pte(t.proc.mm, a).lo & _PAGE_DIRTY;
    const c = fork(t);
    const pp = pte(t.proc.mm, a);
    const cp = pte(c.proc.mm, a);
    expect(cp.pfn).toBe(x);
    expect(pp.lo & _PAGE_RW).toBe(0);
    expect(cp.lo & _PAGE_RW).toBe(0);
    expect(pp.lo & _PAGE_ACCESSED).not.toBe(0);
    expect(cp.lo & _PAGE_ACCESSED).toBe(0);
    expect(cp.lo & _PAGE_DIRTY).toBe(dBefore);
    expect(h.k.pages.refcount[x]).toBe(2);
    expect(h.k.pages.mapcount[x]).toBe(2);
    expect(exclusive(x)).toBe(false);
    expect(c.proc.mm.rssAnon).toBe(1);
    expect(c.proc.ppid).toBe(t.proc.pid);
    validateMm(h.k, t.proc.mm);
    validateMm(h.k, c.proc.mm);
  });

  it('parent writes first: one copy; the child then reuses the original (pgreuse), moved to its anon_vma', () => {
    const t = boot();
    const a = mmap(t, P);
    write(t, a);
    store(t, a, 7);
    const x = pte(t.proc.mm, a).pfn;
    const c = fork(t);
    const k = h.k;
    write(t, a);
    const x2 = pte(t.proc.mm, a).pfn;
    expect(x2).not.toBe(x);
    expect(exclusive(x2)).toBe(true);
    expect(load(t, a)).toBe(7);
    expect([k.pages.refcount[x], k.pages.mapcount[x]]).toEqual([1, 1]);
    expect(t.proc.mm.cowFaults).toBe(1);
    write(c, a);
    expect(pte(c.proc.mm, a).pfn).toBe(x);
    expect(c.proc.mm.cowFaults).toBe(0);
    expect(c.proc.mm.pgreuse).toBe(1);
    expect(exclusive(x)).toBe(true);
    expect(k.pages.rmapOwner[x]).toBe(c.proc.mm.vmas.find(a)!.anonVma!.id);
    expect(k.events.cowFaults).toBe(1);
    store(c, a, 9);
    expect([load(t, a), load(c, a)]).toEqual([7, 9]);
  });

  it('child writes first: the child copies, the parent reuses', () => {
    const t = boot();
    const a = mmap(t, P);
    write(t, a);
    const x = pte(t.proc.mm, a).pfn;
    const c = fork(t);
    write(c, a);
    expect(pte(c.proc.mm, a).pfn).not.toBe(x);
    write(t, a);
    expect(pte(t.proc.mm, a).pfn).toBe(x);
    expect([c.proc.mm.cowFaults, t.proc.mm.pgreuse]).toEqual([1, 1]);
  });

  it('splits Pss and moves pages from Private_* to Shared_* in both', () => {
    const t = boot();
    const a = mmap(t, 4 * P);
    for (let i = 0; i < 4; i++) write(t, a + i * P);
    expect(smaps(t.proc.mm, a)).toMatchObject({ Rss: 16, Pss: 16, Private_Dirty: 16, Shared_Dirty: 0 });
    const c = fork(t);
    for (const mm of [t.proc.mm, c.proc.mm]) expect(smaps(mm, a)).toMatchObject({ Rss: 16, Pss: 8, Private_Dirty: 0, Shared_Dirty: 16 });
    write(t, a);
    expect(smaps(t.proc.mm, a)).toMatchObject({ Rss: 16, Pss: 10, Private_Dirty: 4, Shared_Dirty: 12 });
    expect(smaps(c.proc.mm, a)).toMatchObject({ Rss: 16, Pss: 10, Private_Dirty: 4, Shared_Dirty: 12 });
  });
});

describe('fork: which VMAs are copied (vma_needs_copy) and how', () => {
  it('the zero page is copied with no count; an untouched anonymous VMA is not copied', () => {
    const t = boot();
    const a = mmap(t, 2 * P);
    write(t, a);
    read(t, a + P);
    const b = mmap(t, P, U.PROT_READ); // not merged with a
    read(t, b); // the zero page, but no anon_vma: nothing to copy
    const z = h.k.pages.zeroPfn;
    const c = fork(t);
    expect(pte(c.proc.mm, a + P).pfn).toBe(z);
    expect(mapped(c.proc.mm, b)).toBe(false);
    expect(c.proc.mm.rssAnon).toBe(1);
    write(c, a + P);
    expect(pte(c.proc.mm, a + P).pfn).not.toBe(z);
  });

  it('soft-dirty is kept in the child, A is cleared, and the child\'s high-water marks start at what it has', () => {
    const t = boot();
    const a = mmap(t, 3 * P);
    for (let i = 0; i < 3; i++) write(t, a + i * P);
    expect(pte(t.proc.mm, a).lo & _PAGE_SOFT_DIRTY).not.toBe(0);
    const c = fork(t);
    expect(pte(c.proc.mm, a).lo & _PAGE_SOFT_DIRTY).not.toBe(0);
    expect(c.proc.mm.hiwaterRss).toBe(3);
    expect(c.proc.mm.hiwaterVm).toBe(c.proc.mm.totalVm);
  });

  it('a reference page\'s special PTEs are copied with no count; its pages copied on write stay shared', () => {
    const t = boot();
    const src = mmap(t, P);
    write(t, src);
    store(t, src, 0x5a);
    const fd = h.call(t, U.SYS_refpage_create, src, 1, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    const r = mmap(t, 2 * P, RW, U.MAP_PRIVATE, fd);
    read(t, r);
    write(t, r + P); // a private copy: the VMA has an anon_vma, so fork copies its tables
    const ref = pte(t.proc.mm, r).pfn;
    const refcount = h.k.pages.refcount[ref];
    const c = fork(t);
    expect(pte(c.proc.mm, r).pfn).toBe(ref);
    expect(h.k.pages.refcount[ref]).toBe(refcount);
    expect(h.k.pages.mapcount[pte(c.proc.mm, r + P).pfn]).toBe(2);
    write(c, r);
    expect(load(c, r)).toBe(0x5a);
    expect(load(t, r)).toBe(0x5a);
  });

  it('MAP_SHARED memory is not copied: the child faults the same page in', () => {
    const t = boot();
    const s = mmap(t, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS);
    write(t, s);
    store(t, s, 5);
    const c = fork(t);
    expect(mapped(c.proc.mm, s)).toBe(false);
    expect(smaps(c.proc.mm, s).Rss).toBe(0);
    read(c, s);
    expect(pte(c.proc.mm, s).pfn).toBe(pte(t.proc.mm, s).pfn);
    expect(load(c, s)).toBe(5);
    write(c, s);
    store(c, s, 6);
    expect(load(t, s)).toBe(6);
  });

  it('a private file mapping: not copied until written, then copied whole (its page-cache pages too)', () => {
    const t = boot();
    const fd = memfd(t);
    const f = mmap(t, 2 * P, RW, U.MAP_PRIVATE, fd);
    read(t, f);
    read(t, f + P);
    const c1 = fork(t);
    expect(mapped(c1.proc.mm, f)).toBe(false);
    write(t, f); // a COW copy: the VMA has an anon_vma now
    const c2 = fork(t);
    expect(pte(c2.proc.mm, f).pfn).toBe(pte(t.proc.mm, f).pfn);
    expect(pte(c2.proc.mm, f + P).pfn).toBe(pte(t.proc.mm, f + P).pfn);
    expect([c2.proc.mm.rssAnon, c2.proc.mm.rssShmem]).toEqual([1, 1]);
  });

  it('MADV_DONTFORK leaves a hole; MADV_WIPEONFORK gives the child zeros and the parent keeps its data', () => {
    const t = boot();
    const a = mmap(t, P);
    const b = mmap(t, P);
    write(t, a);
    write(t, b);
    store(t, b, 3);
    expect(h.call(t, U.SYS_madvise, a, P, U.MADV_DONTFORK)).toBe(0);
    expect(h.call(t, U.SYS_madvise, b, P, U.MADV_WIPEONFORK)).toBe(0);
    const c = fork(t);
    expect(c.proc.mm.vmas.find(a)).toBeNull();
    expect(c.proc.mm.vmas.find(b)).not.toBeNull();
    expect(mapped(c.proc.mm, b)).toBe(false);
    expect(load(c, b)).toBe(0);
    expect(load(t, b)).toBe(3);
    expect(c.proc.mm.totalVm).toBe(t.proc.mm.totalVm - 1 - 1 /* fork's descriptor page is shared: copied */ + 1);
    expect(h.fault(c, a, X86_PF_USER)).toMatchObject({ kind: 'exit' });
  });

  it('mlock is not inherited; limits, the break and seals are', () => {
    const t = boot();
    const a = mmap(t, P);
    expect(h.call(t, U.SYS_mlock, a, P)).toBe(0);
    expect(h.call(t, U.SYS_mseal, a, P, 0)).toBe(0);
    const brk = h.call(t, U.SYS_brk, 0);
    h.call(t, U.SYS_brk, brk + 3 * P);
    const c = fork(t);
    const v = c.proc.mm.vmas.find(a)!;
    expect(v.flags & VM_LOCKED).toBe(0);
    expect(v.sealed).toBe(true);
    expect(h.call(c, U.SYS_munmap, a, P)).toBe(-U.EPERM);
    expect(h.call(c, U.SYS_brk, 0)).toBe(brk + 3 * P);
    expect(c.proc.mm.rlimits).toEqual(t.proc.mm.rlimits);
  });

  it('the descriptor table is copied: the same open files at the same numbers, close-on-exec kept', () => {
    const t = boot();
    const fd = memfd(t);
    expect(h.call(t, U.SYS_fcntl, fd, U.F_SETFD, U.FD_CLOEXEC)).toBe(0);
    const c = fork(t);
    expect(c.proc.fds.get(fd)).toBe(t.proc.fds.get(fd));
    expect(h.call(c, U.SYS_fcntl, fd, U.F_GETFD)).toBe(U.FD_CLOEXEC);
    expect(h.call(c, U.SYS_close, fd)).toBe(0);
    expect(t.proc.fds.get(fd)).not.toBeNull();
  });
});

describe('fork: transparent huge pages', () => {
  it('shares the huge PMD; a write splits only the writer\'s PMD and copies one page', () => {
    const t = boot(64 << 20);
    h.k.thp.policy = 'always';
    const len = 4 << 20;
    const raw = mmap(t, len);
    const a = raw + ((2 << 20) - (raw % (2 << 20))) % (2 << 20);
    write(t, a);
    const head = pte(t.proc.mm, a).pfn;
    expect(pte(t.proc.mm, a).huge).toBe(true);
    const c = fork(t);
    const k = h.k;
    expect(pteLeaf(pte(c.proc.mm, a).lo) && (pte(c.proc.mm, a).lo & _PAGE_PSE) !== 0).toBe(true);
    expect([k.pages.refcount[head], k.pages.mapcount[head]]).toEqual([2, 2]);
    expect(c.proc.mm.rssAnon).toBe(512);
    write(c, a + 5 * P);
    expect(pte(c.proc.mm, a).huge).toBe(false);
    expect(pte(c.proc.mm, a + 5 * P).pfn).not.toBe(head + 5);
    expect(pte(c.proc.mm, a + 6 * P).pfn).toBe(head + 6);
    expect(pte(t.proc.mm, a).huge).toBe(true);
    expect(c.proc.mm.cowFaults).toBe(1);
    validateMm(k, t.proc.mm);
    validateMm(k, c.proc.mm);
    // The parent's PMD now maps 512 single pages: a write splits it too and reuses the page
    // the child left, copies the others.
    write(t, a + 5 * P);
    expect(pte(t.proc.mm, a + 5 * P).pfn).toBe(head + 5);
    write(t, a + 7 * P);
    expect(pte(t.proc.mm, a + 7 * P).pfn).not.toBe(head + 7);
    expect([t.proc.mm.pgreuse, t.proc.mm.cowFaults]).toEqual([1, 1]);
  });

  it('an exit in either order frees the folio', () => {
    for (const parentFirst of [true, false]) {
      const t = boot(64 << 20);
      h.k.thp.policy = 'always';
      const raw = mmap(t, 4 << 20);
      const a = raw + ((2 << 20) - (raw % (2 << 20))) % (2 << 20);
      write(t, a);
      const c = fork(t);
      write(c, a + P);
      h.syscall(parentFirst ? t : c, U.SYS_exit_group, 0);
      h.syscall(parentFirst ? c : t, U.SYS_exit_group, 0);
      h.killAll();
      expect(h.leakedFrames()).toBe(0);
    }
  });
});

describe('fork: hugetlb', () => {
  it('a private mapping shares its huge pages read-only; a write copies one from the pool', () => {
    const t = boot(64 << 20);
    h.k.hugetlb.hstates[0].setNr(h.k, 4);
    const a = mmap(t, 2 << 20, RW, ANON | U.MAP_HUGETLB);
    write(t, a);
    store(t, a, 4);
    const head = pte(t.proc.mm, a).pfn;
    const c = fork(t);
    expect(pte(c.proc.mm, a).pfn).toBe(head);
    expect(h.k.pages.mapcount[head]).toBe(2);
    write(c, a);
    expect(pte(c.proc.mm, a).pfn).not.toBe(head);
    expect(load(c, a)).toBe(4);
    write(t, a);
    expect(pte(t.proc.mm, a).pfn).toBe(head);
  });

  it('a shared mapping is not copied: the child faults the same page in', () => {
    const t = boot(64 << 20);
    h.k.hugetlb.hstates[0].setNr(h.k, 4);
    const a = mmap(t, 2 << 20, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_HUGETLB);
    write(t, a);
    const c = fork(t);
    expect(mapped(c.proc.mm, a)).toBe(false);
    read(c, a);
    expect(pte(c.proc.mm, a).pfn).toBe(pte(t.proc.mm, a).pfn);
  });

  it('a shared mapping over a whole 1 GiB: the child\'s first fault shares the parent\'s page directory', () => {
    const t = boot(64 << 20);
    h.k.hugetlb.hstates[0].setNr(h.k, 2);
    const G = 2 ** 30;
    const hole = mmap(t, 2 * G, U.PROT_NONE, ANON | U.MAP_NORESERVE);
    const a = Math.ceil(hole / G) * G;
    expect(h.call(t, U.SYS_mmap, a, G, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_HUGETLB | U.MAP_NORESERVE | U.MAP_FIXED, -1, 0)).toBe(a);
    write(t, a);
    const c = fork(t);
    const ptes = c.proc.mm.ptePages;
    read(c, a);
    expect(h.k.hugetlb.pmdShares.size).toBe(1);
    expect(pte(c.proc.mm, a).pfn).toBe(pte(t.proc.mm, a).pfn);
    expect(c.proc.mm.ptePages - ptes).toBe(1 + 1); // a PDPT of its own, plus the shared directory
  });
});

describe('fork of a forked process, and anon_vma chains (section 1.5)', () => {
  it('a grandchild links into every anon_vma of the chain; rmap reaches all three', () => {
    const t = boot();
    const a = mmap(t, P);
    write(t, a);
    const c = fork(t);
    const g = fork(c);
    const chain = (th: Thread) => th.proc.mm.vmas.find(a)!.anonVmaChain.map((av) => av.id);
    expect(chain(t)).toHaveLength(1);
    expect(chain(c)).toHaveLength(2);
    expect(chain(g)).toHaveLength(3);
    expect(chain(g)).toEqual(expect.arrayContaining(chain(c)));
    const x = pte(t.proc.mm, a).pfn;
    expect(h.k.pages.mapcount[x]).toBe(3);
    write(g, a);
    write(c, a);
    write(t, a); // the last mapper reuses it
    expect(pte(t.proc.mm, a).pfn).toBe(x);
    expect(h.k.events.cowFaults).toBe(2);
  });

  it('reuses an anon_vma no VMA owns any more (maybe_reuse_anon_vma)', () => {
    const t = boot();
    const a = mmap(t, P);
    write(t, a);
    const c = fork(t);
    const mid = c.proc.mm.vmas.find(a)!.anonVma!;
    h.syscall(c, U.SYS_exit_group, 0);
    expect(h.call(t, U.SYS_wait4, -1, 0, 0, 0)).toBe(c.proc.pid);
    const c2 = fork(t);
    // The first child's anon_vma went with it; the second gets a new one of its own.
    expect(h.k.rmap.anonVmas.has(mid.id)).toBe(false);
    expect(c2.proc.mm.vmas.find(a)!.anonVmaChain).toHaveLength(2);
  });
});

describe('clone: flags, vfork and CLONE_VM', () => {
  it('refuses the combinations Linux refuses, with EINVAL', () => {
    const t = boot();
    for (const f of [U.CLONE_THREAD | U.CLONE_VM, U.CLONE_SIGHAND, U.CLONE_SIGHAND | U.CLONE_THREAD, U.CLONE_NEWNS | U.CLONE_FS,
      U.CLONE_NEWUSER | U.CLONE_FS, U.CLONE_PIDFD | U.CLONE_DETACHED]) {
      expect(clone(t, f | U.SIGCHLD)).toEqual({ kind: 'return', value: -U.EINVAL });
    }
    expect(h.kernel.tasks.procs.size).toBe(1);
  });

  it('fork and vfork by number are ENOSYS', () => {
    const t = boot();
    expect(h.call(t, U.SYS_fork)).toBe(-U.ENOSYS);
    expect(h.call(t, U.SYS_vfork)).toBe(-U.ENOSYS);
  });

  it('vfork: the child shares the address space and the parent waits until it exits', () => {
    const t = boot();
    const a = mmap(t, P);
    write(t, a);
    expect(clone(t, U.VFORK_FLAGS)).toEqual({ kind: 'blocked' });
    const child = [...h.kernel.tasks.procs.values()].find((p) => p.pid !== t.proc.pid)!;
    expect(child.mm).toBe(t.proc.mm);
    const ct = child.threads.get(child.pid)!;
    store(ct, a, 42);
    h.syscall(ct, U.SYS_exit_group, 5);
    // The clone answers with the child's pid once it is gone; the memory stays.
    expect(h.kernel.tasks.cpuThread[t.cpu]?.blocked).toBeNull();
    expect(load(t, a)).toBe(42);
    const st = mmap(t, P);
    expect(h.call(t, U.SYS_wait4, child.pid, st, 0, 0)).toBe(child.pid);
    expect(U.WEXITSTATUS(new DataView((copyFromUser(h.k, t.proc.mm, st, 4, -1) as Uint8Array).buffer).getInt32(0, true))).toBe(5);
  });

  it('CLONE_VM without CLONE_VFORK: the mm lives until its last user exits', () => {
    const t = boot();
    const a = mmap(t, P);
    write(t, a);
    const r = clone(t, U.CLONE_VM | U.SIGCHLD);
    const child = h.kernel.tasks.procs.get((r as { value: number }).value)!;
    expect(child.mm).toBe(t.proc.mm);
    h.syscall(t, U.SYS_exit_group, 0);
    const ct = child.threads.get(child.pid)!;
    store(ct, a, 1);
    expect(load(ct, a)).toBe(1);
  });

  it('CLONE_FILES shares the table: a close in the child closes it for the parent', () => {
    const t = boot();
    const fd = memfd(t);
    const r = clone(t, U.CLONE_FILES | U.SIGCHLD);
    const child = h.kernel.tasks.procs.get((r as { value: number }).value)!;
    expect(h.call(child.threads.get(child.pid)!, U.SYS_close, fd)).toBe(0);
    expect(t.proc.fds.get(fd)).toBeNull();
  });
});

describe('fork: failure and frames', () => {
  it('a fork that runs out of frames fails with ENOMEM at every allocation, and leaks nothing', () => {
    const t = boot();
    h.k.thp.policy = 'always';
    const a = mmap(t, 8 << 20);
    for (let va = a; va < a + (8 << 20); va += 64 * P) write(t, va);
    const d = h.cloneDesc(t);
    let failures = 0;
    for (let n = 1; ; n++) {
      h.k.pages.fail.nth = n;
      const r = h.syscall(t, U.SYS_clone, U.FORK_FLAGS, ...d);
      h.k.pages.fail.nth = 0;
      if (r.kind === 'return' && r.value > 0) break;
      expect(r).toEqual({ kind: 'return', value: -U.ENOMEM });
      validateMm(h.k, t.proc.mm);
      failures++;
    }
    expect(failures).toBeGreaterThan(3);
    expect(h.kernel.tasks.procs.size).toBe(2);
  });

  it('frees every frame whatever the order of exits and kills across three generations', () => {
    const orders = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [1, 2, 0]];
    for (const order of orders) {
      const t = boot();
      const a = mmap(t, 16 * P);
      for (let i = 0; i < 16; i++) write(t, a + i * P);
      const c = fork(t);
      for (let i = 0; i < 16; i += 2) write(c, a + i * P);
      const g = fork(c);
      for (let i = 0; i < 16; i += 3) write(g, a + i * P);
      const ths = [t, c, g];
      for (const i of order) {
        if (i === 1) h.syscall(ths[i], U.SYS_kill, ths[i].proc.pid, U.SIGKILL);
        else h.syscall(ths[i], U.SYS_exit_group, 0);
        for (const x of ths) if (x.proc.state === 'live') validateMm(h.k, x.proc.mm);
      }
      h.killAll();
      expect(h.leakedFrames()).toBe(0);
    }
  });
});

/** A memfd of two pages in t; its descriptor. */
function memfd(t: Thread): number {
  const name = new TextEncoder().encode('f\0');
  const va = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
  copyToUser(h.k, t.proc.mm, va, name, -1);
  const fd = h.call(t, U.SYS_memfd_create, va, 0);
  expect(h.call(t, U.SYS_ftruncate, fd, 2 * P)).toBe(0);
  return fd;
}

describe('wait4 from several threads', () => {
  it('a thread waiting for any child gets ECHILD once a sibling thread reaps the last one', () => {
    const t = boot();
    const a = clone(t, U.CLONE_THREAD_FLAGS);
    if (a.kind !== 'return') throw new Error(JSON.stringify(a));
    const sib = t.proc.threads.get(a.value)!;
    const c = fork(t);
    // Both wait: the main thread for c, its sibling for any child.
    expect(h.startSyscall(t, U.SYS_wait4, c.proc.pid, 0, 0, 0)).toEqual({ kind: 'blocked' });
    expect(h.startSyscall(sib, U.SYS_wait4, -1, 0, 0, 0)).toEqual({ kind: 'blocked' });
    h.syscall(c, U.SYS_exit_group, 0);
    h.pump();
    expect(h.answer(t)).toEqual({ kind: 'return', value: c.proc.pid });
    expect(h.answer(sib)).toEqual({ kind: 'return', value: -U.ECHILD });
  });
});
