// hugetlb from a guest: the pools under /sys/kernel/mm/hugepages and /proc/meminfo.
import * as U from 'ptlab/userland';
import { print } from 'ptlab/userland';
import { code } from './util.ts';

const POOL2M = '/sys/kernel/mm/hugepages/hugepages-2048kB';
const POOL1G = '/sys/kernel/mm/hugepages/hugepages-1048576kB';

const set = (path: string, text: string): string => code(() => U.writeFile(path, text));

const meminfo = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(U.readFile('/proc/meminfo'))?.[1]);
const read = (path: string) => U.readFile(path).trim();

const P = 4096;
const H = 2 << 20;
const RW = U.PROT_READ | U.PROT_WRITE;
const HUGE = U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB;
const pool = () => `free ${meminfo('HugePages_Free')} rsvd ${meminfo('HugePages_Rsvd')}`;

function smaps(va: number): string {
  const text = U.readFile('/proc/self/smaps');
  const rest = text.slice(text.indexOf(`${va.toString(16).padStart(8, '0')}-`));
  const f = (name: string) => new RegExp(`${name}:\\s+(\\d+)`).exec(rest)?.[1];
  return `rss ${f('Rss')} private ${f('Private_Hugetlb')} pagesize ${f('KernelPageSize')} name ${rest.split('\n')[0].split(/\s+/).slice(5).join(' ')}`;
}

/** MAP_HUGETLB mappings of the 4-page 2 MiB pool: reservations, faults, alignment, SIGBUS. */
function mappings(out: string[]): void {
  const p = U.mmap(0, 3 << 20, RW, HUGE); // rounded up to two huge pages, both reserved
  out.push(`mmap aligned ${p % H === 0} ${pool()}`);
  const c0 = U.counters();
  U.store8(p + 5, 7);
  for (let off = 0; off < H; off += P) U.store8(p + off + 1, 1);
  const c1 = U.counters();
  const status = /HugetlbPages:\s+(\d+)/.exec(U.readFile('/proc/self/status'))?.[1];
  out.push(`touched ${pool()} faults ${c1.page_faults - c0.page_faults} 2m-walks ${c1['dtlb_store_misses.walk_completed_2m_4m'] - c0['dtlb_store_misses.walk_completed_2m_4m'] > 0} ${smaps(p)} status ${status}`);
  // Shrinking the pool below what is in use (one page faulted, one reserved) leaves those
  // as surplus; growing it again makes them persistent.
  set(`${POOL2M}/nr_hugepages`, '0');
  const surplus = `nr ${read(`${POOL2M}/nr_hugepages`)} total ${meminfo('HugePages_Total')} surp ${meminfo('HugePages_Surp')} ${read(`${POOL2M}/surplus_hugepages`)}`;
  set(`${POOL2M}/nr_hugepages`, '4');
  out.push(`surplus ${surplus} regrown total ${meminfo('HugePages_Total')} surp ${meminfo('HugePages_Surp')} ${pool()}`);
  out.push(`errors fixed ${code(() => U.mmap(p + 4 * H + P, H, RW, HUGE | U.MAP_FIXED))} munmap ${code(() => U.munmap(p + P, P))} mprotect ${code(() => U.mprotect(p, P, U.PROT_READ))} free ${code(() => U.madvise(p, H, U.MADV_FREE))} mremap ${code(() => U.mremap(p, 2 * H, 4 * H, U.MREMAP_MAYMOVE))} over ${code(() => U.mmap(0, 4 * H, RW, HUGE))} 1g ${code(() => U.mmap(0, 1 << 30, RW, HUGE | (30 << U.MAP_HUGE_SHIFT)))} fixed-over ${code(() => U.mmap(p + P, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED))} move-across ${code(() => {
    U.mmap(p - P, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED_NOREPLACE); // a VMA right below
    try {
      U.mremap(p - P, P + 2 * H, P + 2 * H, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, p + 8 * H);
    } finally {
      U.munmap(p - P, P);
    }
  })}`);
  // MAP_NORESERVE: no reservation; a fault the pool cannot serve is SIGBUS (in a child,
  // whose handler reports which page and exits).
  const w = U.waitpid(U.spawn(U.programPath(), ['bus']));
  out.push(`noreserve child exit ${w.exitCode} ${pool()}`);
  // MADV_DONTNEED rounds its end down to a huge page: p + H + P drops only the first page;
  // an unaligned start is EINVAL.
  U.store8(p + H + 5, 9);
  out.push(`dontneed ${code(() => U.madvise(p + P, H, U.MADV_DONTNEED))} ${code(() => U.madvise(p, H + P, U.MADV_DONTNEED))} data ${U.load8(p + 5)} ${U.load8(p + H + 5)}`);
  U.store8(p + 5, 7);
  // Whole huge pages: mprotect and munmap at page boundaries work; data stays.
  U.mprotect(p, H, U.PROT_READ);
  out.push(`protect data ${U.load8(p + 5)} write ${code(() => U.mprotect(p, H, RW))}`);
  U.store8(p + 6, 8);
  U.munmap(p + H, H);
  out.push(`half ${pool()} data ${U.load8(p + 5)} ${U.load8(p + 6)}`);
  U.munmap(p, H);
  out.push(`unmapped ${pool()}`);
  // MAP_SHARED: the pages belong to the mapping (an unnamed hugetlbfs file).
  const sh = U.mmap(0, H, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_HUGETLB);
  U.store32(sh + 100, 4242);
  out.push(`shared ${U.load32(sh + 100)} ${pool()} ${U.readFile('/proc/self/maps').includes('rw-s') ? 'rw-s' : '?'}`);
  U.munmap(sh, H);
  out.push(`end ${pool()}`);
  // A file on the hugetlbfs mount: its pages outlive the mapping and the descriptor while
  // it has a name; unlink frees them.
  const fd = U.open('/dev/hugepages/db', U.O_CREAT | U.O_RDWR, 0o600);
  U.ftruncate(fd, 2 * H);
  const f = U.mmap(0, 2 * H, RW, U.MAP_SHARED, fd, 0);
  U.store32(f + H + 8, 777);
  U.munmap(f, 2 * H);
  U.close(fd);
  const again = U.open('/dev/hugepages/db', U.O_RDWR);
  const g = U.mmap(0, 2 * H, RW, U.MAP_SHARED, again, 0);
  out.push(`hugetlbfs kept ${U.load32(g + H + 8)} size ${U.fstat(again).size} ${pool()}`);
  // Truncating while mapped unmaps the pages past the new end from every mapping.
  const cut = code(() => U.ftruncate(again, H));
  const vec = U.mmap(0, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  U.syscall(U.SYS_mincore, g, 2 * H, vec);
  const resident = Array.from(U.readBytes(vec, 1024)).filter((b) => b === 1).length;
  U.munmap(vec, P);
  out.push(`hugetlbfs truncated ${cut} ${pool()} resident pages ${resident}`);
  U.munmap(g, 2 * H);
  U.close(again);
  U.unlink('/dev/hugepages/db');
  out.push(`hugetlbfs unlinked ${pool()}`);
}

/** The child of the MAP_NORESERVE case: touch huge pages until the pool runs dry. */
function bus(): number {
  const n = U.mmap(0, 4 * H, RW, HUGE | U.MAP_NORESERVE);
  let page = 0;
  U.sigaction(U.SIGBUS, (info) => {
    U.print(`child SIGBUS at huge page ${(info.addr - n) / H} after ${page} (${pool()})`);
    U.exitGroup(0);
  });
  for (; page < 4; page++) U.store8(n + page * H, 1);
  return 1;
}

export default function main(argv: string[]): number {
  if (argv[0] === 'bus') return bus();
  const out: string[] = [];
  const free0 = meminfo('MemFree');
  out.push(`set ${set(`${POOL2M}/nr_hugepages`, '4\n')} bogus ${set(`${POOL2M}/nr_hugepages`, 'many')} read-only ${set(`${POOL2M}/free_hugepages`, '1')}`);
  out.push(`pool ${read(`${POOL2M}/nr_hugepages`)} free ${read(`${POOL2M}/free_hugepages`)} resv ${read(`${POOL2M}/resv_hugepages`)}`);
  out.push(`meminfo total ${meminfo('HugePages_Total')} free ${meminfo('HugePages_Free')} size ${meminfo('Hugepagesize')} hugetlb ${meminfo('Hugetlb')} memfree-drop ${free0 - meminfo('MemFree')}`);
  // A 1 GiB page cannot come out of a 128 MiB machine: the pool stays empty.
  out.push(`1g ${set(`${POOL1G}/nr_hugepages`, '1')} pool ${read(`${POOL1G}/nr_hugepages`)}`);
  mappings(out);
  set(`${POOL2M}/nr_hugepages`, '0');
  out.push(`shrunk ${read(`${POOL2M}/nr_hugepages`)} memfree-back ${meminfo('MemFree') === free0}`);
  print(out.join('\n'));
  return 0;
}
