// A process that writes argv[0] bytes of anonymous memory (MAP_POPULATE of a writable
// private mapping), says so, and exits: its address space is torn down in slices
// (test/host/exit-teardown.test.ts).
import { MAP_ANONYMOUS, MAP_POPULATE, MAP_PRIVATE, mmap, print, PROT_READ, PROT_WRITE } from 'ptlab/userland';

export default function main(argv: string[]): number {
  mmap(0, Number(argv[0]), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE);
  print('written');
  return 0;
}
