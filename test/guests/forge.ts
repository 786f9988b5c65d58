// A guest that forges a request in its own CPU's slot of the control block, reached the way
// the README's threat model says hostile code can: the CPU object at Symbol.for('ptlab.cpu').
// argv[0] picks the forgery; the kernel must kill this process (SIGSYS) and go on.
// 'bystander' instead keeps a word in its memory and checks it after 'stop' arrives on the
// BroadcastChannel named argv[1].
import { CPU_ARGS, CPU_SYSNO, cpuF64Base, cpuI32Base, REQ_SYSCALL } from '../../machine/layout.ts';
import { load32, MAP_ANONYMOUS, MAP_PRIVATE, mmap, print, PROT_READ, PROT_WRITE, store32 } from 'ptlab/userland';

interface CpuInside {
  cpu: number;
  i32: Int32Array;
  f64: Float64Array;
  enter(req: number): void;
  trap(va: number, code: number): void;
}

const FORGERIES: Record<string, (c: CpuInside) => void> = {
  req: (c) => c.enter(99),
  nr: (c) => {
    c.i32[cpuI32Base(c.cpu) + CPU_SYSNO] = -7;
    c.enter(REQ_SYSCALL);
  },
  code: (c) => c.trap(0x10000, 1 << 20),
  va: (c) => c.trap(NaN, 6),
  args: (c) => {
    for (let i = 0; i < 6; i++) c.f64[cpuF64Base(c.cpu) + CPU_ARGS + i] = NaN;
    c.i32[cpuI32Base(c.cpu) + CPU_SYSNO] = 9; // mmap(NaN, ...): an errno, not a kill
    c.enter(REQ_SYSCALL);
    print(`mmap(NaN x6) = ${c.f64[cpuF64Base(c.cpu) + 7]}`);
  },
};

function bystander(channel: string): Promise<number> {
  const p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  store32(p, 0x5eed);
  const ch = new BroadcastChannel(channel);
  return new Promise((resolve) => {
    ch.onmessage = (ev: MessageEvent) => {
      if (ev.data !== 'stop') return;
      ch.close();
      print(`bystander read 0x${load32(p).toString(16)}`);
      resolve(0);
    };
    ch.postMessage('ready');
  });
}

export default function main(argv: string[]): number | Promise<number> {
  if (argv[0] === 'bystander') return bystander(argv[1]);
  const c = (globalThis as Record<symbol, unknown>)[Symbol.for('ptlab.cpu')] as CpuInside;
  FORGERIES[argv[0]](c);
  print('still running');
  return 0;
}
