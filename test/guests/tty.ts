// isatty() on the console's fds, then a progress display run to its end (what it draws
// depends on the host's clock: test/host/progress.test.ts checks the drawing itself).
import { isatty, print, progress } from 'ptlab/userland';

export default function main(): number {
  const p = progress('tty', 3);
  for (let i = 1; i <= 3; i++) p.update(i, `step ${i}`);
  p.finish();
  print(`isatty ${[0, 1, 2, 7].map((fd) => isatty(fd)).join(' ')}`);
  return 0;
}
