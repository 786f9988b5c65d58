// The README's mshare recipe, verbatim (test/userland/userland.test.ts checks it matches and runs it).
import { close, fork, load32, mshareCreate, mshareCreateMapping, mshareDetach, mshareMap, store32, unlink, waitpid, PROT_READ, PROT_WRITE } from 'ptlab/userland';
export function child(fd: number): number {     // a forked child has the region's descriptor
  const base = mshareMap(fd);                     // maps it at a free 512 GiB boundary
  return load32(base) === 42 ? 0 : 1;             // the parent's write, through the same page tables
}
export default function main(): number {
  const fd = mshareCreate('/sys/fs/mshare/demo'); // open(O_CREAT) + ftruncate(512 GiB); the fd
  mshareCreateMapping(fd, { regionOffset: 0, size: 1 << 20, prot: PROT_READ | PROT_WRITE });
  const base = mshareMap(fd);                     // mshareMap(fd, addr?, prot?, len?)
  store32(base, 42);
  const status = waitpid(fork('child', fd)).exitCode;
  mshareDetach(fd, base);                         // munmap of the whole region
  close(fd);
  unlink('/sys/fs/mshare/demo');                  // else the region (and its memory) stays
  return status ?? 1;
}
