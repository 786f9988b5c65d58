// Guest for the reclaim benchmark (test/bench/reclaim.bench.ts): sweeps over a working set
// of MIB MiB of 4 KiB pages, writing a word in each page it visits, and reports the faults,
// the pages reclaimed and the swap traffic of the sweep with its host time, as JSON.
//   main([mode, mib, passes]): mode 'seq' visits the pages in order `passes` times, 'rand'
//   visits passes x pages random pages.
import {
  accessors, madvise, MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, print, PROT_READ, PROT_WRITE, readFile,
} from 'ptlab/userland';

const P = 4096;

function vmstat(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFile('/proc/vmstat').split('\n')) {
    const [name, v] = line.split(' ');
    if (name) out[name] = Number(v);
  }
  return out;
}

export default function main(argv: string[]): number {
  const [mode, mib, passes] = [argv[0], Number(argv[1]), Number(argv[2] ?? 1)];
  const pages = mib * 256;
  const base = mmap(0, pages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  madvise(base, pages * P, MADV_NOHUGEPAGE);
  const { store32 } = accessors();
  const before = vmstat();
  const t0 = performance.now();
  if (mode === 'seq') {
    for (let p = 0; p < passes; p++) for (let i = 0; i < pages; i++) store32(base + i * P, i + p);
  } else {
    let x = 12345;
    for (let n = 0; n < passes * pages; n++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      store32(base + (x % pages) * P, n);
    }
  }
  const ms = performance.now() - t0;
  const after = vmstat();
  const d = (name: string) => after[name] - before[name];
  munmap(base, pages * P);
  print(JSON.stringify({
    mode, pages, ms, faults: d('pgfault'), major: d('pgmajfault'), reclaimed: d('pgsteal_kswapd') + d('pgsteal_direct'),
    pswpin: d('pswpin'), pswpout: d('pswpout'), allocstall: d('allocstall_normal'),
  }));
  return 0;
}
