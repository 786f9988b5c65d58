// README recipe: threads (verbatim from the second line on).
import { load32, mmap, store32, threadCreate, threadJoin, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from 'ptlab/userland';
export function worker({ p, i }: { p: number; i: number }): number {  // runs on a CPU of its own
  store32(p + 4 * i, i * i);                       // the same address space as main's
  return i;                                        // its exit value, for threadJoin
}
export default function main(): number {
  const p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const tids = [1, 2, 3].map((i) => threadCreate('worker', { p, i }));
  const values = tids.map((tid) => threadJoin(tid)); // [1, 2, 3]
  return values.join() === '1,2,3' && load32(p + 12) === 9 ? 0 : 1;
}
