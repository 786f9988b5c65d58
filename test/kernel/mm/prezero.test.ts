// Frames zeroed in idle time (PageAllocator.prezeroOne): the allocation order does not
// change, a zeroed allocation gets zeroes, and a frame written after it was marked is
// zeroed again.
import { describe, expect, it } from 'vitest';
import { __GFP_ZERO, allocPages, GFP_USER } from '../../../kernel/mm/page_alloc.ts';
import { memoryWorld } from '../../harness/kernel.ts';

/** A world whose first `n` order-0 allocations' frames hold garbage, freed again. */
function dirtyWorld(n: number) {
  const { k } = memoryWorld(8 << 20, 1);
  const taken: number[] = [];
  for (let i = 0; i < n; i++) taken.push(allocPages(k, 0, GFP_USER));
  for (const pfn of taken) k.mem.u8.fill(0xa5, pfn * 4096, pfn * 4096 + 4096);
  for (const pfn of taken.reverse()) k.pages.putPage(pfn);
  return k;
}

const isZero = (k: ReturnType<typeof dirtyWorld>, pfn: number) => k.mem.u8.subarray(pfn * 4096, pfn * 4096 + 4096).every((b) => b === 0);

describe('frames zeroed in idle time', () => {
  it('hands out the same frames in the same order, zeroed, with or without idle zeroing', () => {
    const plain = dirtyWorld(40);
    const idle = dirtyWorld(40);
    let zeroed = 0;
    while (idle.pages.prezeroOne()) zeroed++;
    expect(zeroed).toBe(16); // PREZERO_AHEAD frames, then nothing more to do
    for (let i = 0; i < 60; i++) {
      const a = allocPages(plain, 0, GFP_USER | __GFP_ZERO);
      const b = allocPages(idle, 0, GFP_USER | __GFP_ZERO);
      expect(b).toBe(a);
      expect(isZero(idle, b)).toBe(true);
      expect(idle.pages.prezeroed(b)).toBe(false);
      if (i % 3 === 0) idle.pages.prezeroOne(); // some idle time between allocations
    }
    expect(idle.pages.buddyInfo()).toEqual(plain.pages.buddyInfo());
  });

  it('a marked frame that is allocated without __GFP_ZERO and written loses its mark', () => {
    const k = dirtyWorld(4);
    while (k.pages.prezeroOne());
    const pfn = allocPages(k, 0, GFP_USER); // marked, taken for data that will overwrite it
    expect(k.pages.prezeroed(pfn)).toBe(false);
    k.mem.u8.fill(0x5a, pfn * 4096, pfn * 4096 + 4096);
    k.pages.putPage(pfn);
    expect(k.pages.prezeroed(pfn)).toBe(false);
    expect(allocPages(k, 0, GFP_USER | __GFP_ZERO)).toBe(pfn);
    expect(isZero(k, pfn)).toBe(true);
    // Freed again, it is the next frame to go: idle time zeroes it once, then has nothing to do.
    k.mem.u8.fill(0x5a, pfn * 4096, pfn * 4096 + 4096);
    k.pages.putPage(pfn);
    expect(k.pages.prezeroOne()).toBe(true);
    expect(k.pages.prezeroed(pfn)).toBe(true);
    expect(isZero(k, pfn)).toBe(true);
    expect(k.pages.prezeroOne()).toBe(false);
  });

  it('a huge block clears the marks of every frame in it, and its pages come back unmarked after a split', () => {
    const k = dirtyWorld(0);
    // Take the small blocks, so that the next order-0 allocations would split a huge one.
    while (k.pages.buddyInfo().slice(0, 9).some((c) => c > 0)) allocPages(k, 0, GFP_USER);
    while (k.pages.prezeroOne());
    const marked = Array.from({ length: k.mem.nrFrames }, (_, p) => p).filter((p) => k.pages.prezeroed(p));
    expect(marked.length).toBe(16);
    const head = allocPages(k, 9, GFP_USER);
    expect(marked.every((p) => p >= head && p < head + 512)).toBe(true);
    for (let i = 0; i < 512; i++) expect(k.pages.prezeroed(head + i)).toBe(false);
    k.pages.splitBlock(head);
    for (let i = 0; i < 512; i++) k.pages.putPage(head + i);
    for (let i = 0; i < 512; i++) expect(k.pages.prezeroed(head + i)).toBe(false);
  });
});
