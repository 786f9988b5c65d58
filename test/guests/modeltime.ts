// Work for the modeled-time tests (test/host/modeltime.test.ts): faults of each kind, a
// few syscalls with their PTE and VMA work, TLB misses; prints the cycles of the region it
// measures with counters(). argv: pages, then 'fork' to add a child that writes them (COW).
import {
  counters, fork, getpid, load32, MAP_ANONYMOUS, MAP_PRIVATE, mmap, mprotect, munmap, print, PROT_READ, PROT_WRITE,
  store32, waitpid,
} from 'ptlab/userland';

export function child(arg: { p: number; pages: number }): number {
  for (let i = 0; i < arg.pages; i++) store32(arg.p + i * 4096, -i); // COW faults
  return 0;
}

export default function main(argv: string[]): number {
  const pages = Number(argv[0] ?? 64);
  const before = counters().cycles;
  const p = mmap(0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  let sum = 0;
  for (let i = 0; i < pages; i += 2) sum += load32(p + i * 4096); // read faults: the zero page
  for (let i = 0; i < pages; i++) store32(p + i * 4096, i); // anonymous faults, some from the zero page
  for (let round = 0; round < 3; round++) for (let i = 0; i < pages; i++) sum += load32(p + i * 4096 + 64);
  mprotect(p, pages * 4096, PROT_READ);
  for (let i = 0; i < 10; i++) getpid();
  if (argv[1] === 'fork') {
    mprotect(p, pages * 4096, PROT_READ | PROT_WRITE);
    waitpid(fork('child', { p, pages }));
  }
  munmap(p, pages * 4096);
  print(`region ${counters().cycles - before} cycles, sum ${sum}\n`);
  return 0;
}
