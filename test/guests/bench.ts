// The guest side of test/bench/kernel.bench.ts: a process that runs timed batches on request
// (over a BroadcastChannel) and reports the time per operation measured on its own CPU.
import { getpid, MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, PROT_READ, PROT_WRITE, store8 } from 'ptlab/userland';

export default function main(): Promise<number> {
  const ch = new BroadcastChannel('ptlab-bench');
  return new Promise((resolve) => {
    ch.onmessage = (ev: MessageEvent) => {
      const { op, n } = ev.data as { op: string; n: number };
      if (op === 'stop') {
        ch.close();
        resolve(0);
        return;
      }
      let perOp = 0;
      if (op === 'getpid') {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) getpid();
        perOp = (performance.now() - t0) / n;
      } else if (op === 'fault') {
        const p = mmap(0, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        store8(p, 1); // the page tables exist: what follows is one fault per page
        const t0 = performance.now();
        for (let i = 1; i < n; i++) store8(p + i * 4096, 1);
        perOp = (performance.now() - t0) / (n - 1);
        munmap(p, n * 4096);
      }
      ch.postMessage({ op, perOp });
    };
    ch.postMessage({ op: 'ready', perOp: 0 });
  });
}
