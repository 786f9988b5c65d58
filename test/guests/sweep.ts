// Guest for the reclaim benchmark (test/bench/reclaim.bench.ts): sweeps over a working set
// of MIB MiB of 4 KiB pages, writing a word in each page it visits, and reports the faults,
// the pages reclaimed and the swap traffic of the sweep with its host time, as JSON.
//   main([mode, mib, passes]): mode 'seq' visits the pages in order `passes` times, 'rand'
//   visits passes x pages random pages, 'fresh' maps, first-touches in order and unmaps the
//   set `passes` times (every visit a first-touch fault; only the touching is timed).
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
  const map = (): number => {
    const at = mmap(0, pages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    madvise(at, pages * P, MADV_NOHUGEPAGE);
    return at;
  };
  const { store32 } = accessors();
  let base = map();
  const before = vmstat();
  let t0 = performance.now();
  let spent = 0;
  if (mode === 'fresh') {
    for (let p = 0; p < passes; p++) {
      if (p > 0) {
        spent += performance.now() - t0;
        munmap(base, pages * P);
        base = map();
        t0 = performance.now();
      }
      for (let i = 0; i < pages; i++) store32(base + i * P, i + p);
    }
  } else if (mode === 'seq') {
    for (let p = 0; p < passes; p++) for (let i = 0; i < pages; i++) store32(base + i * P, i + p);
  } else {
    // xorshift32: a power-of-two modulus of an LCG would visit every page exactly once.
    let x = 2463534242;
    for (let n = 0; n < passes * pages; n++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      store32(base + ((x >>> 0) % pages) * P, n);
    }
  }
  const ms = spent + performance.now() - t0;
  const after = vmstat();
  const d = (name: string) => after[name] - before[name];
  munmap(base, pages * P);
  print(JSON.stringify({
    mode, pages, ms, faults: d('pgfault'), major: d('pgmajfault'), reclaimed: d('pgsteal_kswapd') + d('pgsteal_direct'),
    pswpin: d('pswpin'), pswpout: d('pswpout'), allocstall: d('allocstall_normal'),
  }));
  return 0;
}
