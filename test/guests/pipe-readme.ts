// The README's pipe example, as written there: a child process writes into a pipe, its
// parent reads until end of file.
import { close, fork, pipe, print, readAll, waitpid, writeAll } from 'ptlab/userland';

/** The child: writes a line into the pipe and returns (its exit closes the write end). */
export function child(arg: { r: number; w: number }): number {
  close(arg.r);
  writeAll(arg.w, 'hello through a pipe\n');
  return 0;
}

export default function main(): number {
  const [r, w] = pipe();
  const pid = fork('child', { r, w });
  close(w); // else the read below would wait for this end too
  const text = new TextDecoder().decode(readAll(r)); // blocks until the child writes; ends when it exits
  print(`parent got: ${text.trim()}`);
  return waitpid(pid).exitCode ?? 1;
}
