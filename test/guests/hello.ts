import { getpid, load32, MAP_ANONYMOUS, MAP_PRIVATE, mmap, print, PROT_READ, PROT_WRITE, store32 } from 'ptlab/userland';

export default function main(argv: string[]): number {
  const p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  store32(p, 41);
  store32(p + 4096, load32(p) + 1);
  print(`hello from pid ${getpid()}, argv ${JSON.stringify(argv)}, value ${load32(p + 4096)}`);
  return 7;
}
