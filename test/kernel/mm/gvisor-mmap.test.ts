// gVisor's test/syscalls/linux/mmap.cc, ported: the MMapTest and MMapNoFixtureTest cases
// (anonymous and /dev/zero mappings, flags, hints, protections, limits, fault codes) in-process
// on the KernelHarness. The MMapFileTest cases are in gvisor-mmap-file.test.ts; the death
// tests (a real guest access killed by SIGSEGV or SIGBUS) in gvisor-mmap-workers.test.ts.
// Every expectation is what the host kernel (Linux 6.18) answered to the same calls, run as
// small C programs; where gVisor's test asserts less (it only says "succeeds"), the host's
// exact answer is asserted.
//
// Cases of mmap.cc not ported as written, and why:
//   MapCharDevice              opens /dev/random, which ptlab lacks; ported with /dev/null, a
//                              character device without an mmap method too (the host: ENODEV
//                              for both).
//   ProtExec, NoProtExecDeath, guest code is JavaScript: nothing executes from emulated
//   UnmappedIsMapErr (execute) memory. Ported as the instruction fetch the CPU would make:
//                              a user fetch fault (X86_PF_INSTR) is served in a PROT_EXEC
//                              mapping and leaves its PTE executable (NX clear), and gives
//                              SIGSEGV (SEGV_ACCERR, the host's si_code) without PROT_EXEC.
//   NoExceedLimitAS,           read the virtual size from /proc/self/statm, which ptlab lacks;
//   ExceedLimitAS              VmSize of /proc/self/status is the same figure.
//   MprotectProtNone, UnmappedIsMapErr, WriteReadOnlyIsAccErr  run in a forked child with a
//                              SIGSEGV handler; here the process installs the handler and the
//                              fault's answer carries the signal and si_code.
//   SetupGvisorDeathTest cases (MapDevZeroSegfaultAfterUnmap, ProtNoneDeath, ReadOnlyDeath,
//   MprotectReadOnlyDeath)     run on real workers, gvisor-mmap-workers.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { _PAGE_NX_HI, X86_PF_INSTR, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { leafWord } from '../../../kernel/mm/pgtable.ts';
import * as U from '../../../kernel/uapi.ts';
import { ANON, bytesOf, errno, Guest, P, RW } from './gvisor-mmap-guest.ts';

let g: Guest;
beforeEach(() => {
  g = new Guest();
});
afterEach(() => g.finish());

const zeros = (n: number) => new Uint8Array(n);

describe('MMapTest: /dev/zero', () => {
  it('MapDevZeroShared, MapDevZeroPrivate: a read-write mapping of either type', () => {
    const z = g.open('/dev/zero', U.O_RDWR);
    expect(g.mmap(0, P, RW, U.MAP_SHARED, z)).toBeGreaterThan(0);
    expect(g.mmap(0, P, RW, U.MAP_PRIVATE, z)).toBeGreaterThan(0);
  });

  it('MapDevZeroNoPersistence, MapDevZeroSharedFdNoPersistence: two shared mappings are two objects', () => {
    for (const sameFd of [false, true]) {
      const z1 = g.open('/dev/zero', U.O_RDWR);
      const z2 = sameFd ? z1 : g.open('/dev/zero', U.O_RDWR);
      const a = g.mmap(0, P, RW, U.MAP_SHARED, z1);
      const b = g.mmap(0, P, RW, U.MAP_SHARED, z2);
      expect(b).not.toBe(a);
      expect(g.peek(a, P)).toEqual(zeros(P));
      expect(g.poke(a, bytesOf(0xff, P))).toBe(0);
      expect(g.peek(a, P)).toEqual(bytesOf(0xff, P));
      expect(g.peek(b, P)).toEqual(zeros(P));
    }
  });

  it('MapDevZeroSharedMultiplePages: two pages (mapped MAP_PRIVATE, as the test does) read zero, then hold what is written', () => {
    const z = g.open('/dev/zero', U.O_RDWR);
    const a = g.mmap(0, 2 * P, RW, U.MAP_PRIVATE, z);
    expect(g.peek(a, 2 * P)).toEqual(zeros(2 * P));
    expect(g.poke(a, bytesOf(0xff, 2 * P))).toBe(0);
    expect(g.peek(a, 2 * P)).toEqual(bytesOf(0xff, 2 * P));
  });

  it('MapDevZeroPrivate in /proc/self/maps: anonymous memory that keeps its file, named /dev/zero at its offset', () => {
    // The host (Linux 6.18's mmap_zero_private_success: vma_set_anonymous keeps vm_file):
    //   +0-+2000 rw-p 00000000 00:06 4 /dev/zero     two pages through one open, offsets 0, 0x1000
    //   +2000-+3000 rw-p 00000000 00:06 4 /dev/zero  offset 0 again: not merged
    //   +3000-+4000 rw-p 00001000 00:06 4 /dev/zero  another open: not merged
    //   +4000-+5000 rw-p 00000000 00:00 0            plain anonymous memory: not merged
    // ptlab's /dev is on the root tmpfs (00:20) with its own inode numbers.
    const base = g.mmap(0, 64 * P, U.PROT_NONE, ANON);
    const z = g.open('/dev/zero', U.O_RDWR);
    const z2 = g.open('/dev/zero', U.O_RDWR);
    const fixed = U.MAP_PRIVATE | U.MAP_FIXED;
    expect(g.mmap(base, P, RW, fixed, z, 0)).toBe(base);
    expect(g.mmap(base + P, P, RW, fixed, z, P)).toBe(base + P);
    expect(g.mmap(base + 2 * P, P, RW, fixed, z, 0)).toBe(base + 2 * P);
    expect(g.mmap(base + 3 * P, P, RW, fixed, z2, P)).toBe(base + 3 * P);
    expect(g.mmap(base + 4 * P, P, RW, fixed | U.MAP_ANONYMOUS, -1, 0)).toBe(base + 4 * P);
    const ino = g.ino(z);
    expect(g.mapsIn(base, base + 6 * P)).toEqual([
      `+0-+2000 rw-p 00000000 00:20 ${ino} /dev/zero`, `+2000-+3000 rw-p 00000000 00:20 ${ino} /dev/zero`,
      `+3000-+4000 rw-p 00001000 00:20 ${ino} /dev/zero`, '+4000-+5000 rw-p 00000000 00:00 0', '+5000-+40000 ---p 00000000 00:00 0',
    ]);
    expect(g.poke(base + P, bytesOf(7, P))).toBe(0);
    expect(g.readFile('/proc/self/smaps')).toMatch(new RegExp(`^${base.toString(16)}-[^]*?Anonymous:\\s+4 kB`, 'm'));
    // Advice sees anonymous memory with a file, as the host does: MADV_FREE and DONTNEED
    // work, WIPEONFORK is EINVAL (vm_file), REMOVE is EACCES (a private file mapping).
    expect([U.MADV_FREE, U.MADV_WIPEONFORK, U.MADV_REMOVE, U.MADV_DONTNEED].map((adv) => errno(g.call(U.SYS_madvise, base + P, P, adv))))
      .toEqual([0, 'EINVAL', 'EACCES', 0]);
  });

  it('MapDevZeroUnaligned: a page and a half, shared then private, reads zero', () => {
    const z = g.open('/dev/zero', U.O_RDWR);
    for (const type of [U.MAP_SHARED, U.MAP_PRIVATE]) {
      const a = g.mmap(0, P + P / 2, RW, type, z);
      expect(a).toBeGreaterThan(0);
      expect(g.peek(a, P + P / 2)).toEqual(zeros(P + P / 2));
      expect(g.call(U.SYS_munmap, a, P + P / 2)).toBe(0);
    }
  });
});

describe('MMapTest: what can be mapped', () => {
  it('MapCharDevice (with /dev/null), MapDirectory: ENODEV, no mmap method', () => {
    // The host: ENODEV for /dev/null private and shared, /dev/random, and a directory.
    const n = g.open('/dev/null', U.O_RDWR);
    expect(errno(g.mmap(0, P, U.PROT_READ, U.MAP_PRIVATE, n))).toBe('ENODEV');
    expect(errno(g.mmap(0, P, U.PROT_READ, U.MAP_SHARED, n))).toBe('ENODEV');
    const d = g.open('/tmp', U.O_RDONLY, 0);
    expect(d).toBeGreaterThanOrEqual(0);
    expect(errno(g.mmap(0, P, U.PROT_READ, U.MAP_PRIVATE, d))).toBe('ENODEV');
  });

  it('MapAnything, SmallMap: PROT_NONE anonymous memory, and a 128-byte length taking a whole page', () => {
    expect(g.mmap(0, P, U.PROT_NONE, ANON)).toBeGreaterThan(0);
    const before = g.t.proc.mm.totalVm;
    const a = g.mmap(0, 128, U.PROT_NONE, ANON);
    expect(a % P).toBe(0);
    expect(g.t.proc.mm.totalVm).toBe(before + 1);
  });

  it('MapStack: allowed; the VMA is VM_NOHUGEPAGE, so it merges with other stacks only (the host\'s maps)', () => {
    expect(g.mmap(0, P, U.PROT_NONE, ANON | U.MAP_STACK)).toBeGreaterThan(0);
    // The host: +0-+1000 "rd wr mr mw me ac", +1000-+3000 "... ac nh" (two MAP_STACK pages merged).
    const base = g.mmap(0, 9 * P, U.PROT_NONE, ANON) + P; // a PROT_NONE page below keeps neighbours off
    expect(g.mmap(base, P, RW, ANON | U.MAP_FIXED)).toBe(base);
    expect(g.mmap(base + P, P, RW, ANON | U.MAP_FIXED | U.MAP_STACK)).toBe(base + P);
    expect(g.mmap(base + 2 * P, P, RW, ANON | U.MAP_FIXED | U.MAP_STACK)).toBe(base + 2 * P);
    expect(g.mapsIn(base, base + 8 * P)).toEqual(['+0-+1000 rw-p 00000000 00:00 0', '+1000-+3000 rw-p 00000000 00:00 0', '+3000-+8000 ---p 00000000 00:00 0']);
    const smaps = g.readFile('/proc/self/smaps');
    expect(smaps).toMatch(new RegExp(`^${(base + P).toString(16)}-[^]*?VmFlags: rd wr mr mw me ac( sd)? nh`, 'm'));
    expect(smaps).toMatch(new RegExp(`^${base.toString(16)}-[^]*?VmFlags: rd wr mr mw me ac( sd)?\\s*$`, 'm'));
  });

  it('MapLocked: allowed on PROT_NONE memory; the VMA is locked', () => {
    const a = g.mmap(0, P, U.PROT_NONE, ANON | U.MAP_LOCKED);
    expect(a).toBeGreaterThan(0);
    expect(g.readFile('/proc/self/smaps')).toMatch(new RegExp(`^${a.toString(16)}-[^]*?VmFlags:.* lo`, 'm'));
  });

  it('NotPrivateOrShared, PrivateAndShared, InvalidLength, BadFd, HugeLength', () => {
    expect(errno(g.mmap(0, P, U.PROT_NONE, U.MAP_ANONYMOUS))).toBe('EINVAL');
    expect(errno(g.mmap(0, P, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_SHARED | U.MAP_ANONYMOUS))).toBe('EINVAL');
    expect(errno(g.mmap(0, 0, U.PROT_NONE, ANON))).toBe('EINVAL');
    expect(errno(g.mmap(0, P, U.PROT_NONE, U.MAP_PRIVATE, 999))).toBe('EBADF');
    // uint64(-kPageSize + 1): rounding the length up would wrap to 0.
    expect(errno(g.mmap(0, 2 ** 64 - P + 1, U.PROT_NONE, ANON))).toBe('ENOMEM');
  });
});

describe('MMapTest: addresses', () => {
  it('HintAddress, NonFixedAlignment: a free hint is taken, rounded down to its page (the host: 0x30000000 both times)', () => {
    expect(g.mmap(0x30000000, P, U.PROT_NONE, ANON)).toBe(0x30000000);
    expect(g.call(U.SYS_munmap, 0x30000000, P)).toBe(0);
    expect(g.mmap(0x30000001, P, U.PROT_NONE, ANON)).toBe(0x30000000);
  });

  it('MapFixed, MapFixed64, FixedAlignment', () => {
    expect(g.mmap(0x30000000, P, U.PROT_NONE, ANON | U.MAP_FIXED)).toBe(0x30000000);
    expect(g.mmap(0x300000000000, P, U.PROT_NONE, ANON | U.MAP_FIXED)).toBe(0x300000000000);
    expect(errno(g.mmap(0x30000001, P, U.PROT_NONE, ANON | U.MAP_FIXED))).toBe('EINVAL');
  });

  it('MapFixedNoReplaceEmpty, MapFixedNoReplaceAlignment', () => {
    expect(g.mmap(0x30000000, P, U.PROT_NONE, ANON | U.MAP_FIXED_NOREPLACE)).toBe(0x30000000);
    expect(errno(g.mmap(0x30001001, P, U.PROT_NONE, ANON | U.MAP_FIXED_NOREPLACE))).toBe('EINVAL');
  });

  it('MapFixedNoReplaceExisting: EEXIST, not another address, and the old mapping keeps its data', () => {
    expect(g.mmap(0x30000000, P, RW, ANON | U.MAP_FIXED)).toBe(0x30000000);
    const sentinel = new Uint8Array([0xef, 0xbe, 0xad, 0xde]);
    expect(g.poke(0x30000000, sentinel)).toBe(0);
    expect(errno(g.mmap(0x30000000, P, U.PROT_NONE, ANON | U.MAP_FIXED_NOREPLACE))).toBe('EEXIST');
    expect(g.peek(0x30000000, 4)).toEqual(sentinel);
  });

  it('MapFixedNoReplacePartialOverlap, MapFixedNoReplaceWithMapFixed: EEXIST', () => {
    expect(g.mmap(0x30000000 + P, P, U.PROT_NONE, ANON | U.MAP_FIXED)).toBe(0x30000000 + P);
    expect(errno(g.mmap(0x30000000, 2 * P, U.PROT_NONE, ANON | U.MAP_FIXED_NOREPLACE))).toBe('EEXIST');
    expect(errno(g.mmap(0x30000000 + P, P, U.PROT_NONE, ANON | U.MAP_FIXED | U.MAP_FIXED_NOREPLACE))).toBe('EEXIST');
    expect(g.t.proc.mm.vmas.find(0x30000000)).toBeNull();
    expect(g.t.proc.mm.vmas.find(0x30000000 + P)?.start).toBe(0x30000000 + P);
  });

  it('Map32Bit: below 4 GiB, bottom-up from 1 GiB; hints and THP alignment as the host places them', () => {
    // The host's addresses for the same sequences, run with setarch -R (no randomization).
    const m32 = (addr: number, len: number, flags = ANON) => g.mmap(addr, len, U.PROT_NONE, flags | U.MAP_32BIT);
    expect(m32(0, 2 << 20)).toBe(0x40200000); // 2 MiB aligned, and moved a whole 2 MiB up
    const a = m32(0, P);
    expect(a).toBe(0x40000000);
    expect(a + P).toBeLessThanOrEqual(2 ** 32);
    expect(m32(0, P)).toBe(0x40001000);
    expect(g.call(U.SYS_munmap, a, P)).toBe(0);
    expect(m32(0, 2 * P)).toBe(0x40002000); // the freed page is too small
    expect(m32(0x50000000, P)).toBe(0x50000000);
    expect(m32(0x30000001, P)).toBe(0x30000000);
    expect(m32(0x7ffff000, 2 * P)).toBe(0x40004000); // past 2 GiB: the hint is not taken
    expect(m32(0x7ffff000, P)).toBe(0x7ffff000);
    expect(m32(0, P, U.MAP_SHARED | U.MAP_ANONYMOUS)).toBe(0x40000000);
  });
});

describe('MMapTest: protections', () => {
  it('ProtWrite, ProtWriteOnly, ProtWriteOnlyReadable: writable, and write-only memory is readable', () => {
    for (const prot of [RW, U.PROT_WRITE]) {
      const a = g.mmap(0, P, prot, ANON);
      expect(g.poke(a, bytesOf(42, P))).toBe(0);
      expect(g.peek(a, 4)).toEqual(bytesOf(42, 4));
    }
    const w = g.mmap(0, P, U.PROT_WRITE, ANON);
    expect(g.peek(w, 8)).toEqual(zeros(8)); // the first fault is a read
  });

  it('ProtectProtWrite, SettingProtNoneDoesntFreeMemory', () => {
    const a = g.mmap(0, P, U.PROT_NONE, ANON);
    expect(g.call(U.SYS_mprotect, a, P, RW)).toBe(0);
    expect(g.poke(a, bytesOf(42, P))).toBe(0);
    expect(g.peek(a, 4)).toEqual(bytesOf(42, 4));
    expect(g.call(U.SYS_mprotect, a, P, U.PROT_NONE)).toBe(0);
    expect(g.peek(a, 4)).toBe(-U.EFAULT);
    expect(g.call(U.SYS_mprotect, a, P, RW)).toBe(0);
    expect(g.peek(a, 4)).toEqual(bytesOf(42, 4));
  });

  it('MprotectNotPageAligned: EINVAL; MprotectHugeLength: ENOMEM', () => {
    const a = g.mmap(0, P, RW, ANON);
    expect(errno(g.call(U.SYS_mprotect, a + 1, P - 1, U.PROT_READ))).toBe('EINVAL');
    expect(errno(g.call(U.SYS_mprotect, a, 2 ** 64 - 1, U.PROT_READ))).toBe('ENOMEM');
  });

  it('MprotectProtNone: a present page made PROT_NONE faults with SEGV_ACCERR', () => {
    g.handle(U.SIGSEGV);
    const a = g.mmap(0, P, RW, ANON);
    expect(g.poke(a, bytesOf(1, 1))).toBe(0);
    expect(g.call(U.SYS_mprotect, a, P, U.PROT_NONE)).toBe(0);
    expect(g.h.fault(g.t, a, X86_PF_USER)).toEqual({ kind: 'signal', signo: U.SIGSEGV, code: U.SEGV_ACCERR, addr: a });
  });

  it('UnmappedIsMapErr: read, write and execute where nothing is mapped are SEGV_MAPERR', () => {
    g.handle(U.SIGSEGV);
    const a = g.mmap(0, P, RW, ANON);
    expect(g.call(U.SYS_munmap, a, P)).toBe(0);
    for (const code of [X86_PF_USER, X86_PF_USER | X86_PF_WRITE, X86_PF_USER | X86_PF_INSTR]) {
      expect(g.h.fault(g.t, a, code)).toEqual({ kind: 'signal', signo: U.SIGSEGV, code: U.SEGV_MAPERR, addr: a });
    }
  });

  it('WriteReadOnlyIsAccErr', () => {
    g.handle(U.SIGSEGV);
    const a = g.mmap(0, P, U.PROT_READ, ANON);
    expect(g.h.fault(g.t, a, X86_PF_USER | X86_PF_WRITE)).toEqual({ kind: 'signal', signo: U.SIGSEGV, code: U.SEGV_ACCERR, addr: a });
  });

  it('ProtExec, NoProtExecDeath: a fetch from PROT_EXEC memory is served; without it, SEGV_ACCERR (written or not)', () => {
    g.handle(U.SIGSEGV);
    const x = g.mmap(0, P, U.PROT_EXEC | RW, ANON);
    expect(g.poke(x, new Uint8Array([0xb8, 0x2a, 0, 0, 0, 0xc3]))).toBe(0);
    expect(g.h.fault(g.t, x, X86_PF_USER | X86_PF_INSTR)).toEqual({ kind: 'return', value: 0 });
    const leaf = leafWord(g.h.k, g.t.proc.mm, x);
    expect(leaf !== null && (g.h.k.ops.hi(leaf.w) & _PAGE_NX_HI) === 0).toBe(true);
    const rw = g.mmap(0, P, RW, ANON);
    expect(g.poke(rw, new Uint8Array([0xc3]))).toBe(0);
    const nx = leafWord(g.h.k, g.t.proc.mm, rw);
    expect(nx !== null && (g.h.k.ops.hi(nx.w) & _PAGE_NX_HI) !== 0).toBe(true);
    const untouched = g.mmap(0, P, RW, ANON);
    for (const va of [rw, untouched]) {
      expect(g.h.fault(g.t, va, X86_PF_USER | X86_PF_INSTR)).toEqual({ kind: 'signal', signo: U.SIGSEGV, code: U.SEGV_ACCERR, addr: va });
    }
  });
});

describe('MMapTest: limits', () => {
  it('NoExceedLimitData, ExceedLimitData, ExceedLimitDataPrlimit, ExceedLimitDataPrlimitPID', () => {
    // The raw brk returns the break it leaves: the old one when RLIMIT_DATA refuses (glibc's
    // brk() turns that into ENOMEM), as on the host.
    const prev = g.call(U.SYS_brk, 0);
    expect(g.setrlimit(U.RLIMIT_DATA, Infinity, Infinity)).toBe(0);
    expect(g.call(U.SYS_brk, prev + 1)).toBe(prev + 1);
    expect(g.call(U.SYS_brk, prev)).toBe(prev);
    for (const pid of [null, 0, g.call(U.SYS_gettid)]) {
      expect(g.setrlimit(U.RLIMIT_DATA, 0, Infinity, pid)).toBe(0);
      expect(g.call(U.SYS_brk, prev + 8192)).toBe(prev);
      expect(g.setrlimit(U.RLIMIT_DATA, Infinity, Infinity)).toBe(0);
    }
    expect(g.call(U.SYS_brk, prev + 8192)).toBe(prev + 8192);
  });

  it('NoExceedLimitAS, ExceedLimitAS: 200 MiB fits under VmSize + 220 MiB, not under VmSize + 20 MiB', () => {
    const vss = Number(/^VmSize:\s+(\d+) kB$/m.exec(g.readFile('/proc/self/status'))?.[1]) * 1024;
    expect(vss).toBeGreaterThan(0);
    expect(g.setrlimit(U.RLIMIT_AS, vss + (20 << 20), Infinity)).toBe(0);
    expect(errno(g.mmap(0, 200 << 20, U.PROT_NONE, ANON))).toBe('ENOMEM');
    expect(g.setrlimit(U.RLIMIT_AS, vss + (220 << 20), Infinity)).toBe(0);
    expect(g.mmap(0, 200 << 20, U.PROT_NONE, ANON)).toBeGreaterThan(0);
  });

  it('NoReserve: every page of 10 MiB of MAP_NORESERVE memory reads zero and takes a write', () => {
    const size = 10 << 20;
    const a = g.mmap(0, size, RW, ANON | U.MAP_NORESERVE);
    expect(a).toBeGreaterThan(0);
    for (let j = 0; j < size; j += P) {
      expect(g.peek(a + j, 1)).toEqual(zeros(1));
      expect(g.poke(a + j, new Uint8Array([j & 0xff]))).toBe(0);
    }
  });
});

describe('MMapTest: copy-on-write', () => {
  it('AccessCOWInvalidatesCachedSegments: a read(2) into memory shared copy-on-write with a child copies it', () => {
    const fd = g.open('/tmp/cow', U.O_CREAT | U.O_RDWR);
    const zero = g.open('/dev/zero', U.O_RDONLY);
    const a = g.mmap(0, 2 * P, RW, ANON);
    expect(g.poke(a, bytesOf(1, 2 * P))).toBe(0);
    const desc = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'child', arg: null }));
    const d = g.mmap(0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS);
    expect(g.poke(d, desc)).toBe(0);
    const pid = g.call(U.SYS_clone, U.FORK_FLAGS, d, desc.length);
    expect(pid).toBeGreaterThan(0);
    const child = g.h.kernel.tasks.procs.get(pid)!;
    expect(g.call(U.SYS_pwrite64, fd, a, P, 0)).toBe(P);
    expect(g.call(U.SYS_pread64, zero, a, 2 * P, 0)).toBe(2 * P);
    expect(g.call(U.SYS_pwrite64, fd, a, P, 0)).toBe(P);
    expect(g.read(fd, P, 0)).toEqual(zeros(P));
    // The child's copy is untouched.
    const inChild = new Uint8Array(2 * P);
    for (let i = 0; i < 2 * P; i += P) {
      const leaf = leafWord(g.h.k, child.mm, a + i);
      expect(leaf).not.toBeNull();
      inChild.set(g.h.k.mem.u8.subarray(leaf!.pfn * P, leaf!.pfn * P + P), i);
    }
    expect(inChild).toEqual(bytesOf(1, 2 * P));
    expect(g.call(U.SYS_kill, pid, U.SIGKILL)).toBe(0);
    expect(g.call(U.SYS_unlink, g.str('/tmp/cow'))).toBe(0);
  });
});

describe('MMapTest and MMapFileTest cases with pipes', () => {
  /** A pipe: [read end, write end]. */
  const pipe = (): [number, number] => {
    const buf = g.mmap(0, P, RW, ANON);
    expect(g.call(U.SYS_pipe2, buf, 0)).toBe(0);
    const v = new DataView((g.peek(buf, 8) as Uint8Array).buffer);
    return [v.getInt32(0, true), v.getInt32(4, true)];
  };

  it('MapPipe: mmap of a pipe read end is ENODEV, of its write end EACCES', () => {
    const [r, w] = pipe();
    expect(errno(g.mmap(0, P, U.PROT_READ, U.MAP_PRIVATE, r))).toBe('ENODEV');
    expect(errno(g.mmap(0, P, U.PROT_READ, U.MAP_PRIVATE, w))).toBe('EACCES');
    expect([g.call(U.SYS_close, r), g.call(U.SYS_close, w)]).toEqual([0, 0]);
  });

  it('InternalSigBus: write(2) to a pipe from a private file mapping past EOF is EFAULT', () => {
    const fd = g.open('/tmp/gvisor-sigbus', U.O_CREAT | U.O_RDWR);
    expect(g.call(U.SYS_ftruncate, fd, P / 2)).toBe(0);
    const addr = g.mmap(0, 2 * P, RW, U.MAP_PRIVATE, fd);
    const [r, w] = pipe();
    expect(errno(g.call(U.SYS_write, w, addr + P, P))).toBe('EFAULT');
    expect(g.call(U.SYS_unlink, g.str('/tmp/gvisor-sigbus'))).toBe(0);
    for (const d of [fd, r, w]) expect(g.call(U.SYS_close, d)).toBe(0);
  });
});
