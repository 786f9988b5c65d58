// /proc/self/fd from a guest, using only what README.md documents: readlink of its own
// descriptors, a memfd reopened read-only through /proc/self/fd/N, and the fd directory's
// listing. Prints one line per check; the test compares them.
import {
  close, fstat, getdents64, getpid, MAP_ANONYMOUS, MAP_PRIVATE, memfdCreate, mmap, O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR,
  open, print, programPath, PROT_READ, PROT_WRITE, read, readBytes, readlink, SyscallError, unlink, write, writeAll,
} from 'ptlab/userland';

function errorCode(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof SyscallError ? e.code : String(e);
  }
}

export default function main(): number {
  print(`self ${readlink('/proc/self') === String(getpid())} exe ${readlink('/proc/self/exe') === programPath()} cwd ${readlink('/proc/self/cwd')}`);
  const file = open('/tmp/procfd-guest', O_CREAT | O_RDWR, 0o644);
  const before = readlink(`/proc/self/fd/${file}`);
  unlink('/tmp/procfd-guest');
  print(`file ${before} | ${readlink(`/proc/self/fd/${file}`)}`);

  const m = memfdCreate('guest');
  writeAll(m, 'hello memfd');
  print(`memfd ${readlink(`/proc/self/fd/${m}`)}`);
  const ro = open(`/proc/self/fd/${m}`, O_RDONLY);
  const p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const text = new TextDecoder().decode(readBytes(p, read(ro, p, 64)));
  print(`reopen ${ro !== m} same-inode ${fstat(ro).ino === fstat(m).ino} read "${text}" write ${errorCode(() => write(ro, p, 1))}`);
  print(`link-of-reopen ${readlink(`/proc/self/fd/${ro}`)}`);

  const dir = open('/proc/self/fd', O_RDONLY | O_DIRECTORY);
  const names: string[] = [];
  for (let batch = getdents64(dir); batch.length > 0; batch = getdents64(dir)) names.push(...batch.map((e) => e.name));
  print(`fd-dir ${names.join(' ')}`);
  print(`missing ${errorCode(() => readlink('/proc/self/fd/999'))} not-a-link ${errorCode(() => readlink('/tmp'))}`);
  for (const fd of [file, m, ro, dir]) close(fd);
  return 0;
}
