// hugetlb PMD sharing from guests: processes that map the same hugetlbfs file (a memfd with
// MFD_HUGETLB, inherited across spawn) at 1 GiB-aligned addresses share its page directory.
import * as U from 'ptlab/userland';
import { counters, load32, print, store32 } from 'ptlab/userland';
import { code } from './util.ts';

const G = 2 ** 30;
const H = 2 << 20;
const RW = U.PROT_READ | U.PROT_WRITE;
const POOL = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';

/** Read the first word of huge pages 0-3 at base; the faults that took. */
function readPages(base: number): string {
  const f0 = counters().page_faults;
  const vals = [0, 1, 2, 3].map((i) => load32(base + i * H));
  return `${vals.join(',')} faults ${counters().page_faults - f0}`;
}

function child(argv: string[]): number {
  const [fd, at] = argv.slice(2).map(Number);
  const p = U.mmap(at, G, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0);
  const first = readPages(p);
  if (argv[1] === 'aligned') {
    // mprotect unshares (the others keep write access); this CPU's stale writable entries
    // for the whole GiB were flushed, so the write below faults.
    U.mprotect(p, G, U.PROT_READ);
    const again = readPages(p);
    U.sigaction(U.SIGSEGV, (info) => {
      print(`child aligned ${first}; after mprotect ${again}; write SIGSEGV code ${info.code}`);
      U.exitGroup(0);
    });
    store32(p, 1);
    return 1;
  }
  print(`child ${argv[1]} ${first}`);
  return 0;
}

export default function main(argv: string[]): number {
  if (argv[0] === 'child') return child(argv);
  U.writeFile(POOL, '600');
  const fd = U.memfdCreate('db', U.MFD_HUGETLB);
  const out = [`truncate odd ${code(() => U.ftruncate(fd, G + 4096))} ok ${code(() => U.ftruncate(fd, 2 * G))}`];
  const p = U.mmap(2 * G, G, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0);
  for (let i = 0; i < 4; i++) store32(p + i * H, 100 + i);
  out.push(U.readFile('/proc/self/maps').split('\n').find((l) => l.includes('memfd:db'))?.replace(/^\S+/, 'range') ?? 'no maps line');
  const run = (how: string, at: number) => U.waitpid(U.spawn(U.programPath(), ['child', how, String(fd), String(at)])).exitCode;
  out.push(`aligned child exit ${run('aligned', 5 * G)}`);
  // Not at the same offset within 1 GiB: no sharing, a fault per page.
  out.push(`unaligned child exit ${run('unaligned', 7 * G + H)}`);
  // The parent's mapping is intact and writable after the children unshared and left.
  store32(p + H, 555);
  out.push(`parent ${readPages(p)} free ${U.readFile('/proc/meminfo').match(/HugePages_Free:\s+(\d+)/)?.[1]}`);
  U.munmap(p, G);
  U.close(fd);
  U.writeFile(POOL, '0');
  print(out.join('\n'));
  return 0;
}
