// The guest side of test/bench/scale.bench.ts: one of the processes (the first `procs` of
// them) that run the same batch at once on request (over a BroadcastChannel) and report when their batch started and ended,
// in host milliseconds (performance.timeOrigin + now), so the bench can take the aggregate
// rate over the window from the first start to the last end.
import { getpid, MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, PROT_READ, PROT_WRITE, store8 } from 'ptlab/userland';

type Op = { op: 'fault' | 'getpid' | 'stop'; n: number; procs: number };

/** Run one batch of `n` operations; first-touch faults go to fresh anonymous memory. */
function batch(op: Op['op'], n: number): [number, number] {
  if (op === 'getpid') {
    const t0 = performance.timeOrigin + performance.now();
    for (let i = 0; i < n; i++) getpid();
    return [t0, performance.timeOrigin + performance.now()];
  }
  const p = mmap(0, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  store8(p, 1); // the page tables exist: what follows is one fault per page
  const t0 = performance.timeOrigin + performance.now();
  for (let i = 1; i < n; i++) store8(p + i * 4096, 1);
  const t1 = performance.timeOrigin + performance.now();
  munmap(p, n * 4096);
  return [t0, t1];
}

export default function main(argv: string[]): Promise<number> {
  const ch = new BroadcastChannel('ptlab-scale');
  const id = Number(argv[0]);
  return new Promise((resolve) => {
    ch.onmessage = (ev: MessageEvent) => {
      const { op, n, procs } = ev.data as Op;
      if (op === 'stop') {
        ch.close();
        resolve(0);
        return;
      }
      if ((op !== 'fault' && op !== 'getpid') || id >= procs) return; // another guest's report, or not in this round
      const [t0, t1] = batch(op, n);
      ch.postMessage({ op: 'done', id, t0, t1 });
    };
    ch.postMessage({ op: 'ready', id });
  });
}
