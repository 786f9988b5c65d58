// The console: a process's standard streams (fds 0 to 2). Reading fd 0 is end of file;
// writes to 1 and 2 go to the host as messages labelled with the pid (a tty driver's
// place in Linux). /proc/PID/fd/0 to 2 link to "/dev/pts/0", as for a program started from
// a terminal (fstat shows a pseudo-terminal's mode, crw--w----); /dev/pts is not in the VFS,
// but opening /proc/PID/fd/N reopens the console. A stream that is a terminal on the host
// answers TCGETS (isatty) with tty_std_termios's flags; the others are not a tty (ENOTTY),
// as a pipe or a file.

import type { ToHost } from '../messages.ts';
import * as U from '../uapi.ts';
import { File, type FileOps } from './file.ts';

/** Bytes one 'out' message carries at most. */
const CHUNK = 1 << 16;

/** tty_std_termios's c_iflag (ICRNL IXON), c_oflag (OPOST ONLCR), c_cflag (B38400 CS8 CREAD HUPCL), c_lflag. */
const TERMIOS_FLAGS = [0x500, 0x5, 0x4bf, 0x8a3b];

/**
 * Standard input (fd 0), output (1) or error (2) of process `pid`, written through `send`;
 * `terminal` when the host's stream is a terminal.
 */
export function consoleFile(send: (m: ToHost) => void, pid: number, fd: number, terminal = false): File {
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
    ioctl: (_f, cmd, arg, io) => {
      if (cmd !== U.TCGETS || !terminal) return -U.ENOTTY;
      // struct termios: four u32 flag words, c_line, c_cc[19] (left zero).
      const t = new Uint8Array(36);
      TERMIOS_FLAGS.forEach((v, i) => new DataView(t.buffer).setUint32(i * 4, v, true));
      return io.copyTo(arg, t);
    },
  };
  return new File(ops, fd === 0 ? U.O_RDONLY : U.O_WRONLY);
}
