// README recipe (test/userland/recipes.test.ts checks it is there verbatim and runs it).
import { counters, load8, mmap, print, readFile, refpageFrom, store8, MAP_PRIVATE, PROT_READ, PROT_WRITE } from 'ptlab/userland';
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFile('/proc/self/status'))?.[1]);
export default function main(): number {
  const fd = refpageFrom(new Uint8Array([0xaa]));   // a reference page: the byte 0xaa, repeated
  const len = 1024 * 4096;                          // 4 MiB that read as 0xaa without being filled
  const p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const rss = rssKiB(), faults = counters().page_faults;
  let sum = 0;
  for (let o = 0; o < len; o += 4096) sum += load8(p + o);   // every page maps the one reference page
  for (let o = 0; o < len; o += 64 * 4096) store8(p + o, 1); // a write gives that page a copy of its own
  print(`${counters().page_faults - faults} faults, RSS +${rssKiB() - rss} KiB for 4 MiB of 0xaa with 16 pages written`);
  return sum === 1024 * 0xaa && load8(p + 4096) === 0xaa && load8(p) === 1 ? 0 : 1;
}
