// The guest side of test/bench/kernel.bench.ts: a process that runs timed batches on request
// (over a BroadcastChannel) and reports the time per operation measured on its own CPU.
import { fork, getpid, MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, PROT_READ, PROT_WRITE, store8, waitpid } from 'ptlab/userland';

/** The fork benchmark's child: nothing to do. */
export function forkChild(): number {
  return 0;
}

/** 64 MiB of touched anonymous memory for the fork benchmark, made at its first use. */
const FORK_BYTES = 64 << 20;
let forkImage = 0;

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
      } else if (op === 'touch64') {
        // mmap + first touch of as many pages as the fork benchmark's process has: per run, in ms.
        const t0 = performance.now();
        const p = mmap(0, FORK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        for (let off = 0; off < FORK_BYTES; off += 4096) store8(p + off, 1);
        perOp = performance.now() - t0;
        munmap(p, FORK_BYTES);
      } else if (op === 'fork64') {
        // fork of this process with 64 MiB touched: the clone call alone, in ms.
        if (forkImage === 0) {
          forkImage = mmap(0, FORK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
          for (let off = 0; off < FORK_BYTES; off += 4096) store8(forkImage + off, 1);
        }
        const t0 = performance.now();
        const pid = fork('forkChild');
        perOp = performance.now() - t0;
        waitpid(pid);
      }
      ch.postMessage({ op, perOp });
    };
    ch.postMessage({ op: 'ready', perOp: 0 });
  });
}
