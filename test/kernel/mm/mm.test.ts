// Kernel memory management driven directly, without threads (like tools/testing/vma).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FAULT_DONE, FAULT_SEGV_ACCERR, FAULT_SEGV_MAPERR, handleMmFault } from '../../../kernel/mm/fault.ts';
import { Kmm } from '../../../kernel/mm/kmm.ts';
import { sysMadvise } from '../../../kernel/mm/madvise.ts';
import { pteWord } from '../../../kernel/mm/memory.ts';
import { sysMlock, sysMlockall } from '../../../kernel/mm/mlock.ts';
import { type Mm, mmAlloc, USER_TOP } from '../../../kernel/mm/mm.ts';
import { VM_LOCKED, VM_RAND_READ } from '../../../kernel/mm/mm_types.ts';
import { sysBrk, sysMmap } from '../../../kernel/mm/mmap.ts';
import { finishGather, Gather, releaseDeferred } from '../../../kernel/mm/mmu_gather.ts';
import { sysMprotect } from '../../../kernel/mm/mprotect.ts';
import { sysMremap } from '../../../kernel/mm/mremap.ts';
import { sysMseal } from '../../../kernel/mm/mseal.ts';
import { exitMmap } from '../../../kernel/mm/exit_mmap.ts';
import { sysMunmap } from '../../../kernel/mm/munmap.ts';
import { allocPages, GFP_KERNEL, MAX_ORDER, PageAllocator } from '../../../kernel/mm/page_alloc.ts';
import { forEachPte } from '../../../kernel/mm/pagewalk.ts';
import { STACK_GUARD_GAP } from '../../../kernel/mm/unmapped_area.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import * as U from '../../../kernel/uapi.ts';
import {
    CPU_IDLE, CPU_OFFLINE, CPU_STATE, CPU_USER, cpuI32Base, IPI_PENDING, PhysMem, ptePfn, readKernelCounters,
    X86_PF_USER, X86_PF_WRITE,
} from '../../../machine/index.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const R = X86_PF_USER;
const W = X86_PF_USER | X86_PF_WRITE;

function world(bytes = 32 << 20) {
  const k = memoryWorld(bytes, 1).k;
  const boot = k.pages.nrFree;
  const mm = newMm(k);
  return { k, mm, boot };
}

/** Free everything mm holds, its PML4 too (exit_mmap). */
function exitMm(k: Kmm, mm: Mm): void {
  exitMmap(k, mm);
}

describe('page allocator', () => {
  it('splits and merges buddies back to the boot state', () => {
    const pa = new PageAllocator(PhysMem.create(16 << 20));
    const before = pa.buddyInfo();
    const free0 = pa.nrFree;
    const got: [number, number][] = [];
    for (let i = 0; i < 300; i++) {
      const order = i % 4;
      const pfn = pa.takeBlock(order);
      expect(pfn % (1 << order)).toBe(0);
      got.push([pfn, order]);
    }
    expect(pa.nrFree).toBe(free0 - got.reduce((s, [, o]) => s + (1 << o), 0));
    for (const [pfn, order] of got.reverse()) pa.freePages(pfn, order);
    expect(pa.nrFree).toBe(free0);
    expect(pa.buddyInfo()).toEqual(before);
  });

  it('runs out cleanly and never hands out a frame twice', () => {
    const pa = new PageAllocator(PhysMem.create(1 << 20));
    const seen = new Set<number>();
    for (;;) {
      const pfn = pa.takeBlock(0);
      if (pfn < 0) break;
      expect(seen.has(pfn)).toBe(false);
      seen.add(pfn);
    }
    expect(pa.nrFree).toBe(0);
    expect(seen.size).toBe(256 - 2); // frame 0 is reserved, one is the zero page
    expect(pa.takeBlock(MAX_ORDER)).toBe(-1);
  });

  it('keeps its packed links right above 2^16 frames, up to the 2^20 frames of 4 GiB', () => {
    const pa = new PageAllocator(PhysMem.create(2 ** 32));
    const before = pa.buddyInfo();
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const held = new Map<number, number>();
    const taken = new Uint8Array(pa.nrFrames);
    for (let i = 0; i < 20_000; i++) {
      if (held.size > 0 && rnd(3) === 0) {
        const pfn = held.keys().next().value!;
        const order = held.get(pfn)!;
        held.delete(pfn);
        taken.fill(0, pfn, pfn + (1 << order));
        pa.freePages(pfn, order);
        continue;
      }
      const order = rnd(10);
      const pfn = pa.takeBlock(order);
      expect(pfn % (1 << order)).toBe(0);
      expect(pa.orderOf(pfn)).toBe(order);
      for (let f = pfn; f < pfn + (1 << order); f++) {
        if (taken[f] !== 0) expect.fail(`frame ${f} handed out twice`);
        taken[f] = 1;
      }
      held.set(pfn, order);
    }
    expect(Math.max(...held.keys())).toBeGreaterThan(2 ** 19);
    for (const [pfn, order] of held) pa.freePages(pfn, order);
    expect(pa.buddyInfo()).toEqual(before);
  });

  it('fails the Nth allocation (fail-nth), or every one after N, and names the site', () => {
    const k = memoryWorld(4 << 20, 1).k;
    k.pages.fail.nth = 3;
    expect([allocPages(k, 0, GFP_KERNEL), allocPages(k, 0, GFP_KERNEL), allocPages(k, 0, GFP_KERNEL), allocPages(k, 0, GFP_KERNEL)].map((p) => p >= 0)).toEqual([true, true, false, true]);
    k.pages.fail.after = 1;
    expect(allocPages(k, 0, GFP_KERNEL)).toBeGreaterThan(0);
    expect(allocPages(k, 0, GFP_KERNEL)).toBe(-1);
    expect(allocPages(k, 0, GFP_KERNEL)).toBe(-1);
    k.pages.fail.after = -1;
    expect(mmAlloc(k)).toBeInstanceOf(Object);
    k.pages.fail.nth = 1;
    expect(mmAlloc(k)).toBe(-U.ENOMEM);
    expect(k.pages.fail.sites.get('mmAlloc')).toBe(1);
  });

  it('keeps at most 24 bytes of metadata per frame', () => {
    expect(new PageAllocator(PhysMem.create(8 << 20)).metadataBytesPerFrame).toBeLessThanOrEqual(24);
  });
});

describe('anonymous faults', () => {
  it('maps the zero page on a read, a zeroed frame on a write, and copies away from the zero page', () => {
    const { k, mm } = world();
    const p = sysMmap(k, mm, 0, 3 * 4096, RW, ANON, -1, 0, -1);
    const free = k.pages.nrFree;
    expect(handleMmFault(k, mm, p, R, -1)).toBe(FAULT_DONE);
    expect(k.pages.nrFree).toBe(free - 3); // PDPT, PD, PT; no data frame
    expect(mm.rssAnon).toBe(0);
    expect(handleMmFault(k, mm, p, W, -1)).toBe(FAULT_DONE); // write to the zero page: COW
    expect(mm.rssAnon).toBe(1);
    expect(handleMmFault(k, mm, p + 4096, W, -1)).toBe(FAULT_DONE);
    expect(mm.rssAnon).toBe(2);
    validateMm(k, mm);
  });

  it('gives MAPERR outside every VMA and ACCERR against the VMA rights', () => {
    const { k, mm } = world();
    const p = sysMmap(k, mm, 0, 4096, U.PROT_READ, ANON, -1, 0, -1);
    expect(handleMmFault(k, mm, p + 4096, R, -1)).toBe(FAULT_SEGV_MAPERR);
    expect(handleMmFault(k, mm, p, W, -1)).toBe(FAULT_SEGV_ACCERR);
    expect(sysMprotect(k, mm, p, 4096, U.PROT_NONE, -1)).toBe(0);
    expect(handleMmFault(k, mm, p, R, -1)).toBe(FAULT_SEGV_ACCERR);
  });
});

describe('mmap, munmap, mprotect', () => {
  it('follow the error rules of the reference', () => {
    const { k, mm } = world();
    const mmap = (addr: number, len: number, prot: number, flags: number, fd = -1, off = 0) => sysMmap(k, mm, addr, len, prot, flags, fd, off, -1);
    expect(mmap(0, 4096, RW, ANON, -1, 1)).toBe(-U.EINVAL); // offset before everything
    expect(mmap(0, 4096, RW, U.MAP_PRIVATE, 7)).toBe(-U.EBADF); // fd before len
    expect(mmap(0, 0, RW, ANON)).toBe(-U.EINVAL);
    expect(mmap(0, 2 ** 64, RW, ANON)).toBe(-U.ENOMEM);
    expect(mmap(0, 2 ** 47, RW, ANON)).toBe(-U.ENOMEM);
    expect(mmap(0, 4096, RW, U.MAP_SHARED_VALIDATE | U.MAP_ANONYMOUS)).toBe(-U.EINVAL);
    expect(mmap(0, 4096, RW, U.MAP_ANONYMOUS)).toBe(-U.EINVAL);
    expect(mmap(0, 4096, RW, ANON | U.MAP_FIXED)).toBe(-U.EPERM); // below mmap_min_addr
    const p = mmap(0x10000000, 4096, RW, ANON | U.MAP_FIXED_NOREPLACE);
    expect(p).toBe(0x10000000);
    expect(mmap(0x10000000, 4096, RW, ANON | U.MAP_FIXED_NOREPLACE)).toBe(-U.EEXIST);
    expect(mmap(0x10000000, 4096, RW, ANON)).not.toBe(0x10000000); // a hint, taken: elsewhere
    expect(sysMunmap(k, mm, p + 1, 4096, -1)).toBe(-U.EINVAL);
    expect(sysMunmap(k, mm, p, 0, -1)).toBe(-U.EINVAL);
    expect(sysMunmap(k, mm, 0x50000000, 4096, -1)).toBe(0); // nothing there: success
    expect(sysMprotect(k, mm, p + 1, 0, U.PROT_READ, -1)).toBe(-U.EINVAL); // alignment before len 0
    expect(sysMprotect(k, mm, 0x50000000, 0, U.PROT_READ, -1)).toBe(0);
    expect(sysMprotect(k, mm, p, 4096, 0x10, -1)).toBe(-U.EINVAL);
    expect(sysMprotect(k, mm, 0x50000000, 4096, U.PROT_READ, -1)).toBe(-U.ENOMEM);
    expect(sysMprotect(k, mm, p, 4096, U.PROT_READ | U.PROT_GROWSDOWN | U.PROT_GROWSUP, -1)).toBe(-U.EINVAL);
    validateMm(k, mm);
  });

  it('splits and merges VMAs, applies mprotect up to a hole, and frees page tables with the last mapping', () => {
    const { k, mm, boot } = world();
    const base = 0x20000000;
    expect(sysMmap(k, mm, base, 8 * 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(base);
    for (let i = 0; i < 8; i++) expect(handleMmFault(k, mm, base + i * 4096, W, -1)).toBe(FAULT_DONE);
    expect(sysMunmap(k, mm, base + 4 * 4096, 4096, -1)).toBe(0);
    expect(mm.vmas.count).toBe(2);
    // [0,4) and [5,8) with a hole at 4: mprotect of [0,8) changes [0,4), then ENOMEM.
    expect(sysMprotect(k, mm, base, 8 * 4096, U.PROT_READ, -1)).toBe(-U.ENOMEM);
    expect(mm.vmas.all().map((v) => [v.start - base, v.end - base, v.flags & 7])).toEqual([[0, 4 * 4096, 1], [5 * 4096, 8 * 4096, 3]]);
    expect(handleMmFault(k, mm, base, W, -1)).toBe(FAULT_SEGV_ACCERR);
    expect(sysMprotect(k, mm, base, 4 * 4096, RW, -1)).toBe(0);
    expect(handleMmFault(k, mm, base, W, -1)).toBe(FAULT_DONE); // write fault regains RW on the same page
    expect(mm.rssAnon).toBe(7);
    validateMm(k, mm);
    expect(sysMunmap(k, mm, base, 8 * 4096, -1)).toBe(0);
    expect(mm.vmas.count).toBe(0);
    expect(mm.rssAnon).toBe(0);
    expect(mm.ptePages).toBe(0);
    validateMm(k, mm);
    exitMm(k, mm);
    expect(k.pages.nrFree).toBe(boot);
  });

  it('keeps its invariants on random operation sequences and frees everything at exit', () => {
    const base = 0x40000000;
    const op = fc.record({
      kind: fc.constantFrom('mmap', 'fixed', 'munmap', 'mprotect', 'read', 'write', 'shared', 'madvise'),
      advice: fc.constantFrom(U.MADV_DONTNEED, U.MADV_FREE, U.MADV_RANDOM, U.MADV_NORMAL, U.MADV_POPULATE_WRITE, U.MADV_POPULATE_READ, U.MADV_REMOVE, U.MADV_DONTFORK),
      page: fc.nat(1023),
      pages: fc.integer({ min: 1, max: 700 }),
      prot: fc.constantFrom(U.PROT_NONE, U.PROT_READ, RW),
    });
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const { k, mm, boot } = world();
      for (const o of ops) {
        const at = base + o.page * 4096;
        const len = o.pages * 4096;
        if (o.kind === 'mmap') sysMmap(k, mm, 0, len, o.prot, ANON, -1, 0, -1);
        else if (o.kind === 'fixed') sysMmap(k, mm, at, len, o.prot, ANON | U.MAP_FIXED, -1, 0, -1);
        else if (o.kind === 'shared') sysMmap(k, mm, at, len, o.prot, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0, -1);
        else if (o.kind === 'munmap') expect(sysMunmap(k, mm, at, len, -1)).toBe(0);
        else if (o.kind === 'mprotect') sysMprotect(k, mm, at, len, o.prot, -1);
        else if (o.kind === 'madvise') sysMadvise(k, mm, at, len, o.advice, -1);
        else for (let i = 0; i < Math.min(o.pages, 40); i++) handleMmFault(k, mm, at + i * 4096, o.kind === 'write' ? W : R, -1);
        validateMm(k, mm);
      }
      let mapped = 0;
      forEachPte(k, mm, 0, USER_TOP, () => mapped++);
      expect(mapped).toBeGreaterThanOrEqual(mm.rss());
      exitMm(k, mm);
      expect(k.pages.nrFree).toBe(boot);
    }), { numRuns: 60 });
  });
});

describe('get_unmapped_area', () => {
  const mmapIn = (k: Kmm, mm: Mm) => (addr: number, len: number, flags = ANON, prot = RW) => sysMmap(k, mm, addr, len, prot, flags, -1, 0, -1);

  it('places consecutive mappings right below each other (they merge) and aligns 2 MiB multiples', () => {
    const { k, mm } = world();
    const mmap = mmapIn(k, mm);
    const a = mmap(0, 4096);
    const b = mmap(0, 4096);
    expect(b).toBe(a - 4096);
    expect(mm.vmas.count).toBe(1);
    const huge = mmap(0, 4 << 20);
    expect(huge % (2 << 20)).toBe(0);
    expect(huge + (4 << 20)).toBeLessThanOrEqual(b);
    const odd = mmap(0, (2 << 20) + 4096);
    expect(odd % (2 << 20)).not.toBe(0);
    validateMm(k, mm);
  });

  it('uses a free hint rounded down to a page, and ignores a taken or too-low one', () => {
    const { k, mm } = world();
    const mmap = mmapIn(k, mm);
    expect(mmap(0x10000001, 4096)).toBe(0x10000000);
    expect(mmap(0x10000000, 4096)).not.toBe(0x10000000);
    expect(mmap(0x1000, 4096)).toBe(0x1000); // mmap_min_addr itself is allowed
    expect(mmap(0x800, 4096)).not.toBeLessThan(U.MMAP_MIN_ADDR);
    // MAP_32BIT searches bottom-up from 1 GiB (the host, without randomization, gives 1 GiB).
    const low = mmap(0, 4096, ANON | U.MAP_32BIT);
    expect(low).toBe(2 ** 30);
  });

  it('keeps the stack guard gap below a MAP_GROWSDOWN mapping', () => {
    const { k, mm } = world();
    const mmap = mmapIn(k, mm);
    const stack = mmap(0x7000_0000_0000, 16 * 4096, ANON | U.MAP_GROWSDOWN | U.MAP_FIXED);
    // A hint right below the stack falls inside its guard gap: not taken.
    expect(mmap(stack - 4096, 4096)).not.toBe(stack - 4096);
    expect(mmap(stack - STACK_GUARD_GAP - 4096, 4096)).toBe(stack - STACK_GUARD_GAP - 4096);
    // Top-down search just under a stack leaves the gap too.
    const { k: k2, mm: mm2 } = world();
    mm2.mmapBase = 0x7000_0000_0000 + 16 * 4096;
    const stack2 = sysMmap(k2, mm2, 0x7000_0000_0000, 16 * 4096, RW, ANON | U.MAP_GROWSDOWN | U.MAP_FIXED, -1, 0, -1);
    const below = sysMmap(k2, mm2, 0, 4096, RW, ANON, -1, 0, -1);
    expect(below + 4096).toBe(stack2 - STACK_GUARD_GAP);
  });
});

describe('madvise', () => {
  const setup = () => {
    const { k, mm } = world();
    const base = 0x30000000;
    expect(sysMmap(k, mm, base, 8 * 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(base);
    const adv = (start: number, len: number, advice: number) => sysMadvise(k, mm, start, len, advice, -1);
    return { k, mm, base, adv };
  };

  it('checks alignment and advice before len 0, then wrap-around', () => {
    const { adv, base } = setup();
    expect(adv(base + 1, 0, U.MADV_NORMAL)).toBe(-U.EINVAL);
    expect(adv(base, 0, 5)).toBe(-U.EINVAL);
    expect(adv(base, 0, U.MADV_DONTNEED)).toBe(0);
    expect(adv(base, 2 ** 64, U.MADV_NORMAL)).toBe(-U.EINVAL);
    expect(adv(base, 4096, U.MADV_HWPOISON)).toBe(-U.EPERM);
  });

  it('applies advice to the mapped part and returns ENOMEM for the hole (RANDOM splits the VMA)', () => {
    const { adv, base, mm, k } = setup();
    expect(adv(base + 6 * 4096, 4 * 4096, U.MADV_RANDOM)).toBe(-U.ENOMEM);
    expect(mm.vmas.all().map((v) => [(v.start - base) / 4096, (v.end - base) / 4096, (v.flags & VM_RAND_READ) !== 0])).toEqual([[0, 6, false], [6, 8, true]]);
    expect(adv(base + 6 * 4096, 2 * 4096, U.MADV_NORMAL)).toBe(0);
    expect(mm.vmas.count).toBe(1); // merged back
    validateMm(k, mm);
  });

  it('DONTNEED drops private pages (zero again) but shared anonymous memory keeps its data', () => {
    const { k, mm, base, adv } = setup();
    expect(handleMmFault(k, mm, base, W, -1)).toBe(FAULT_DONE);
    expect(mm.rssAnon).toBe(1);
    expect(adv(base, 4096, U.MADV_DONTNEED)).toBe(0);
    expect(mm.rssAnon).toBe(0);
    const shared = sysMmap(k, mm, 0, 4096, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0, -1);
    expect(handleMmFault(k, mm, shared, W, -1)).toBe(FAULT_DONE);
    const vma = mm.vmas.find(shared)!;
    const pfn = vma.mapping!.pages.load(vma.pgoff);
    k.mem.u8[pfn * 4096] = 42;
    expect(adv(shared, 4096, U.MADV_DONTNEED)).toBe(0);
    expect(mm.rssShmem).toBe(0);
    expect(handleMmFault(k, mm, shared, R, -1)).toBe(FAULT_DONE);
    expect(vma.mapping!.pages.load(vma.pgoff)).toBe(pfn);
    expect(k.mem.u8[pfn * 4096]).toBe(42);
    expect(adv(shared, 4096, U.MADV_FREE)).toBe(-U.EINVAL);
    expect(adv(shared, 4096, U.MADV_WIPEONFORK)).toBe(-U.EINVAL);
    expect(adv(base, 4096, U.MADV_REMOVE)).toBe(-U.EINVAL);
    expect(adv(shared, 4096, U.MADV_REMOVE)).toBe(0);
    expect(vma.mapping!.pages.size).toBe(0);
    validateMm(k, mm);
  });

  it('POPULATE_READ/WRITE fault pages in and report what a touch would', () => {
    const { k, mm, base, adv } = setup();
    expect(adv(base, 8 * 4096, U.MADV_POPULATE_WRITE)).toBe(0);
    expect(mm.rssAnon).toBe(8);
    expect(sysMprotect(k, mm, base, 4096, U.PROT_READ, -1)).toBe(0);
    expect(adv(base, 4096, U.MADV_POPULATE_WRITE)).toBe(-U.EINVAL);
    expect(sysMprotect(k, mm, base, 4096, U.PROT_NONE, -1)).toBe(0);
    expect(adv(base, 4096, U.MADV_POPULATE_READ)).toBe(-U.EINVAL);
    expect(adv(base + 8 * 4096, 4096, U.MADV_POPULATE_READ)).toBe(-U.ENOMEM);
    const locked = sysMmap(k, mm, 0, 4096, RW, ANON | U.MAP_LOCKED, -1, 0, -1);
    expect(mm.rssAnon).toBe(9); // MAP_LOCKED populates
    expect(adv(locked, 4096, U.MADV_DONTNEED)).toBe(-U.EINVAL);
    expect(adv(locked, 4096, U.MADV_DONTNEED_LOCKED)).toBe(0);
    expect(mm.rssAnon).toBe(8);
    validateMm(k, mm);
  });
});

describe('brk', () => {
  it('returns the break it reaches, stores the unaligned value, and refuses without an errno', () => {
    const { k, mm, boot } = world();
    const start = sysBrk(k, mm, 0, -1);
    expect(start).toBe(mm.startBrk);
    expect(sysBrk(k, mm, 1, -1)).toBe(start); // below start_brk: the current break
    expect(sysBrk(k, mm, start + 1, -1)).toBe(start + 1);
    expect(mm.vmas.all().map((v) => [v.start - start, v.end - start])).toEqual([[0, 4096]]);
    expect(sysBrk(k, mm, start + 3 * 4096, -1)).toBe(start + 3 * 4096);
    expect(mm.vmas.count).toBe(1); // grown in place
    expect(handleMmFault(k, mm, start + 2 * 4096, W, -1)).toBe(FAULT_DONE);
    // LTP brk02: mprotect part of the heap (a split), then shrink back over both parts.
    expect(sysMprotect(k, mm, start + 4096, 2 * 4096, U.PROT_READ, -1)).toBe(0);
    expect(mm.vmas.count).toBe(2);
    expect(sysBrk(k, mm, start, -1)).toBe(start);
    expect(mm.vmas.count).toBe(0);
    // Growing into another mapping (less one page of room) fails: the old break comes back.
    expect(sysMmap(k, mm, start + 8 * 4096, 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(start + 8 * 4096);
    expect(sysBrk(k, mm, start + 7 * 4096 + 1, -1)).toBe(start);
    expect(sysBrk(k, mm, start + 7 * 4096, -1)).toBe(start + 7 * 4096);
    validateMm(k, mm);
    exitMm(k, mm);
    expect(k.pages.nrFree).toBe(boot);
  });
});

describe('mseal', () => {
  it('blocks munmap (leaving Linux\'s split), MAP_FIXED and mprotect; needs the whole range mapped', () => {
    const { k, mm } = world();
    const b = 0x30000000;
    const pg = (i: number) => b + i * 4096;
    expect(sysMmap(k, mm, pg(0), 2 * 4096, U.PROT_READ, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(pg(0));
    expect(sysMmap(k, mm, pg(2), 3 * 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(pg(2));
    expect(sysMseal(k, mm, pg(3), 4096, 1)).toBe(-U.EINVAL);
    expect(sysMseal(k, mm, pg(4), 2 * 4096, 0)).toBe(-U.ENOMEM); // runs past the end: nothing sealed
    expect(mm.vmas.all().some((v) => v.sealed)).toBe(false);
    expect(sysMseal(k, mm, pg(3), 4096, 0)).toBe(0);
    expect(sysMseal(k, mm, pg(3), 4096, 0)).toBe(0); // idempotent
    const layout = () => mm.vmas.all().map((v) => [(v.start - b) / 4096, (v.end - b) / 4096, v.sealed]);
    expect(layout()).toEqual([[0, 2, false], [2, 3, false], [3, 4, true], [4, 5, false]]);
    // munmap [1, 5) touches the sealed page: EPERM, nothing removed, but [0, 2) is split at 1.
    expect(sysMunmap(k, mm, pg(1), 4 * 4096, -1)).toBe(-U.EPERM);
    expect(layout()).toEqual([[0, 1, false], [1, 2, false], [2, 3, false], [3, 4, true], [4, 5, false]]);
    expect(sysMmap(k, mm, pg(3), 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(-U.EPERM);
    // mprotect [2, 5): page 2 changes, then the sealed page stops it.
    expect(sysMprotect(k, mm, pg(2), 3 * 4096, U.PROT_READ, -1)).toBe(-U.EPERM);
    expect(mm.vmas.find(pg(2))!.flags & 3).toBe(1);
    expect(mm.vmas.find(pg(4))!.flags & 3).toBe(3);
    expect(sysMadvise(k, mm, pg(3), 4096, U.MADV_DONTNEED, -1)).toBe(0); // writable: allowed
    validateMm(k, mm);
  });
});

describe('mlock', () => {
  it('locks and populates, splits VMAs, reports holes, and mlockall(MCL_FUTURE) locks new mappings', () => {
    const { k, mm } = world();
    const b = 0x30000000;
    expect(sysMmap(k, mm, b, 8 * 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(b);
    expect(sysMlock(k, mm, b + 4096 + 123, 4096, VM_LOCKED, -1)).toBe(0); // rounds to pages 1..2
    expect(mm.vmas.all().map((v) => [(v.start - b) / 4096, (v.end - b) / 4096, (v.flags & VM_LOCKED) !== 0])).toEqual([[0, 1, false], [1, 3, true], [3, 8, false]]);
    expect(mm.rssAnon).toBe(2);
    expect(sysMlock(k, mm, b + 7 * 4096, 2 * 4096, VM_LOCKED, -1)).toBe(-U.ENOMEM); // runs into a hole
    expect(sysMlock(k, mm, b + 8 * 4096, 4096, VM_LOCKED, -1)).toBe(-U.ENOMEM); // starts in one
    expect(sysMlock(k, mm, b, 8 * 4096, 0, -1)).toBe(0); // munlock everything: merged again
    expect(mm.vmas.count).toBe(1);
    expect(sysMlockall(k, mm, U.MCL_ONFAULT, -1)).toBe(-U.EINVAL);
    expect(sysMlockall(k, mm, U.MCL_FUTURE, -1)).toBe(0);
    const p = sysMmap(k, mm, 0, 3 * 4096, RW, ANON, -1, 0, -1);
    expect(mm.vmas.find(p)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    expect(mm.rssAnon).toBe(2 + 3);
    expect(sysMlockall(k, mm, 0, -1)).toBe(0);
    validateMm(k, mm);
  });
});

describe('RLIMIT_AS and RLIMIT_DATA', () => {
  it('limit growth as may_expand_vm does: net growth for MAP_FIXED, data only for private writable', () => {
    const { k, mm } = world();
    mm.rlimits[U.RLIMIT_AS] = [16 * 4096, Infinity];
    const a = sysMmap(k, mm, 0, 12 * 4096, RW, ANON, -1, 0, -1);
    expect(a).toBeGreaterThan(0);
    expect(sysMmap(k, mm, 0, 8 * 4096, RW, ANON, -1, 0, -1)).toBe(-U.ENOMEM);
    // Replacing mapped pages is no growth: 12 pages over 8 old + 4 new fits exactly.
    expect(sysMmap(k, mm, a + 4 * 4096, 12 * 4096, U.PROT_READ, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(a + 4 * 4096);
    expect(mm.totalVm).toBe(16);
    validateMm(k, mm);

    const { k: k2, mm: mm2 } = world();
    mm2.rlimits[U.RLIMIT_DATA] = [8 * 4096, Infinity];
    expect(sysMmap(k2, mm2, 0, 16 * 4096, U.PROT_READ, ANON, -1, 0, -1)).toBeGreaterThan(0); // not data
    expect(sysMmap(k2, mm2, 0, 16 * 4096, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0, -1)).toBeGreaterThan(0); // shared: not data
    const d = sysMmap(k2, mm2, 0, 8 * 4096, RW, ANON, -1, 0, -1);
    expect(d).toBeGreaterThan(0);
    expect(sysMmap(k2, mm2, 0, 4096, RW, ANON, -1, 0, -1)).toBe(-U.ENOMEM);
    const ro = sysMmap(k2, mm2, 0, 32 * 4096, U.PROT_READ, ANON, -1, 0, -1);
    expect(sysMprotect(k2, mm2, ro, 32 * 4096, RW, -1)).toBe(-U.ENOMEM); // RO -> RW over the limit
    expect(sysMprotect(k2, mm2, d, 8 * 4096, U.PROT_READ, -1)).toBe(0);
    expect(mm2.dataVm).toBe(0);
    expect(sysMprotect(k2, mm2, ro, 8 * 4096, RW, -1)).toBe(0);
    expect(mm2.dataVm).toBe(8);
    const start = sysBrk(k2, mm2, 0, -1);
    expect(sysBrk(k2, mm2, start + 9 * 4096, -1)).toBe(start); // over RLIMIT_DATA: the old break
    validateMm(k2, mm2);
  });
});

describe('mremap', () => {
  it('moves pages with their contents, grows in place, shrinks, and keeps the rules', () => {
    const { k, mm, boot } = world();
    const b = 0x40000000;
    const remap = (o: number, ol: number, nl: number, f: number, n = 0) => sysMremap(k, mm, o, ol, nl, f, n, -1);
    expect(sysMmap(k, mm, b, 4 * 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(b);
    expect(handleMmFault(k, mm, b + 4096, W, -1)).toBe(FAULT_DONE);
    const frameOf = (va: number) => {
      const w = pteWord(k, mm, va, false);
      return w < 0 || (k.ops.lo(w) & 1) === 0 ? -1 : ptePfn(k.ops.lo(w), k.ops.hi(w));
    };
    const pfn = frameOf(b + 4096);
    k.mem.u8[pfn * 4096] = 77;
    expect(remap(b + 1, 4096, 4096, 0)).toBe(-U.EINVAL);
    expect(remap(b, 4096, 0, 0)).toBe(-U.EINVAL);
    expect(remap(b, 4096, 4096, U.MREMAP_FIXED, b + 0x100000)).toBe(-U.EINVAL); // FIXED needs MAYMOVE
    expect(remap(0x50000000, 4096, 8192, U.MREMAP_MAYMOVE)).toBe(-U.EFAULT);
    // Grow in place (nothing above), then shrink.
    expect(remap(b, 4 * 4096, 8 * 4096, 0)).toBe(b);
    expect(mm.vmas.all().map((v) => [v.start - b, v.end - b])).toEqual([[0, 8 * 4096]]);
    expect(remap(b, 8 * 4096, 6 * 4096, 0)).toBe(b);
    // Block growth in place with a mapping above: ENOMEM without MAYMOVE, a move with it.
    expect(sysMmap(k, mm, b + 6 * 4096, 4096, U.PROT_READ, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(b + 6 * 4096);
    expect(remap(b, 6 * 4096, 10 * 4096, 0)).toBe(-U.ENOMEM);
    const moved = remap(b, 6 * 4096, 10 * 4096, U.MREMAP_MAYMOVE);
    expect(moved).not.toBe(b);
    expect(frameOf(moved + 4096)).toBe(pfn); // the frame moved with its page
    expect(k.mem.u8[pfn * 4096]).toBe(77);
    expect(mm.vmas.find(b)).toBeNull();
    expect(mm.rssAnon).toBe(1);
    // DONTUNMAP: the source stays, empty.
    const dst = 0x60000000;
    expect(remap(moved, 4 * 4096, 4 * 4096, U.MREMAP_MAYMOVE | U.MREMAP_FIXED | U.MREMAP_DONTUNMAP, dst)).toBe(dst);
    expect(frameOf(dst + 4096)).toBe(pfn);
    expect(frameOf(moved + 4096)).toBe(-1);
    expect(mm.vmas.find(moved)).not.toBeNull();
    validateMm(k, mm);
    exitMm(k, mm);
    expect(k.pages.nrFree).toBe(boot);
  });
});

describe('vm.max_map_count', () => {
  it('refuses splits at the limit: a hole punched by munmap, mprotect, madvise, mlock, mseal', () => {
    const { k, mm } = world();
    const b = 0x30000000;
    expect(sysMmap(k, mm, b, 8 * 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(b);
    expect(sysMmap(k, mm, b + 16 * 4096, 8 * 4096, U.PROT_READ, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(b + 16 * 4096);
    k.vm.maxMapCount = 2;
    expect(sysMunmap(k, mm, b + 4096, 4096, -1)).toBe(-U.ENOMEM); // a hole inside one VMA
    expect(sysMunmap(k, mm, b + 7 * 4096, 4096, -1)).toBe(0); // trimming the end adds none
    expect(sysMprotect(k, mm, b, 4096, U.PROT_READ, -1)).toBe(-U.ENOMEM);
    expect(sysMadvise(k, mm, b, 4096, U.MADV_RANDOM, -1)).toBe(-U.ENOMEM);
    expect(sysMlock(k, mm, b, 4096, VM_LOCKED, -1)).toBe(-U.ENOMEM);
    expect(sysMseal(k, mm, b, 4096, 0)).toBe(-U.ENOMEM);
    expect(sysMprotect(k, mm, b, 7 * 4096, U.PROT_READ, -1)).toBe(0); // a whole VMA: no split
    expect(mm.vmas.count).toBe(2);
    validateMm(k, mm);
  });
});

describe('MAP_FIXED at vm.max_map_count', () => {
  it('fails with ENOMEM, leaving the old mapping, when it would punch a hole', () => {
    const { k, mm } = world();
    const b = 0x30000000;
    expect(sysMmap(k, mm, b, 8 * 4096, RW, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(b);
    k.vm.maxMapCount = 1;
    expect(sysMmap(k, mm, b + 4096, 4096, U.PROT_READ, ANON | U.MAP_FIXED, -1, 0, -1)).toBe(-U.ENOMEM);
    expect(mm.vmas.all().map((v) => [v.start - b, v.end - b])).toEqual([[0, 8 * 4096]]);
    validateMm(k, mm);
  });
});

describe('a shootdown that a busy CPU does not acknowledge', () => {
  it('holds every frame of a huge unmap until it does, moving the lists whole (no argument spread)', () => {
    const k = memoryWorld(8 << 20, 2).k;
    const mm = newMm(k);
    mm.cpus.add(1); // a sibling thread computes on CPU 1 without touching memory
    Atomics.store(k.cb.i32, cpuI32Base(1) + CPU_STATE, CPU_USER);
    k.tlb.flusher.timeoutMs = 1;
    const free = k.pages.nrFree;
    const pfn = k.pages.takeBlock(0);
    // 600,000 references to one frame: more entries than a call's arguments can carry.
    const g = new Gather();
    for (let i = 0; i < 600_000; i++) {
      if (i > 0) k.pages.getPage(pfn);
      g.pages.push(pfn);
    }
    g.cover(0x1000_0000, 0x1000_1000);
    finishGather(k, mm, g, 0);
    expect(k.tlb.deferred.length).toBe(1);
    expect(k.pages.refcount[pfn]).toBe(600_000);
    releaseDeferred(k);
    expect(k.tlb.deferred.length).toBe(1); // still not acknowledged
    Atomics.store(k.cb.i32, cpuI32Base(1) + CPU_STATE, CPU_OFFLINE); // its thread ended
    releaseDeferred(k);
    expect(k.tlb.deferred.length).toBe(0);
    expect(k.pages.nrFree).toBe(free);
  });
});

describe('a shootdown and an idle CPU', () => {
  it('posts to it without waiting and releases at once; it acknowledges when it next touches memory', () => {
    const k = memoryWorld(8 << 20, 2).k;
    const mm = newMm(k);
    mm.cpus.add(1); // a sibling thread waits in its event loop on CPU 1
    Atomics.store(k.cb.i32, cpuI32Base(1) + CPU_STATE, CPU_IDLE);
    k.tlb.flusher.timeoutMs = 60_000; // were it waited for, the test would time out
    const kc = (name: string) => readKernelCounters(k.cb)[name];
    const [skips, timeouts] = [kc('shootdown_idle_skips'), kc('shootdown_timeouts')];
    const free = k.pages.nrFree;
    const g = new Gather();
    g.pages.push(k.pages.takeBlock(0));
    g.cover(0x1000_0000, 0x1000_1000);
    finishGather(k, mm, g, 0);
    expect(k.tlb.deferred.length).toBe(0);
    expect(k.pages.nrFree).toBe(free);
    expect([kc('shootdown_idle_skips') - skips, kc('shootdown_timeouts') - timeouts]).toEqual([1, 0]);
    expect(Atomics.load(k.cb.i32, cpuI32Base(1) + IPI_PENDING)).toBe(1); // the request waits in its mailbox
  });
});
