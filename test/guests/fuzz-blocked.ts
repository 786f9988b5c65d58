// A process that never ends. With no argument it reads from its own empty pipe, whose write
// end it holds, so the read blocks for good, as it would on Linux: the fuzz run ends it as
// a deadlock of its own. With 'wait' it starts such a process and waits for it: a wait4
// that never returns, which the fuzz watchdog must call a hang while the kernel stays
// responsive (test/tools/fuzz-watchdog.test.ts).
import { pipe, programPath, readSome, spawn, waitpid } from 'ptlab/userland';

export default function main(argv: string[]): number {
  if (argv[0] === 'wait') {
    waitpid(spawn(programPath()));
    return 0;
  }
  const [r] = pipe();
  readSome(r);
  return 0;
}
