// Guest programs for the pipe tests on real workers: `main(argv)` runs scenario argv[0].
// Each prints one line of results and returns 0 if what it saw is what Linux does.
import {
  close, exitGroup, F_GETFD, F_SETFL, fcntl, fork, kill, MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, O_CLOEXEC, O_NONBLOCK,
  pipe, print, PROT_READ, PROT_WRITE, programPath, readAll, readSome, SIGKILL, SIGPIPE, sigaction, spawn, SYS_write,
  syscall, SyscallError, threadCreate, threadJoin, waitpid, writeAll,
} from 'ptlab/userland';

const errCode = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof SyscallError ? e.code : String(e);
  }
};

/** Byte i of the bulk stream. */
const pattern = (i: number): number => (i * 131 + (i >> 12)) & 0xff;

export function bulkWriter(arg: { r: number; w: number; total: number }): number {
  close(arg.r);
  for (let at = 0; at < arg.total; at += 8192) {
    const n = Math.min(8192, arg.total - at);
    writeAll(arg.w, Uint8Array.from({ length: n }, (_, i) => pattern(at + i)));
  }
  return 0;
}

/** 1 MiB from a child through a 64 KiB pipe: the writer blocks on a full pipe, the reader on an empty one. */
function bulk(): number {
  const total = 1 << 20;
  const [r, w] = pipe();
  const pid = fork('bulkWriter', { r, w, total });
  close(w);
  let n = 0;
  let bad = 0;
  for (let b = readSome(r, 3000); b.length > 0; b = readSome(r, 3000)) {
    for (let i = 0; i < b.length; i++) if (b[i] !== pattern(n + i)) bad++;
    n += b.length;
  }
  const st = waitpid(pid);
  print(`bulk read ${n} bad ${bad} exit ${st.exitCode}`);
  return n === total && bad === 0 && st.exitCode === 0 ? 0 : 1;
}

export function recordWriter(arg: { r: number; w: number; byte: number; size: number; count: number }): number {
  close(arg.r);
  const rec = new Uint8Array(arg.size).fill(arg.byte);
  for (let i = 0; i < arg.count; i++) writeAll(arg.w, rec);
  return 0;
}

/** Two writers of records of at most PIPE_BUF bytes: the reader sees each record whole. */
function atomic(): number {
  const [r, w] = pipe();
  const a = fork('recordWriter', { r, w, byte: 0x41, size: 4096, count: 200 });
  const b = fork('recordWriter', { r, w, byte: 0x42, size: 1000, count: 600 });
  close(w);
  const s = readAll(r);
  const seen = { A: 0, B: 0, torn: 0 };
  for (let i = 0; i < s.length;) {
    const size = s[i] === 0x41 ? 4096 : 1000;
    let whole = i + size <= s.length;
    for (let j = i; whole && j < i + size; j++) whole = s[j] === s[i];
    if (!whole) {
      seen.torn++;
      break;
    }
    if (s[i] === 0x41) seen.A++;
    else seen.B++;
    i += size;
  }
  const ok = [waitpid(a).exitCode, waitpid(b).exitCode];
  print(`atomic A ${seen.A} B ${seen.B} torn ${seen.torn} exits ${ok.join(' ')}`);
  return seen.A === 200 && seen.B === 600 && seen.torn === 0 ? 0 : 1;
}

export function lonelyWriter(arg: { r: number; w: number; ignore: boolean; len: number; readySignal: number }): number {
  close(arg.r);
  if (arg.ignore) sigaction(SIGPIPE, 'ignore');
  return errCode(() => writeAll(arg.w, new Uint8Array(arg.len))) === 'EPIPE' ? 7 : 8;
}

/**
 * SIGPIPE: a write with no reader kills by default; ignored, the write fails with EPIPE; a
 * writer blocked on a full pipe gets it when the last reader closes.
 */
function sigpipe(): number {
  const out: string[] = [];
  for (const [ignore, len] of [[false, 1], [true, 1], [false, 100000]] as const) {
    const [r, w] = pipe();
    const pid = fork('lonelyWriter', { r, w, ignore, len });
    close(w);
    if (len > 1) readSome(r, 10); // it has started writing; 100000 bytes cannot fit: it blocks or will
    close(r);
    const st = waitpid(pid);
    out.push(st.signal !== null ? `signal ${st.signal}` : `exit ${st.exitCode}`);
  }
  print(`sigpipe ${out.join(', ')}`);
  return out.join() === `signal ${SIGPIPE},exit 7,signal ${SIGPIPE}` ? 0 : 1;
}

export function blockedReader(arg: { r: number; ready: number }): number {
  writeAll(arg.ready, 'r');
  readSome(arg.r, 10); // nobody writes: blocks until killed
  return 3;
}

/** A reader blocked in another process is killed by SIGKILL; the pipe is still usable. */
function killBlocked(): number {
  const [r, w] = pipe();
  const [rr, rw] = pipe();
  const pid = fork('blockedReader', { r, ready: rw });
  readSome(rr, 1);
  kill(pid, SIGKILL);
  const st = waitpid(pid);
  writeAll(w, 'still');
  const got = new TextDecoder().decode(readSome(r, 10));
  print(`kill signal ${st.signal} then ${got}`);
  return st.signal === SIGKILL && got === 'still' ? 0 : 1;
}

export function readerThread(arg: { r: number; ready: number }): number {
  writeAll(arg.ready, 't');
  return readSome(arg.r, 100).length;
}

export function exitWhileBlocked(arg: { r: number; ready: number; readyR: number }): number {
  threadCreate('readerThread', arg);
  readSome(arg.readyR, 1); // its thread is about to block (or has)
  return exitGroup(5);
}

/** Threads: one blocks reading while another writes; exit_group ends a process whose thread blocks. */
function threads(): number {
  const [r, w] = pipe();
  const [rr, rw] = pipe();
  const tid = threadCreate('readerThread', { r, ready: rw });
  readSome(rr, 1);
  writeAll(w, 'twelve bytes');
  const got = threadJoin(tid);
  const pid = fork('exitWhileBlocked', { r, ready: rw, readyR: rr });
  const st = waitpid(pid);
  print(`threads read ${got} exit_group ${st.exitCode}`);
  return got === 12 && st.exitCode === 5 ? 0 : 1;
}

/** O_NONBLOCK by pipe2 and by F_SETFL: EAGAIN on an empty pipe, a short write on a full one. */
function nonblock(): number {
  const [r, w] = pipe();
  const before = errCode(() => fcntl(r, F_SETFL, O_NONBLOCK));
  const empty = errCode(() => readSome(r, 10));
  const [r2, w2] = pipe(O_NONBLOCK);
  const wrote = writeAll2(w2, 1 << 20);
  print(`nonblock ${before} ${empty} wrote ${wrote} full ${errCode(() => writeAll(w2, 'x'))}`);
  close(w);
  close(r2);
  return empty === 'EAGAIN' && wrote === 65536 ? 0 : 1;
}

/** One write(2) of n bytes: what it took, or -errno. */
function writeAll2(fd: number, n: number): number {
  const buf = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const r = syscall(SYS_write, fd, buf, n);
  munmap(buf, n);
  return r;
}

/** Spawned: writes to the descriptor it inherited, and checks the close-on-exec one is gone. */
function spawned(argv: string[]): number {
  const w = Number(argv[1]);
  const gone = errCode(() => fcntl(Number(argv[2]), F_GETFD));
  writeAll(w, `inherited ${w}, close-on-exec ${gone}`);
  return 0;
}

function spawnScenario(): number {
  const [r, w] = pipe();
  const [r2, w2] = pipe(O_CLOEXEC);
  const pid = spawn(programPath(), ['spawned', String(w), String(w2)]);
  close(w);
  const text = new TextDecoder().decode(readAll(r));
  const st = waitpid(pid);
  print(`spawn ${text} exit ${st.exitCode}`);
  close(r2);
  return text === `inherited ${w}, close-on-exec EBADF` ? 0 : 1;
}

export default function main(argv: string[]): number {
  switch (argv[0]) {
    case 'bulk': return bulk();
    case 'atomic': return atomic();
    case 'sigpipe': return sigpipe();
    case 'kill': return killBlocked();
    case 'threads': return threads();
    case 'nonblock': return nonblock();
    case 'spawn': return spawnScenario();
    case 'spawned': return spawned(argv);
    default: throw new Error(`no scenario ${argv[0]}`);
  }
}
