// memfd seals from a guest, through ptlab/userland's wrappers: a writer seals its memfd
// against future writes while its own writable mapping keeps working, and a reader's
// read-only shared mapping cannot be made writable (the memfd_test.c share_mmap pattern).
import * as U from 'ptlab/userland';
import { code } from './util.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;

export default function main(): number {
  const out: string[] = [];
  const fd = U.memfdCreate('sealed', U.MFD_ALLOW_SEALING | U.MFD_CLOEXEC);
  U.ftruncate(fd, 4 * P);
  const w = U.mmap(0, 4 * P, RW, U.MAP_SHARED, fd);
  const r = U.mmap(0, 4 * P, U.PROT_READ, U.MAP_SHARED, fd);
  out.push(`seals ${U.getSeals(fd)} write-seal ${code(() => U.addSeals(fd, U.F_SEAL_WRITE))}`);
  U.addSeals(fd, U.F_SEAL_FUTURE_WRITE | U.F_SEAL_SHRINK);
  U.store8(w + 10, 42);
  out.push(`seals ${U.getSeals(fd)} stored ${U.load8(r + 10)} pwrite ${code(() => U.pwrite(fd, w, 1, 0))} shrink ${code(() => U.ftruncate(fd, P))}`);
  out.push(`new writable ${code(() => U.mmap(0, P, RW, U.MAP_SHARED, fd))} private ${code(() => U.store8(U.mmap(0, P, RW, U.MAP_PRIVATE, fd), 1))}`);
  const late = U.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd);
  out.push(`mprotect ${code(() => U.mprotect(late, P, RW))}`);
  U.sigaction(U.SIGSEGV, (info) => {
    U.print(`${out.join('\n')}\nSIGSEGV at page ${(info.addr - late) / P} code ${info.code}`);
    U.exitGroup(0);
  });
  U.store8(late, 1);
  return 1;
}
