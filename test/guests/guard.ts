// Guard regions from a guest (MADV_GUARD_INSTALL / MADV_GUARD_REMOVE), with the CPU's own
// accesses: each line is what the selftest guard-regions.c checks with its SIGSEGV handler,
// here through the emulated MMU and its TLB (a page read into the TLB just before the
// install must fault after it). The vitest file holds the host's answers.
import * as U from 'ptlab/userland';
import { load8, mmap, print, PROT_READ, PROT_WRITE, store8 } from 'ptlab/userland';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

class Segv {
  constructor(readonly code: number) {}
}

/** The access's fate: 'ok' or 'segv CODE'. */
function access(va: number, write: boolean): string {
  try {
    if (write) store8(va, 0x78);
    else load8(va);
    return 'ok';
  } catch (e) {
    if (e instanceof Segv) return `segv ${e.code}`;
    throw e;
  }
}

const rw = (va: number): string => `${access(va, false)}/${access(va, true)}`;
const adv = (va: number, len: number, advice: number): number => U.syscall(U.SYS_madvise, va, len, advice);

function pagemapTop(va: number, scratch: number): string {
  const fd = U.open('/proc/self/pagemap');
  U.pread(fd, scratch, 8, (va / P) * 8);
  U.close(fd);
  return (U.load32(scratch + 4) >>> 0).toString(16);
}

export default function main(): number {
  U.sigaction(U.SIGSEGV, (info) => {
    throw new Segv(info.code);
  });
  const scratch = mmap(0, P, RW, ANON);
  const p = mmap(0, 10 * P, RW, ANON);
  for (let i = 0; i < 10; i++) store8(p + i * P, 0x41 + i); // every page in the TLB
  print(`install ${adv(p, P, U.MADV_GUARD_INSTALL)} ${rw(p)} next ${rw(p + P)} pagemap ${pagemapTop(p, scratch)}`);
  print(`remove ${adv(p, P, U.MADV_GUARD_REMOVE)} ${rw(p)} value ${load8(p + 1)} kept ${load8(p + 2 * P)}`);
  print(`range ${adv(p, 3 * P, U.MADV_GUARD_INSTALL)} ${[0, 1, 2, 3].map((i) => rw(p + i * P)).join(' ')}`);
  print(`dontneed ${adv(p, 10 * P, U.MADV_DONTNEED)} ${rw(p)} ${rw(p + 3 * P)} mprotect ${U.syscall(U.SYS_mprotect, p, 10 * P, PROT_READ)} ${access(p, false)} ${access(p + 3 * P, true)}`);
  U.syscall(U.SYS_mprotect, p, 10 * P, RW);
  print(`populate ${adv(p, 10 * P, U.MADV_POPULATE_READ)} ${adv(p + 3 * P, 7 * P, U.MADV_POPULATE_WRITE)} mlock ${U.syscall(U.SYS_mlock, p, 10 * P)} ${adv(p, P, U.MADV_GUARD_INSTALL)}`);
  U.syscall(U.SYS_munlock, p, 10 * P);
  const q = U.syscall(U.SYS_mremap, p, 10 * P, 10 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, mmap(0, 10 * P, U.PROT_NONE, ANON));
  print(`mremap ${rw(q)} ${rw(q + 3 * P)} munmap ${U.syscall(U.SYS_munmap, q, P)} remap ${rw(mmap(q, P, RW, ANON | U.MAP_FIXED))}`);
  // Shared anonymous memory: the page stays in the object, guarded in this mapping only.
  const s = mmap(0, 2 * P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS);
  store8(s, 7);
  print(`shared ${adv(s, P, U.MADV_GUARD_INSTALL)} ${rw(s)} ${adv(s, P, U.MADV_GUARD_REMOVE)} value ${load8(s)}`);
  U.sigaction(U.SIGSEGV, 'default');
  // Left guarded at exit: exit drops the markers with the tables.
  adv(q + 2 * P, 4 * P, U.MADV_GUARD_INSTALL);
  return 0;
}
