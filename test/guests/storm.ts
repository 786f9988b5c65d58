// A spawn storm: the parent starts children as fast as it can and reaps them, for ever;
// each child exits at once. Used to crash the kernel while workers start and exit.
import { programPath, spawn, waitpid } from 'ptlab/userland';

export default function main(argv: string[]): number {
  if (argv[0] === 'child') return 0;
  for (;;) {
    const pids: number[] = [];
    for (let i = 0; i < 4; i++) pids.push(spawn(programPath(), ['child']));
    for (const pid of pids) waitpid(pid);
  }
}
