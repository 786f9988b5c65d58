// README recipe: counters() around a region of code, with and without huge pages (verbatim from the second line on).
import { accessors, counters, madvise, mmap, print, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from 'ptlab/userland';
const { load32, store32 } = accessors();
function walks(advice: number): number {
  const len = 64 << 20, huge = 2 << 20;             // 64 MiB at a 2 MiB boundary
  const p = Math.ceil(mmap(0, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) / huge) * huge;
  madvise(p, len, advice);                          // MADV_HUGEPAGE: 2 MiB pages where it can
  for (let o = 0; o < len; o += 4096) store32(p + o, o);
  const before = counters();                        // this thread's CPU, now
  let r = 1, sum = 0;
  for (let i = 0; i < 100_000; i++) {
    r ^= r << 13; r ^= r >>> 17; r ^= r << 5;        // xorshift: a random 4 KiB page each time
    sum += load32(p + ((r >>> 0) % (len / 4096)) * 4096);
  }
  const after = counters();
  return sum < 0 ? -1 : after['dtlb_load_misses.walk_completed'] - before['dtlb_load_misses.walk_completed'];
}
export default function main(): number {
  const small = walks(MADV_NOHUGEPAGE);
  const huge = walks(MADV_HUGEPAGE);
  print(`page walks in 100,000 random loads over 64 MiB: ${small} with 4 KiB pages, ${huge} with 2 MiB pages`);
  return huge < small ? 0 : 1;
}
