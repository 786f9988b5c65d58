// A guest that dies of its own access or system call, at a line of its own marked with a
// comment naming the way (test/host/reports.test.ts looks the line up), so that the death's
// report can be checked to name it: 'segv' stores to an address nothing maps; 'bus' loads
// past the end of a memfd mapping after the file was truncated under it; 'thread' is 'segv'
// in a second thread, with the main thread waiting for it; 'oops' makes the kernel meet a
// bug in its write system call (lkdtm's BUG: the machine needs --lkdtm).
import {
  accessors, ftruncate, MAP_SHARED, memfdCreate, mmap, PROT_READ, PROT_WRITE, threadCreate, threadJoin, writeFile,
} from 'ptlab/userland';

const P = 4096;

function storeUnmapped(): void {
  const { store32 } = accessors();
  store32(0x10, 7); // dies: segv
}

function loadTruncated(): number {
  const { load32, store32 } = accessors();
  const fd = memfdCreate('dies');
  ftruncate(fd, 2 * P);
  const p = mmap(0, 2 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  store32(p + P, 1);
  ftruncate(fd, P);
  return load32(p + P); // dies: bus
}

function provokeBug(): void {
  writeFile('/sys/kernel/debug/provoke-crash/DIRECT', 'BUG'); // dies: oops
}

export function thread(): number {
  storeUnmapped();
  return 0;
}

export default function main(argv: string[]): number {
  const how = argv[0];
  if (how === 'segv') storeUnmapped();
  else if (how === 'bus') loadTruncated();
  else if (how === 'thread') threadJoin(threadCreate('thread'));
  else if (how === 'oops') provokeBug();
  else throw new Error(`unknown way to die: ${how}`);
  return 0;
}
