// Guest programs for gVisor's mmap.cc death tests on real workers
// (test/kernel/mm/gvisor-mmap-workers.test.ts): `main(argv)` runs scenario argv[0]. As
// gVisor's EXPECT_EXIT and InForkedProcess do, each access that should kill runs in a forked
// child; the parent prints how each child ended, one line per case.
import {
  close, fork, ftruncate, load8, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, memset, mmap, mprotect, munmap, O_CREAT,
  O_RDWR, open, print, PROT_NONE, PROT_READ, PROT_WRITE, sigaction, SIGSEGV, store8, unlink, waitpid, writeAll,
} from 'ptlab/userland';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FILE = '/tmp/gvisor-mmap';

interface Access {
  va: number;
  write: boolean;
}

/** A forked child: one load or store of a byte at va; exit 0 if it survives. */
export function touchChild(a: Access): number {
  if (a.write) store8(a.va, 1);
  else load8(a.va);
  return 0;
}

/** MapDevZeroSegfaultAfterUnmap's child: map /dev/zero shared, unmap it, store to it. */
export function devZeroChild(): number {
  const z = open('/dev/zero', O_RDWR);
  const a = mmap(0, P, RW, MAP_SHARED, z, 0);
  munmap(a, P);
  store8(a, 0xff);
  return 0;
}

/** How a forked child running `fn(arg)` ended: "SIGSEGV", "SIGBUS", "exit N". */
function ending(fn: string, arg: unknown): string {
  const w = waitpid(fork(fn, arg));
  return w.signal !== null ? ({ 11: 'SIGSEGV', 7: 'SIGBUS' } as Record<number, string>)[w.signal] ?? `signal ${w.signal}` : `exit ${w.exitCode}`;
}

const death = (va: number, write: boolean): string => ending('touchChild', { va, write });

/** MMapTest's death tests: SIGSEGV after munmap, on PROT_NONE, on a store to read-only memory. */
function anonDeaths(): number {
  const out = [`MapDevZeroSegfaultAfterUnmap ${ending('devZeroChild', null)}`];
  out.push(`ProtNoneDeath ${death(mmap(0, P, PROT_NONE, ANON), false)}`);
  out.push(`ReadOnlyDeath ${death(mmap(0, P, PROT_READ, ANON), true)}`);
  const m = mmap(0, P, RW, ANON);
  store8(m, 42);
  mprotect(m, P, PROT_READ);
  out.push(`MprotectReadOnlyDeath ${death(m, true)} (value ${load8(m)})`);
  print(out.join('\n'));
  return 0;
}

/** The fault's si_code as a SIGSEGV handler sees it (it throws to leave the access), or 0. */
function siCode(va: number, write: boolean): number {
  let code = 0;
  sigaction(SIGSEGV, (info) => {
    code = info.code;
    throw new Error('escape');
  });
  try {
    if (write) store8(va, 1);
    else load8(va);
  } catch {
    // the handler's escape
  }
  sigaction(SIGSEGV, 'default');
  return code;
}

/** MprotectProtNone, UnmappedIsMapErr (read, write), WriteReadOnlyIsAccErr: the si_codes. */
function siCodes(): number {
  const p = mmap(0, P, RW, ANON);
  store8(p, 1);
  mprotect(p, P, PROT_NONE);
  const out = [`MprotectProtNone ${siCode(p, false)}`];
  const u = mmap(0, P, RW, ANON);
  munmap(u, P); // nothing may be mapped there again before the accesses
  out.push(`UnmappedIsMapErr ${siCode(u, false)} ${siCode(u, true)}`);
  out.push(`WriteReadOnlyIsAccErr ${siCode(mmap(0, P, PROT_READ, ANON), true)}`);
  print(out.join('\n'));
  return 0;
}

/** A new file of `size` bytes, open read-write. */
function newFile(size: number): number {
  const fd = open(FILE, O_CREAT | O_RDWR, 0o644);
  ftruncate(fd, size);
  return fd;
}

/** MMapFileParamTest.SigBusDeath and its two survivors, for every prot and type: one line each. */
function fileSigbus(): number {
  const out: string[] = [];
  const fd = newFile(P / 2);
  for (const [pn, prot] of [['R', PROT_READ], ['W', PROT_WRITE], ['RW', RW]] as const) {
    for (const [tn, type] of [['shared', MAP_SHARED], ['private', MAP_PRIVATE]] as const) {
      const a = mmap(0, 2 * P, prot, type, fd, 0);
      const write = (prot & PROT_WRITE) !== 0;
      out.push(`${pn} ${tn}: before-EOF ${death(a, write)}, EOF-page ${death(a + P / 2 + 1, write)}, past ${death(a + P, write)}`);
    }
  }
  close(fd);
  unlink(FILE);
  print(out.join('\n'));
  return 0;
}

/** MapOffsetBeyondEnd, Read/WriteSharedTruncateSIGBUS, TruncateAfterCOWBreak. */
function truncation(): number {
  const out: string[] = [];
  let fd = newFile(P / 2);
  out.push(`MapOffsetBeyondEnd ${death(mmap(0, P, RW, MAP_PRIVATE, fd, 10 * P), true)}`);
  ftruncate(fd, 0);
  writeAll(fd, 'a'.repeat(P));
  const r = mmap(0, P, PROT_READ, MAP_SHARED, fd, 0);
  out.push(`ReadSharedTruncate before ${String.fromCharCode(load8(r))}`);
  ftruncate(fd, 0);
  out.push(`ReadSharedTruncateSIGBUS ${death(r, false)}`);
  close(fd);
  unlink(FILE);
  fd = newFile(P / 2);
  const w = mmap(0, P, RW, MAP_SHARED, fd, 0);
  store8(w, 72);
  ftruncate(fd, 0);
  out.push(`WriteSharedTruncateSIGBUS ${death(w, true)}`);
  close(fd);
  unlink(FILE);
  fd = newFile(P);
  const c = mmap(0, P, RW, MAP_PRIVATE, fd, 0);
  memset(c, 0x61, P);
  ftruncate(fd, 0);
  out.push(`TruncateAfterCOWBreak ${death(c, false)}`);
  close(fd);
  unlink(FILE);
  print(out.join('\n'));
  return 0;
}

const SCENARIOS: Record<string, () => number> = { anonDeaths, siCodes, fileSigbus, truncation };

export default function main(argv: string[]): number {
  const f = SCENARIOS[argv[0]];
  if (f === undefined) throw new Error(`no scenario ${argv[0]}`);
  return f();
}
