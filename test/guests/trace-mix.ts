// A single-threaded guest whose every access is the same under any TLB model: random and
// sequential loads and stores over 4 KiB and 2 MiB (MADV_HUGEPAGE) pages, an mprotect, a
// munmap and a new mapping (invalidations), a fork whose child writes (copy-on-write).
// It prints nothing that depends on the counters. Arguments: [rounds].
import * as U from 'ptlab/userland';
import { accessors, madvise, mmap, mprotect, munmap, PROT_READ, PROT_WRITE } from 'ptlab/userland';

const P = 4096;
const H = 2 << 20;
const RW = PROT_READ | PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

export function child(arg: unknown): number {
  const { base, pages } = arg as { base: number; pages: number };
  const { store32 } = accessors();
  for (let p = 0; p < pages; p += 3) store32(base + p * P, p);
  return 0;
}

export default function main(argv: string[]): number {
  const rounds = Number(argv[0] ?? 3);
  const { load32, store32 } = accessors();
  let x = 12345;
  const rand = (n: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  const small = mmap(0, 600 * P, RW, ANON);
  const outer = mmap(0, 4 * H, RW, ANON);
  const huge = outer + (H - (outer % H)) % H;
  madvise(huge, 2 * H, U.MADV_HUGEPAGE);
  let sum = 0;
  for (let r = 0; r < rounds; r++) {
    for (let p = 0; p < 600; p++) store32(small + p * P + 4 * r, p);
    for (let i = 0; i < 4000; i++) sum += load32(small + rand(600) * P);
    for (let i = 0; i < 3000; i++) store32(huge + rand(2 * H / 8) * 8, i);
    mprotect(small + 100 * P, 50 * P, PROT_READ);
    for (let p = 100; p < 150; p++) sum += load32(small + p * P);
    mprotect(small + 100 * P, 50 * P, RW);
    munmap(small + 300 * P, 100 * P);
    mmap(small + 300 * P, 100 * P, RW, ANON | U.MAP_FIXED);
  }
  const pid = U.fork('child', { base: small, pages: 600 });
  U.waitpid(pid);
  for (let p = 0; p < 600; p += 2) store32(small + p * P, p);
  return sum === -1 ? 1 : 0;
}
