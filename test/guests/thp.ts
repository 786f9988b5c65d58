// Transparent huge pages from a guest: the sysfs policy, THP faults, the huge zero page, and
// the splits that partial operations make. Each step prints one line; the vitest file
// compares them.
import * as U from 'ptlab/userland';
import { counters, load8, mmap, munmap, print, PROT_READ, PROT_WRITE, store8 } from 'ptlab/userland';
import { code } from './util.ts';

const P = 4096;
const H = 2 << 20;
const RW = PROT_READ | PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const SYSFS = '/sys/kernel/mm/transparent_hugepage/enabled';
const scratch = mmap(0, P, RW, ANON);

const writeFile = (path: string, text: string): string => code(() => U.writeFile(path, text));

/** Rss and AnonHugePages (kB) of the VMA at va, from /proc/self/smaps. */
function smaps(va: number): string {
  const text = U.readFile('/proc/self/smaps');
  const at = text.indexOf(`${va.toString(16).padStart(8, '0')}-`);
  const rest = text.slice(at);
  return `rss ${/Rss:\s+(\d+)/.exec(rest)?.[1]} huge ${/AnonHugePages:\s+(\d+)/.exec(rest)?.[1]}`;
}

function pfn(va: number): number {
  const fd = U.open('/proc/self/pagemap');
  U.pread(fd, scratch, 8, (va / P) * 8);
  U.close(fd);
  const hi = U.load32(scratch + 4) >>> 0;
  return hi >>> 31 === 1 ? (U.load32(scratch) >>> 0) + (hi & 0x7fffff) * 2 ** 32 : 0;
}

const vmstat = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(U.readFile('/proc/vmstat'))?.[1]);
const meminfoHuge = () => Number(/AnonHugePages:\s+(\d+)/.exec(U.readFile('/proc/meminfo'))?.[1]);

/** A 2 MiB-aligned mapping of n huge pages with holes around it, MADV_HUGEPAGE if asked. */
function hugeMapping(n: number, advise: boolean): number {
  const outer = mmap(0, (n + 2) * H, RW, ANON);
  if (outer % H !== 0) throw new Error('not 2 MiB aligned');
  munmap(outer, H);
  munmap(outer + (n + 1) * H, H);
  const p = outer + H;
  if (advise) U.madvise(p, n * H, U.MADV_HUGEPAGE);
  return p;
}

export default function main(): number {
  const out: string[] = [];
  out.push(`policy ${U.readFile(SYSFS).trim()} | bogus ${writeFile(SYSFS, 'bogus')} | unlink ${code(() => U.unlink(SYSFS))}`);

  // madvise policy: only VM_HUGEPAGE memory gets huge pages.
  const plain = hugeMapping(1, false);
  store8(plain, 1);
  out.push(`madvise-policy plain ${smaps(plain)}`);
  const p = hugeMapping(2, true);
  const c0 = counters();
  store8(p + 5, 7);
  for (let off = 0; off < H; off += P) store8(p + off + 1, 1);
  const c1 = counters();
  const walks2m = c1['dtlb_store_misses.walk_completed_2m_4m'] - c0['dtlb_store_misses.walk_completed_2m_4m'];
  out.push(`thp ${smaps(p)} faults ${c1.page_faults - c0.page_faults} 2m-walks ${walks2m > 0} contiguous ${pfn(p + 100 * P) === pfn(p) + 100} meminfo ${meminfoHuge()}`);

  // The huge zero page: a read maps 2 MiB of zeros with nothing in Rss; a write splits it.
  const z = hugeMapping(1, true);
  const zc = counters().page_faults;
  let sum = 0;
  for (let off = 0; off < H; off += P) sum += load8(z + off);
  out.push(`zero ${smaps(z)} faults ${counters().page_faults - zc} sum ${sum} contiguous ${pfn(z + 7 * P) === pfn(z) + 7}`);
  const splits0 = vmstat('thp_split_pmd');
  store8(z + 3 * P, 9);
  out.push(`zero-write ${smaps(z)} splits ${vmstat('thp_split_pmd') - splits0} reads ${load8(z + 3 * P)} ${load8(z + 4 * P)} shared-zero ${pfn(z + 4 * P) === pfn(z + 5 * P)}`);

  // PAGEMAP_SCAN reports the huge page whole (PAGE_IS_HUGE 0x40 | PRESENT 0x8) and leaves it.
  const arg = mmap(0, P, RW, ANON);
  const vec = mmap(0, P, RW, ANON);
  U.store64(arg, 96n);
  U.store64(arg + 16, BigInt(p));
  U.store64(arg + 24, BigInt(p + H));
  U.store64(arg + 40, BigInt(vec));
  U.store64(arg + 48, 4n);
  U.store64(arg + 88, 0x48n); // return HUGE and PRESENT
  const pm = U.open('/proc/self/pagemap');
  const regions = U.ioctl(pm, 0xc0606610, arg);
  U.close(pm);
  out.push(`scan regions ${regions} ${(Number(U.load64(vec + 8)) - Number(U.load64(vec))) / H} huge-page categories 0x${U.load64(vec + 16).toString(16)} ${smaps(p)}`);

  // MADV_FREE of the whole huge page keeps it whole (clean and old now).
  const f0 = vmstat('thp_split_pmd');
  U.madvise(p, H, U.MADV_FREE);
  out.push(`free-whole splits ${vmstat('thp_split_pmd') - f0} ${smaps(p)}`);

  // mprotect in the middle of a huge page splits it; the data stays.
  const s0 = vmstat('thp_split_pmd');
  U.mprotect(p + H / 2, P, PROT_READ);
  out.push(`mprotect-middle ${smaps(p)} splits ${vmstat('thp_split_pmd') - s0} data ${load8(p + 5)} ${load8(p + H / 2 + 1)} meminfo ${meminfoHuge()}`);

  // A whole-PMD mprotect keeps it huge; a write makes it writable again without a split.
  const q = hugeMapping(1, true);
  store8(q, 3);
  U.mprotect(q, H, PROT_READ);
  U.mprotect(q, H, RW);
  const s1 = vmstat('thp_split_pmd');
  store8(q + P, 4);
  out.push(`mprotect-whole ${smaps(q)} splits ${vmstat('thp_split_pmd') - s1} data ${load8(q)} ${load8(q + P)}`);

  // munmap and MADV_DONTNEED: a whole huge page goes at once; part of one splits it.
  U.madvise(q, P, U.MADV_DONTNEED);
  out.push(`dontneed-part ${smaps(q)} data ${load8(q)} ${load8(q + P)}`);
  const r = hugeMapping(2, true);
  store8(r, 1);
  store8(r + H, 1);
  U.madvise(r, H, U.MADV_DONTNEED);
  const r2 = smaps(r);
  munmap(r + H, P);
  out.push(`dontneed-whole ${r2} munmap-part ${smaps(r + H + P)}`);

  // mremap: a huge PMD moves whole to a 2 MiB-aligned place (move_huge_pmd), is split when
  // the destination is not aligned, and stays when the mapping grows in place.
  const m = hugeMapping(1, true);
  store8(m + 9, 42);
  const dest = hugeMapping(2, false);
  const moved = U.mremap(m, H, H, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dest);
  const m2 = hugeMapping(1, true);
  store8(m2 + 9, 43);
  const odd = U.mremap(m2, H, H, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dest + H + P);
  const grow = hugeMapping(1, true);
  store8(grow, 44);
  U.mremap(grow, H, 2 * H, 0);
  out.push(`mremap aligned ${load8(moved + 9)} ${smaps(moved)} | unaligned ${load8(odd + 9)} ${smaps(odd)} | grown ${load8(grow)} ${smaps(grow)}`);

  // 'always' (written as a shell's "echo always > enabled" would: O_CREAT|O_TRUNC; ftruncate
  // of the attribute is EINVAL); MADV_NOHUGEPAGE wins over it.
  const shell = U.open(SYSFS, U.O_WRONLY | U.O_CREAT | U.O_TRUNC, 0o644);
  U.writeAll(shell, 'always\n');
  const truncated = code(() => U.ftruncate(shell, 0));
  U.close(shell);
  out.push(`always ${truncated} ${U.readFile(SYSFS).trim()}`);
  const no = hugeMapping(1, false);
  U.madvise(no, H, U.MADV_NOHUGEPAGE);
  store8(no, 1);
  const yes = hugeMapping(1, false);
  store8(yes, 1);
  out.push(`nohugepage ${smaps(no)} always ${smaps(yes)}`);
  writeFile(SYSFS, 'madvise');
  for (const [a, n] of [[plain, H], [p, 2 * H], [z, H], [q, H], [r, H], [dest, 3 * H], [grow, 2 * H], [no, H], [yes, H]]) munmap(a, n);
  out.push(`after meminfo ${meminfoHuge()}`);
  print(out.join('\n'));
  return 0;
}
