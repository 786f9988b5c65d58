// Guest of test/bench/procs.bench.ts: many of these fault at once. On each 'go' over the
// BroadcastChannel named argv[0], first-touch argv[1] pages of private anonymous memory (no
// THP) in chunks of argv[2] pages (map, touch every page, unmap), and post the host times
// (ms since the epoch, so that the bench can compare processes) at which it began and ended.
import { accessors, madvise, MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, PROT_READ, PROT_WRITE } from 'ptlab/userland';

const P = 4096;

export default function main(argv: string[]): Promise<number> {
  const ch = new BroadcastChannel(argv[0]);
  const pages = Number(argv[1]);
  const chunk = Number(argv[2] ?? pages);
  const { store32 } = accessors();
  return new Promise((resolve) => {
    ch.onmessage = (ev: MessageEvent) => {
      const { op, round } = ev.data as { op: string; round: number };
      if (op === 'stop') {
        ch.close();
        resolve(0);
        return;
      }
      if (op !== 'go') return;
      const t0 = performance.timeOrigin + performance.now();
      for (let done = 0; done < pages; done += chunk) {
        const n = Math.min(chunk, pages - done);
        const base = mmap(0, n * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        madvise(base, n * P, MADV_NOHUGEPAGE);
        for (let i = 0; i < n; i++) store32(base + i * P, i);
        munmap(base, n * P);
      }
      const t1 = performance.timeOrigin + performance.now();
      ch.postMessage({ op: 'done', round, t0, t1 });
    };
    ch.postMessage({ op: 'ready', round: -1 });
  });
}
