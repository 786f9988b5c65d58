// VMA layout tests in the style of tools/testing/vma: each case draws the address space as
// an ASCII map, one character per page ('.' a hole; a letter per VMA, upper case for
// writable, '#' for a sealed VMA), so merges and splits read at a glance. Allocation
// failures are injected with PageAllocator.fail.after.
import { describe, expect, it } from 'vitest';
import { FAULT_DONE, FAULT_OOM, handleMmFault } from '../../../kernel/mm/fault.ts';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';

import { sysMadvise } from '../../../kernel/mm/madvise.ts';
import { sysMlock } from '../../../kernel/mm/mlock.ts';
import { VM_LOCKED, VM_WRITE } from '../../../kernel/mm/mm_types.ts';
import { sysMmap } from '../../../kernel/mm/mmap.ts';
import { sysMprotect } from '../../../kernel/mm/mprotect.ts';
import { sysMremap } from '../../../kernel/mm/mremap.ts';
import { sysMseal } from '../../../kernel/mm/mseal.ts';
import { sysMunmap } from '../../../kernel/mm/munmap.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import * as U from '../../../kernel/uapi.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';

const P = 4096;
const B = 0x40000000;
const RW = U.PROT_READ | U.PROT_WRITE;
const FIXED = U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED;

function setup() {
  const k = memoryWorld(8 << 20, 1).k;
  const mm = newMm(k);
  const map = (page: number, pages: number, prot = RW, flags = FIXED) => sysMmap(k, mm, B + page * P, pages * P, prot, flags, -1, 0, -1);
  /** The first `pages` pages from B. */
  const draw = (pages = 16): string => {
    const vmas = mm.vmas.intersecting(B, B + pages * P);
    let out = '';
    for (let i = 0; i < pages; i++) {
      const va = B + i * P;
      const n = vmas.findIndex((v) => v.start <= va && va < v.end);
      if (n < 0) out += '.';
      else if (vmas[n].sealed) out += '#';
      else {
        const c = String.fromCharCode(97 + n);
        out += (vmas[n].flags & VM_WRITE) !== 0 ? c.toUpperCase() : c;
      }
    }
    validateMm(k, mm);
    return out;
  };
  return { k, mm, map, draw };
}

describe('VMA layouts', () => {
  it('merges neighbours with equal flags and splits on a change in the middle', () => {
    const { k, mm, map, draw } = setup();
    map(0, 4);
    map(4, 4);
    expect(draw(12)).toBe('AAAAAAAA....');
    expect(sysMprotect(k, mm, B + 2 * P, 3 * P, U.PROT_READ, -1)).toBe(0);
    expect(draw(12)).toBe('AAbbbCCC....');
    expect(sysMprotect(k, mm, B + 2 * P, 3 * P, RW, -1)).toBe(0);
    expect(draw(12)).toBe('AAAAAAAA....');
    map(9, 2, U.PROT_READ);
    map(8, 1, U.PROT_READ); // bridges nothing: flags differ from the left
    expect(draw(12)).toBe('AAAAAAAAbbb.');
    expect(sysMprotect(k, mm, B + 8 * P, 3 * P, RW, -1)).toBe(0);
    expect(draw(12)).toBe('AAAAAAAAAAA.');
  });

  it('punches holes with munmap and MAP_FIXED, and madvise splits only for flag changes', () => {
    const { k, mm, map, draw } = setup();
    map(0, 10);
    expect(sysMunmap(k, mm, B + 3 * P, 2 * P, -1)).toBe(0);
    expect(draw(12)).toBe('AAA..BBBBB..');
    map(6, 2, U.PROT_READ);
    expect(draw(12)).toBe('AAA..BccDD..');
    expect(sysMadvise(k, mm, B + 8 * P, P, U.MADV_DONTNEED, -1)).toBe(0);
    expect(draw(12)).toBe('AAA..BccDD..');
    expect(sysMadvise(k, mm, B + 8 * P, P, U.MADV_RANDOM, -1)).toBe(0);
    expect(draw(12)).toBe('AAA..BccDE..');
  });

  it('mremap grows into the hole and merges; a move leaves a hole behind', () => {
    const { k, mm, map, draw } = setup();
    map(0, 2);
    map(4, 2);
    expect(sysMremap(k, mm, B, 2 * P, 4 * P, 0, 0, -1)).toBe(B);
    expect(draw(8)).toBe('AAAAAA..');
    expect(sysMremap(k, mm, B + 4 * P, 2 * P, 2 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, B + 10 * P, -1)).toBe(B + 10 * P);
    expect(draw(12)).toBe('AAAA......BB');
  });

  it('a multi-VMA move whose first VMA reaches over the destination', () => {
    const { k, mm, map, draw } = setup();
    map(0, 10);
    map(11, 3, U.PROT_READ);
    // Source [8, 13): part of A, a gap, part of b. Destination [1, 6), inside A.
    expect(sysMremap(k, mm, B + 8 * P, 5 * P, 5 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, B + P, -1)).toBe(B + P);
    // A's moved part lands back in A and merges (never faulted: pgoff follows the address).
    expect(draw(16)).toBe('AAAAbbCC.....d..');
  });

  it('mseal marks and refuses, leaving the split munmap made', () => {
    const { k, mm, map, draw } = setup();
    map(0, 6);
    expect(sysMseal(k, mm, B + 3 * P, P, 0)).toBe(0);
    expect(draw(8)).toBe('AAA#CC..');
    expect(sysMunmap(k, mm, B + P, 4 * P, -1)).toBe(-U.EPERM);
    expect(draw(8)).toBe('ABB#DD..');
  });

  it('MAP_FIXED gathers what it covers and completes in one step; early failures abort with nothing changed', () => {
    const { k, mm, map, draw } = setup();
    map(0, 2);
    map(3, 2, U.PROT_READ);
    map(6, 2, U.PROT_NONE);
    expect(draw(10)).toBe('AA.bb.cc..');
    // RLIMIT_AS on the net growth: 8 pages replace 6, so 2 more must fit.
    mm.rlimits[U.RLIMIT_AS] = [(mm.totalVm + 1) * P, Infinity];
    expect(map(0, 8)).toBe(-U.ENOMEM);
    expect(draw(10)).toBe('AA.bb.cc..');
    mm.rlimits[U.RLIMIT_AS] = [(mm.totalVm + 2) * P, Infinity];
    expect(map(0, 8, U.PROT_READ)).toBe(B);
    expect(draw(10)).toBe('aaaaaaaa..');
    mm.rlimits[U.RLIMIT_AS] = [Infinity, Infinity];
    // A seal inside aborts before anything is unmapped; only the split of the first VMA,
    // made before the gather reached the seal, stays (vms_gather_munmap_vmas).
    expect(sysMseal(k, mm, B + 5 * P, P, 0)).toBe(0);
    expect(draw(10)).toBe('aaaaa#cc..');
    expect(map(2, 6)).toBe(-U.EPERM);
    expect(draw(10)).toBe('aabbb#dd..');
    // A hole punched inside one VMA at vm.max_map_count aborts too, with nothing split.
    k.vm.maxMapCount = mm.vmas.count;
    expect(map(3, 1)).toBe(-U.ENOMEM);
    expect(draw(10)).toBe('aabbb#dd..');
    k.vm.maxMapCount = 65530;
    expect(map(3, 1)).toBe(B + 3 * P);
    expect(draw(10)).toBe('aabCd#ff..');
  });

  it('MAP_FIXED over populated memory clears each old PTE once and frees its frames and tables', () => {
    const { k, mm, map, draw } = setup();
    const free0 = k.pages.nrFree;
    map(0, 6, RW, FIXED | U.MAP_POPULATE);
    map(6, 2, U.PROT_READ, FIXED | U.MAP_POPULATE);
    expect(mm.rssAnon).toBe(6);
    expect(map(0, 8, U.PROT_NONE)).toBe(B);
    expect(draw(10)).toBe('aaaaaaaa..');
    expect(mm.rssAnon).toBe(0);
    // Only the page tables (shared with the new mapping) are still allocated.
    expect(free0 - k.pages.nrFree).toBe(mm.ptePages);
    expect(sysMunmap(k, mm, B, 8 * P, -1)).toBe(0);
    expect(k.pages.nrFree).toBe(free0);
  });

  it('faulted neighbours keep their own anon_vma and do not merge; an unfaulted one joins either', () => {
    const { k, mm, map, draw } = setup();
    const touch = (page: number) => expect(handleMmFault(k, mm, B + page * P, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    map(0, 2);
    touch(0);
    map(3, 2);
    touch(3);
    expect(draw(6)).toBe('AA.BB.');
    map(2, 1); // bridges two different anon_vmas: merges with one side only
    expect(draw(6)).toBe('AAABB.');
    map(5, 1); // never faulted: merges with the faulted VMA before it
    expect(draw(7)).toBe('AAABBB.');
    // mprotect away and back: the faulted middle rejoins its own VMA.
    expect(sysMprotect(k, mm, B + 3 * P, P, U.PROT_READ, -1)).toBe(0);
    expect(draw(7)).toBe('AAAbCC.');
    expect(sysMprotect(k, mm, B + 3 * P, P, RW, -1)).toBe(0);
    expect(draw(7)).toBe('AAABBB.');
  });

  it('mprotect changes the VMAs up to a hole, then fails with ENOMEM', () => {
    const { k, mm, map, draw } = setup();
    map(0, 3);
    map(4, 3);
    expect(sysMprotect(k, mm, B + P, 6 * P, U.PROT_READ, -1)).toBe(-U.ENOMEM);
    expect(draw(8)).toBe('Abb.CCC.');
  });
});

describe('allocation failures', () => {
  it('a fault that finds no frame reports OOM and changes nothing', () => {
    const { k, mm, map, draw } = setup();
    map(0, 2);
    expect(handleMmFault(k, mm, B, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    k.pages.fail.after = 0;
    expect(handleMmFault(k, mm, B + P, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_OOM);
    k.pages.fail.after = -1;
    expect(mm.rssAnon).toBe(1);
    expect(draw(4)).toBe('AA..');
  });

  it('mremap that cannot allocate the destination page tables fails before moving anything', () => {
    const { k, mm, map, draw } = setup();
    map(0, 2);
    expect(handleMmFault(k, mm, B, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
    const far = B + 2 ** 39; // under another PML4 entry: three new tables needed
    k.pages.fail.after = 1;
    expect(sysMremap(k, mm, B, 2 * P, 2 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, far, -1)).toBe(-U.ENOMEM);
    k.pages.fail.after = -1;
    expect(draw(4)).toBe('AA..');
    expect(mm.rssAnon).toBe(1);
    expect(sysMremap(k, mm, B, 2 * P, 2 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, far, -1)).toBe(far);
    expect(draw(4)).toBe('....');
    validateMm(k, mm);
  });

  it('mlock that runs out of frames returns EAGAIN with the range locked and partly populated', () => {
    const { k, mm, map, draw } = setup();
    map(0, 6);
    k.pages.fail.after = 5; // three tables and two pages
    expect(sysMlock(k, mm, B + 2 * P, 4 * P, VM_LOCKED, -1)).toBe(-U.EAGAIN);
    k.pages.fail.after = -1;
    expect(draw(8)).toBe('AABBBB..');
    expect(mm.vmas.find(B + 2 * P)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    expect(mm.rssAnon).toBe(2);
    k.pages.fail.after = 0;
    expect(sysMadvise(k, mm, B, 2 * P, U.MADV_POPULATE_WRITE, -1)).toBe(-U.ENOMEM);
    k.pages.fail.after = -1;
    expect(mm.rssAnon).toBe(2);
  });

  it('MAP_POPULATE hides an allocation failure: the mapping exists, partly populated', () => {
    const { k, mm, draw } = setup();
    k.pages.fail.after = 5; // three tables and two pages
    expect(sysMmap(k, mm, B, 4 * P, RW, FIXED | U.MAP_POPULATE, -1, 0, -1)).toBe(B);
    k.pages.fail.after = -1;
    expect(draw(6)).toBe('AAAA..');
    expect(mm.rssAnon).toBe(2);
  });
});
