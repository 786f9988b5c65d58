// A tiny guest for ptlab stat and sweep tests: touches PAGES pages, loads each once more,
// reports what it did, and exits with status 1 when PAGES equals FAIL (a failing point).
import { accessors, counters, mmap, report, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from 'ptlab/userland';

export default function main(argv: string[]): number {
  const pages = Number(argv[0] ?? 4);
  const fail = argv[1];
  if (String(pages) === fail) {
    console.error(`sweep guest: failing for ${pages} pages, as asked`);
    return 1;
  }
  const base = mmap(0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const { load32, store32 } = accessors();
  for (let p = 0; p < pages; p++) store32(base + p * 4096, p);
  const before = counters()['dtlb_load_misses.walk_completed'];
  let sum = 0;
  for (let p = 0; p < pages; p++) sum += load32(base + p * 4096);
  report({ pages, sum, walks: counters()['dtlb_load_misses.walk_completed'] - before });
  return 0;
}
