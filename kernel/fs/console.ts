// The console: a process's standard streams (fds 0 to 2). Reading fd 0 is end of file;
// writes to 1 and 2 go to the host as messages labelled with the pid (a tty driver's
// place in Linux). /proc/PID/fd/0 to 2 link to "/dev/pts/0", as for a program started from
// a terminal (fstat shows a pseudo-terminal's mode, crw--w----); /dev/pts is not in the VFS,
// but opening /proc/PID/fd/N reopens the console.

import type { ToHost } from '../messages.ts';
import * as U from '../uapi.ts';
import { File, type FileOps } from './file.ts';

/** Bytes one 'out' message carries at most. */
const CHUNK = 1 << 16;

/** Standard input (fd 0), output (1) or error (2) of process `pid`, written through `send`. */
export function consoleFile(send: (m: ToHost) => void, pid: number, fd: number): File {
  const ops: FileOps = {
    seekable: false,
    read: () => new Uint8Array(0),
    write: (_f, data) => {
      for (let at = 0; at < data.length; at += CHUNK) send({ t: 'out', pid, fd, data: data.subarray(at, Math.min(data.length, at + CHUNK)) });
      return data.length;
    },
    getattr: () => ({ mode: U.S_IFCHR | 0o620, ino: 0, nlink: 1, size: 0, blocks: 0 }),
    dname: () => '/dev/pts/0',
    reopen: (_f, flags) => new File(ops, flags),
  };
  return new File(ops, fd === 0 ? U.O_RDONLY : U.O_WRONLY);
}
