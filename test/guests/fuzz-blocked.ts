// A process that never ends: it reads from its own empty pipe, whose write end it holds, so
// the read blocks for good. The fuzz watchdog's test (test/tools/fuzz-watchdog.test.ts)
// must call that a hang while the kernel stays responsive.
import { pipe, readSome } from 'ptlab/userland';

export default function main(): number {
  const [r] = pipe();
  readSome(r);
  return 0;
}
