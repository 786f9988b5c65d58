// gVisor's test/syscalls/linux/mmap.cc, ported: the MMapFileTest and MMapFileParamTest cases
// (file mappings of a tmpfs file: reads and writes through the mapping, msync, the end of
// file, truncation, offsets, descriptor modes) in-process on the KernelHarness. Every
// expectation is the host kernel's (Linux 6.18) answer to the same calls on a tmpfs file
// (/dev/shm), run as small C programs. The SIGBUS death cases (SigBusDeath, MapOffsetBeyondEnd,
// ReadSharedTruncateSIGBUS, WriteSharedTruncateSIGBUS, TruncateAfterCOWBreak) run on real
// workers in gvisor-mmap-workers.test.ts; here their faults are checked with a SIGBUS handler.
// InternalSigBus (its pipe in gvisor-mmap.test.ts) is also checked here with a tmpfs file as
// the destination. FSSupportsMap is always true (tmpfs maps).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import * as U from '../../../kernel/uapi.ts';
import { smapsRecord } from '../../harness/kernel.ts';
import { bytesOf, errno, Guest, P, RW } from './gvisor-mmap-guest.ts';

const CONTENTS = 'Hello World!';
const PATH = '/tmp/gvisor-mmap';
const ascii = (s: string) => new TextEncoder().encode(s);

let g: Guest;
/** The test's file, O_RDWR, half a page long (MMapFileTest::SetUp). */
let fd: number;
beforeEach(() => {
  g = new Guest();
  fd = g.open(PATH, U.O_CREAT | U.O_RDWR, 0o644);
  expect(fd).toBeGreaterThanOrEqual(0);
  expect(g.call(U.SYS_ftruncate, fd, P / 2)).toBe(0);
});
afterEach(() => {
  expect(g.call(U.SYS_close, fd)).toBe(0);
  expect(g.call(U.SYS_unlink, g.str(PATH))).toBe(0);
  g.finish();
});

/** A guest access of one byte at va as prot allows: a store if writable, else a load. */
function touch(va: number, prot: number): number {
  const r = (prot & U.PROT_WRITE) !== 0 ? g.poke(va, ascii(CONTENTS)) : g.peek(va, CONTENTS.length);
  return typeof r === 'number' ? r : 0;
}

const PARAMS: [string, number, number][] = [];
for (const [pn, prot] of [['PROT_READ', U.PROT_READ], ['PROT_WRITE', U.PROT_WRITE], ['PROT_READ|PROT_WRITE', RW]] as const) {
  for (const [fn, flags] of [['MAP_SHARED', U.MAP_SHARED], ['MAP_PRIVATE', U.MAP_PRIVATE]] as const) PARAMS.push([`${pn}, ${fn}`, prot, flags]);
}

describe.each(PARAMS)('MMapFileParamTest (%s)', (_name, prot, flags) => {
  it('MapPopulate, MapPopulateShort: MAP_POPULATE of one page, and of two over a half-page file', () => {
    expect(g.mmap(0, P, prot, flags | U.MAP_POPULATE, fd)).toBeGreaterThan(0);
    expect(g.mmap(0, 2 * P, prot, flags | U.MAP_POPULATE, fd)).toBeGreaterThan(0);
  });

  it('WriteOnlyFd: EACCES', () => {
    const wo = g.open(PATH, U.O_WRONLY);
    expect(errno(g.mmap(0, P, prot, flags, wo))).toBe('EACCES');
  });

  it('NoSigBusOnPagesBeforeEOF, NoSigBusOnPageContainingEOF, SigBusDeath: only the page past EOF faults, with BUS_ADRERR', () => {
    const a = g.mmap(0, 2 * P, prot, flags, fd);
    expect(touch(a, prot)).toBe(0);
    expect(touch(a + P / 2 + 1, prot)).toBe(0);
    g.handle(U.SIGBUS);
    const code = X86_PF_USER | ((prot & U.PROT_WRITE) !== 0 ? X86_PF_WRITE : 0);
    expect(g.h.fault(g.t, a + P, code)).toEqual({ kind: 'signal', signo: U.SIGBUS, code: U.BUS_ADRERR, addr: a + P });
  });
});

describe('MMapFileTest: contents', () => {
  it('Read, MapOffset: the file through a private read-only mapping, at offset 0 and at a page', () => {
    expect(g.write(fd, CONTENTS)).toBe(CONTENTS.length);
    const a = g.mmap(0, P, U.PROT_READ, U.MAP_PRIVATE, fd);
    expect(g.peek(a, CONTENTS.length)).toEqual(ascii(CONTENTS));
    expect(g.call(U.SYS_lseek, fd, P, U.SEEK_SET)).toBe(P);
    expect(g.write(fd, CONTENTS)).toBe(CONTENTS.length);
    const b = g.mmap(0, P, U.PROT_READ, U.MAP_PRIVATE, fd, P);
    expect(g.peek(b, CONTENTS.length)).toEqual(ascii(CONTENTS));
  });

  it('ReadSharedConsistentWithOverwrite, ...WithPartialOverwrite: write(2) shows in a shared read-only mapping', () => {
    expect(g.call(U.SYS_ftruncate, fd, 0)).toBe(0);
    expect(g.write(fd, bytesOf('a', P))).toBe(P);
    expect(g.write(fd, bytesOf('b', P))).toBe(P);
    const a = g.mmap(0, 2 * P, U.PROT_READ, U.MAP_SHARED, fd);
    expect(g.peek(a, 2 * P)).toEqual(new Uint8Array([...bytesOf('a', P), ...bytesOf('b', P)]));
    expect(g.call(U.SYS_lseek, fd, 0, U.SEEK_SET)).toBe(0);
    expect(g.write(fd, bytesOf('b', P))).toBe(P);
    expect(g.write(fd, bytesOf('a', P))).toBe(P);
    expect(g.peek(a, 2 * P)).toEqual(new Uint8Array([...bytesOf('b', P), ...bytesOf('a', P)]));
    expect(g.call(U.SYS_lseek, fd, 0, U.SEEK_SET)).toBe(0);
    expect(g.write(fd, bytesOf('c', P + P / 2))).toBe(P + P / 2);
    expect(g.peek(a, 2 * P)).toEqual(new Uint8Array([...bytesOf('c', P + P / 2), ...bytesOf('a', P / 2)]));
  });

  it('ReadSharedConsistentWithWriteAndFile: a write past the mapped page updates mapping and file', () => {
    expect(g.call(U.SYS_ftruncate, fd, 0)).toBe(0);
    expect(g.write(fd, bytesOf('a', 2 * P))).toBe(2 * P);
    const a = g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd);
    expect(g.write(fd, bytesOf('b', 2 * P), 0)).toBe(2 * P);
    expect(g.peek(a, P)).toEqual(bytesOf('b', P));
    expect(g.read(fd, 2 * P, 0)).toEqual(bytesOf('b', 2 * P));
  });

  it('WriteShared, WritePrivate: a shared store reaches the file, a private one does not', () => {
    const s = g.mmap(0, P, RW, U.MAP_SHARED, fd);
    const p = g.mmap(0, P, RW, U.MAP_PRIVATE, fd, 0);
    expect(g.poke(p, 'private')).toBe(0);
    expect(g.call(U.SYS_munmap, p, P)).toBe(0);
    expect(g.read(fd, CONTENTS.length, 0)).toEqual(new Uint8Array(CONTENTS.length));
    expect(g.poke(s, CONTENTS)).toBe(0);
    expect(g.call(U.SYS_munmap, s, P)).toBe(0);
    expect(g.read(fd, CONTENTS.length)).toEqual(ascii(CONTENTS));
  });

  it('WriteSharedBeyondEnd, WriteSharedTruncateUp: stores past EOF in its page reach the file only once it grows', () => {
    const a = g.mmap(0, P, RW, U.MAP_SHARED, fd);
    expect(g.poke(a, bytesOf('A', P / 2))).toBe(0);
    expect(g.poke(a + P / 2, bytesOf('B', P / 2))).toBe(0);
    expect(g.read(fd, P, 0)).toEqual(bytesOf('A', P / 2));
    // Truncating up keeps the page, so the B's stored past the old EOF become file data, as
    // on the host (read(2) shows them); gVisor's test stores them after the truncate.
    expect(g.call(U.SYS_ftruncate, fd, P)).toBe(0);
    expect(g.read(fd, P, 0)).toEqual(new Uint8Array([...bytesOf('A', P / 2), ...bytesOf('B', P / 2)]));
    expect(g.poke(a + P / 2, bytesOf('B', P / 2))).toBe(0);
    expect(g.call(U.SYS_munmap, a, P)).toBe(0);
    expect(g.read(fd, P, 0)).toEqual(new Uint8Array([...bytesOf('A', P / 2), ...bytesOf('B', P / 2)]));
  });

  it('mappings of one file through two opens never merge (Linux compares the struct file), through one open they do', () => {
    // The host: +0-+2000 (fd at 0 and 0x1000, merged), +2000-+3000 (a second open at 0x2000).
    expect(g.call(U.SYS_ftruncate, fd, 8 * P)).toBe(0);
    const fd2 = g.open(PATH, U.O_RDWR);
    const base = g.mmap(0, 16 * P, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
    const fixed = U.MAP_SHARED | U.MAP_FIXED;
    expect(g.mmap(base, P, RW, fixed, fd, 0)).toBe(base);
    expect(g.mmap(base + P, P, RW, fixed, fd, P)).toBe(base + P);
    expect(g.mmap(base + 2 * P, P, RW, fixed, fd2, 2 * P)).toBe(base + 2 * P);
    const ino = g.ino(fd);
    expect(g.mapsIn(base, base + 3 * P)).toEqual([`+0-+2000 rw-s 00000000 00:20 ${ino} ${PATH}`, `+2000-+3000 rw-s 00002000 00:20 ${ino} ${PATH}`]);
  });

  it('ReadingWritableSharedFilePageSucceeds, MapReadOnlyAfterCreateWriteOnly', () => {
    const a = g.mmap(0, 2 * P, RW, U.MAP_SHARED, fd);
    expect(g.peek(a, CONTENTS.length)).toEqual(new Uint8Array(CONTENTS.length));
    const ro = g.open('/tmp/gvisor-mmap-ro', U.O_RDONLY | U.O_CREAT | U.O_EXCL, 0o666);
    const wo = g.open('/tmp/gvisor-mmap-ro', U.O_WRONLY);
    expect(g.call(U.SYS_ftruncate, wo, P)).toBe(0);
    const b = g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, ro);
    expect(g.peek(b, P)).toEqual(new Uint8Array(P));
    expect(g.call(U.SYS_unlink, g.str('/tmp/gvisor-mmap-ro'))).toBe(0);
  });

  it('Bug38498194: 4 MiB written through a shared mapping read back with read(2)', () => {
    const size = 4 << 20;
    expect(g.call(U.SYS_ftruncate, fd, size)).toBe(0);
    const a = g.mmap(0, size, RW, U.MAP_SHARED, fd);
    expect(g.poke(a, bytesOf('a', size))).toBe(0);
    expect(g.call(U.SYS_munmap, a, size)).toBe(0);
    const back = g.read(fd, size);
    // Compared as one buffer: toEqual walks 4 Mi elements one by one.
    expect(typeof back !== 'number' && Buffer.from(back).equals(Buffer.from(bytesOf('a', size)))).toBe(true);
  });

  it('SelfRead, SelfWrite: read(2) into and write(2) from a mapping of the same file (the host: 2048 both)', () => {
    const a = g.mmap(0, P, RW, U.MAP_SHARED, fd);
    expect(g.call(U.SYS_read, fd, a, P / 2)).toBe(P / 2);
    const b = g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd);
    expect(g.call(U.SYS_lseek, fd, 0, U.SEEK_SET)).toBe(0);
    expect(g.call(U.SYS_write, fd, b, P / 2)).toBe(P / 2);
  });
});

describe('MMapFileTest: truncation', () => {
  it('ReadSharedTruncateDownThenUp, WriteSharedTruncateDownThenUp: the page reads zero in memory and in the file', () => {
    expect(g.call(U.SYS_ftruncate, fd, 0)).toBe(0);
    expect(g.write(fd, bytesOf('a', P))).toBe(P);
    const a = g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd);
    const w = g.mmap(0, P, RW, U.MAP_SHARED, fd);
    expect(g.peek(a, P)).toEqual(bytesOf('a', P));
    expect(g.poke(w, bytesOf('A', P / 2))).toBe(0);
    expect(g.call(U.SYS_ftruncate, fd, 0)).toBe(0);
    expect(g.call(U.SYS_ftruncate, fd, P)).toBe(0);
    expect(g.peek(a, P)).toEqual(new Uint8Array(P));
    expect(g.peek(w, P)).toEqual(new Uint8Array(P));
    expect(g.call(U.SYS_msync, a, P, U.MS_SYNC)).toBe(0);
    expect(g.call(U.SYS_munmap, w, P)).toBe(0);
    expect(g.read(fd, P, 0)).toEqual(new Uint8Array(P));
  });

  it('ReadSharedTruncatePartialPage, WriteSharedTruncatePartialPage: the cut half reads zero, the rest stays', () => {
    expect(g.call(U.SYS_ftruncate, fd, P)).toBe(0);
    const r = g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd);
    const w = g.mmap(0, P, RW, U.MAP_SHARED, fd);
    expect(g.poke(w, bytesOf('A', P))).toBe(0);
    expect(g.peek(r, P)).toEqual(bytesOf('A', P));
    expect(g.call(U.SYS_ftruncate, fd, P / 2)).toBe(0);
    for (const va of [r, w]) expect(g.peek(va, P)).toEqual(new Uint8Array([...bytesOf('A', P / 2), ...new Uint8Array(P / 2)]));
  });

  it('ReadSharedTruncateSIGBUS, WriteSharedTruncateSIGBUS, TruncateAfterCOWBreak: the cut page faults with SIGBUS', () => {
    g.handle(U.SIGBUS);
    expect(g.call(U.SYS_ftruncate, fd, P)).toBe(0);
    const r = g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd);
    const w = g.mmap(0, P, RW, U.MAP_SHARED, fd);
    const cow = g.mmap(0, P, RW, U.MAP_PRIVATE, fd);
    expect(g.peek(r, P)).toEqual(new Uint8Array(P));
    expect(g.poke(w, CONTENTS)).toBe(0);
    expect(g.poke(cow, bytesOf('a', P))).toBe(0); // a private copy of the page
    expect(g.call(U.SYS_ftruncate, fd, 0)).toBe(0);
    for (const [va, code] of [[r, X86_PF_USER], [w, X86_PF_USER | X86_PF_WRITE], [cow, X86_PF_USER]]) {
      expect(g.h.fault(g.t, va, code)).toEqual({ kind: 'signal', signo: U.SIGBUS, code: U.BUS_ADRERR, addr: va });
    }
  });

  it('MapOffsetBeyondEnd: a mapping ten pages past EOF is made, and its first access faults with SIGBUS', () => {
    g.handle(U.SIGBUS);
    const a = g.mmap(0, P, RW, U.MAP_PRIVATE, fd, 10 * P);
    expect(a).toBeGreaterThan(0);
    expect(g.h.fault(g.t, a, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'signal', signo: U.SIGBUS, code: U.BUS_ADRERR, addr: a });
  });
});

describe('MMapFileTest: offsets and descriptors', () => {
  it('MapSecondToLastPositivePage succeeds; MapLastPositivePage and the negative offsets are EOVERFLOW', () => {
    expect(g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd, 2 ** 63 - 2 * P)).toBeGreaterThan(0);
    for (const off of [2 ** 63 - P, -(2 ** 63), -2 * P, -P]) expect(errno(g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, fd, off))).toBe('EOVERFLOW');
  });

  it('WritePrivateOnReadOnlyFd works; WriteSharedOnReadOnlyFd is EACCES; MmapFileWithOpath is EBADF', () => {
    const ro = g.open(PATH, U.O_RDONLY);
    const a = g.mmap(0, P, RW, U.MAP_PRIVATE, ro);
    expect(g.poke(a, CONTENTS)).toBe(0);
    expect(errno(g.mmap(0, P, RW, U.MAP_SHARED, ro))).toBe('EACCES');
    const path = g.open(PATH, U.O_PATH);
    expect(errno(g.mmap(0, P, U.PROT_READ, U.MAP_PRIVATE, path))).toBe('EBADF');
  });
});

describe('MMapFileTest: system calls that meet the end of the file', () => {
  it('InternalSigBus (to a tmpfs file), InternalSigBusZeroing: EFAULT when the first byte is past EOF', () => {
    const priv = g.mmap(0, 2 * P, RW, U.MAP_PRIVATE, fd);
    const out = g.open('/tmp/gvisor-mmap-out', U.O_CREAT | U.O_RDWR);
    expect(errno(g.call(U.SYS_write, out, priv + P, P))).toBe('EFAULT');
    const shared = g.mmap(0, 2 * P, RW, U.MAP_SHARED, fd);
    const zero = g.open('/dev/zero', U.O_RDONLY);
    expect(errno(g.call(U.SYS_read, zero, shared + P, P))).toBe('EFAULT');
    expect(g.call(U.SYS_unlink, g.str('/tmp/gvisor-mmap-out'))).toBe(0);
  });

  it('a write(2) from, or a read(2) into, memory that reaches past EOF part way is short (the host: 100 bytes)', () => {
    const priv = g.mmap(0, 2 * P, RW, U.MAP_PRIVATE, fd);
    const out = g.open('/tmp/gvisor-mmap-out', U.O_CREAT | U.O_RDWR);
    expect(g.call(U.SYS_write, out, priv + P - 100, P)).toBe(100);
    expect(g.call(U.SYS_lseek, out, 0, U.SEEK_CUR)).toBe(100);
    const shared = g.mmap(0, 2 * P, RW, U.MAP_SHARED, fd);
    const zero = g.open('/dev/zero', U.O_RDONLY);
    expect(g.call(U.SYS_read, zero, shared + P - 100, P)).toBe(100);
    // A file's position moves by what was copied.
    expect(g.call(U.SYS_ftruncate, out, 3 * P)).toBe(0);
    expect(g.call(U.SYS_lseek, out, 0, U.SEEK_SET)).toBe(0);
    expect(g.call(U.SYS_read, out, shared + P - 100, P)).toBe(100);
    expect(g.call(U.SYS_lseek, out, 0, U.SEEK_CUR)).toBe(100);
    expect(g.call(U.SYS_unlink, g.str('/tmp/gvisor-mmap-out'))).toBe(0);
  });
});

// mmap.cc's fixture has Mlock(), Munlock() and Msync() helpers that none of its cases calls
// (MAP_LOCKED is only tried on PROT_NONE anonymous memory, MAP_POPULATE above). These cases
// use them on the fixture's half-page file, with MAP_LOCKED, MAP_GROWSDOWN and mremap; the
// host kernel answered the same sequences.
describe.each([['MAP_PRIVATE', U.MAP_PRIVATE], ['MAP_SHARED', U.MAP_SHARED]])('MMapFileTest helpers past EOF (%s)', (_name, type) => {
  it('Mlock over a page past EOF: ENOMEM, yet the VMA is locked (smaps Locked 4 kB); the first page alone locks; Munlock unlocks', () => {
    const a = g.mmap(0, 2 * P, RW, type, fd);
    const mm = g.t.proc.mm;
    // __mm_populate meets SIGBUS on the second page (EFAULT, which mlock reports as ENOMEM)
    // after mlock_fixup has set VM_LOCKED.
    expect(errno(g.call(U.SYS_mlock, a, 2 * P))).toBe('ENOMEM');
    expect([smapsRecord(g.h.k, mm, a).Locked, smapsRecord(g.h.k, mm, a).Rss]).toEqual([4, 4]);
    expect(g.call(U.SYS_mlock, a, P)).toBe(0);
    expect(g.call(U.SYS_munlock, a, 2 * P)).toBe(0);
    expect(smapsRecord(g.h.k, mm, a).Locked).toBe(0);
  });

  it('MAP_LOCKED over a page past EOF succeeds with the first page locked; Msync MS_INVALIDATE of it is EBUSY; a hole is ENOMEM', () => {
    const a = g.mmap(0, 2 * P, RW, type | U.MAP_LOCKED, fd);
    expect(a).toBeGreaterThan(0);
    expect([smapsRecord(g.h.k, g.t.proc.mm, a).Locked, smapsRecord(g.h.k, g.t.proc.mm, a).Rss]).toEqual([4, 4]);
    expect(errno(g.call(U.SYS_msync, a, 2 * P, U.MS_INVALIDATE))).toBe('EBUSY');
    const h = g.mmap(0, 3 * P, RW, type, fd);
    expect(g.call(U.SYS_munmap, h + P, P)).toBe(0);
    expect(errno(g.call(U.SYS_msync, h, 3 * P, U.MS_SYNC))).toBe('ENOMEM');
    expect(errno(g.call(U.SYS_msync, h, 3 * P, U.MS_ASYNC))).toBe('ENOMEM');
  });

  it('MAP_GROWSDOWN of a file is EINVAL', () => {
    expect(errno(g.mmap(0, P, RW, type | U.MAP_GROWSDOWN, fd))).toBe('EINVAL');
  });

  it('mremap grows a mapping past EOF: the new page faults with SIGBUS until the file grows, and again once it shrinks', () => {
    g.handle(U.SIGBUS);
    const m = g.mmap(0, P, RW, type, fd);
    const a = g.call(U.SYS_mremap, m, P, 2 * P, U.MREMAP_MAYMOVE, 0);
    expect(a).toBeGreaterThan(0);
    expect(g.poke(a, 'x')).toBe(0);
    const sigbus = { kind: 'signal', signo: U.SIGBUS, code: U.BUS_ADRERR, addr: a + P };
    expect(g.h.fault(g.t, a + P, X86_PF_USER)).toEqual(sigbus);
    expect(g.call(U.SYS_ftruncate, fd, 2 * P)).toBe(0);
    expect(g.peek(a + P, 1)).toEqual(new Uint8Array(1));
    expect(g.call(U.SYS_ftruncate, fd, P / 2)).toBe(0);
    expect(g.h.fault(g.t, a + P, X86_PF_USER)).toEqual(sigbus);
  });

  it('Mlock of a page the file was truncated away from is ENOMEM', () => {
    const a = g.mmap(0, P, RW, type, fd);
    expect(g.call(U.SYS_ftruncate, fd, 0)).toBe(0);
    expect(errno(g.call(U.SYS_mlock, a, P))).toBe('ENOMEM');
  });
});
