// README recipe (test/userland/recipes.test.ts checks it is there verbatim and runs it).
import { mmap, pagemapScan, print, store32, writeFile, MAP_ANONYMOUS, MAP_PRIVATE, PAGE_IS_SOFT_DIRTY, PROT_READ, PROT_WRITE } from 'ptlab/userland';
export default function main(): number {
  const len = 64 * 4096;
  const p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let o = 0; o < len; o += 4096) store32(p + o, 1);  // everything written once
  writeFile('/proc/self/clear_refs', '4');                // clear the soft-dirty bits (and write-protect)
  for (const page of [3, 10, 11, 12]) store32(p + page * 4096, 2);
  const dirty = pagemapScan({ start: p, end: p + len, mask: PAGE_IS_SOFT_DIRTY, returnMask: PAGE_IS_SOFT_DIRTY })
    .map((r) => `${(r.start - p) / 4096}-${(r.end - p) / 4096 - 1}`);
  print(`pages written since clear_refs: ${dirty.join(', ')}`); // 3-3, 10-12
  return dirty.join() === '3-3,10-12' ? 0 : 1;
}
