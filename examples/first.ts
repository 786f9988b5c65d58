// A first guest program: map memory, touch it, and measure this thread's TLB misses for two
// access patterns with the per-CPU counters.
//
//   node bin/ptlab.mjs run examples/first.ts          (or: npm run ptlab -- run examples/first.ts)
//   node bin/ptlab.mjs stat examples/first.ts 4096    (pages to touch; counters at exit)

import {
  accessors, counters, getpid, MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, print, PROT_READ,
  PROT_WRITE,
} from 'ptlab/userland';

export default function main(argv: string[]): number {
  const pages = Number(argv[0] ?? 2048);
  if (argv.length > 1 || !(Number.isInteger(pages) && pages >= 1)) {
    print('usage: ptlab run examples/first.ts [PAGES]   (pages to map and touch, default 2048)');
    return argv[0] === '--help' ? 0 : 2;
  }
  const bytes = pages * 4096;
  const base = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const { load32, store32 } = accessors();
  for (let p = 0; p < pages; p++) store32(base + p * 4096, p); // first touch: one fault per page
  print(`pid ${getpid()}: mapped ${pages} pages at 0x${base.toString(16)}`);

  const measure = (name: string, next: (i: number) => number): number => {
    const before = counters();
    let sum = 0;
    for (let i = 0; i < 200_000; i++) sum += load32(base + next(i));
    const after = counters();
    const d = (k: string) => after[k] - before[k];
    print(`${name.padEnd(22)} loads ${d('dtlb_loads')}, L1 dTLB misses ${d('l1_dtlb_load_misses')}, page walks ${d('dtlb_load_misses.walk_completed')}`);
    return sum;
  };
  measure('sequential (8 B step)', (i) => (i * 8) % bytes);
  let x = 0x9e3779b9;
  measure('random pages', () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) % pages) * 4096;
  });
  munmap(base, bytes);
  return 0;
}
