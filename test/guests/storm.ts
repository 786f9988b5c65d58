// A spawn storm: the parent starts children as fast as it can and reaps them, for ever;
// each child exits at once. Used to crash the kernel, or signal the host, while workers
// start and exit. With argv[0] 'announce' it prints "storming" once the first round of
// children has come and gone.
import { print, programPath, spawn, waitpid } from 'ptlab/userland';

export default function main(argv: string[]): number {
  if (argv[0] === 'child') return 0;
  for (let round = 0; ; round++) {
    const pids: number[] = [];
    for (let i = 0; i < 4; i++) pids.push(spawn(programPath(), ['child']));
    for (const pid of pids) waitpid(pid);
    if (round === 0 && argv[0] === 'announce') print('storming');
  }
}
