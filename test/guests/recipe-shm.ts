// README recipe: shared memory between processes (verbatim from the second line on).
import { fork, ftruncate, load32, memfdCreate, mmap, store32, waitpid, MAP_SHARED, PROT_READ, PROT_WRITE } from 'ptlab/userland';
export function child({ fd }: { fd: number }): number {  // the child has the parent's descriptors
  const p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  store32(p + 4, load32(p) + 1);                          // reads 41, writes 42: the same page
  return 0;
}
export default function main(): number {
  const fd = memfdCreate('shared');                       // a file in memory; a tmpfs file works too
  ftruncate(fd, 4096);
  const p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  store32(p, 41);
  waitpid(fork('child', { fd }));
  return load32(p + 4) === 42 ? 0 : 1;                    // the child's write, seen here
}
