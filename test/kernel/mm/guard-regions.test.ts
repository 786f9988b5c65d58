// Guard regions (MADV_GUARD_INSTALL / MADV_GUARD_REMOVE): the kernel selftest
// tools/testing/selftests/mm/guard-regions.c ported to the kernel harness, one case per
// TEST_F and backing (anon: private anonymous; shmem: a memfd mapped shared; file: a tmpfs
// file mapped shared), where ptlab has the pieces. An access is a fault through the
// kernel's fault path (handleMmFault): SEGV_MAPERR is the selftest's caught SIGSEGV.
// The errnos, pagemap words, smaps VmFlags and fork results in comments marked "host" are
// the project host's (Linux 6.18.44, /tmp/guard/probe*.c), which has no soft-dirty
// tracking: the kernel boots without it here too.
import { afterEach, describe, expect, it } from 'vitest';
import { X86_PF_INSTR, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';
import { pagemapRead, procSmaps } from '../../../kernel/fs/proc/task_mmu.ts';
import { FAULT_DONE, FAULT_SEGV_MAPERR, handleMmFault } from '../../../kernel/mm/fault.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness, smapsRecord } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
type Backing = 'anon' | 'shmem' | 'file';
const BACKINGS: Backing[] = ['anon', 'shmem', 'file'];

let h: KernelHarness;
afterEach(() => {
  h.killAll();
  expect(h.leakedFrames()).toBe(0);
});

interface World {
  t: Thread;
  fd: number;
  mmap(len: number, prot?: number, flags?: number, at?: number): number;
  adv(va: number, len: number, advice: number): number;
  /** The selftest's try_read_buf / try_write_buf: true if the access does not SIGSEGV. */
  read(va: number, th?: Thread): boolean;
  write(va: number, th?: Thread): boolean;
  rw(va: number, th?: Thread): boolean;
  byte(va: number, th?: Thread): number;
  fill(va: number, pages: number, th?: Thread): void;
  /** check_pattern_offset: pages [first, first + pages) of the buffer at va hold set_pattern's bytes. */
  pattern(va: number, pages: number, th?: Thread, first?: number): boolean;
  pagemap(va: number, th?: Thread): bigint;
}

function world(backing: Backing): World {
  h = new KernelHarness({ memBytes: 64 << 20, softDirty: false });
  const t = h.spawn();
  const k = h.k;
  const scratch = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  copyToUser(k, t.proc.mm, scratch, new TextEncoder().encode('/tmp/guard_regions_test_file\0'), -1);
  let fd = -1;
  if (backing === 'shmem') fd = h.call(t, U.SYS_memfd_create, scratch, 0);
  if (backing === 'file') {
    fd = h.call(t, U.SYS_open, scratch, U.O_CREAT | U.O_RDWR, 0o600);
    expect(h.call(t, U.SYS_unlink, scratch)).toBe(0); // the selftest's teardown unlinks it
  }
  if (fd >= 0) expect(h.call(t, U.SYS_ftruncate, fd, 100 * P)).toBe(0);
  const access = (th: Thread, va: number, code: number): boolean => {
    const r = handleMmFault(k, th.proc.mm, va, X86_PF_USER | code, -1);
    if (r !== FAULT_DONE) expect(r).toBe(FAULT_SEGV_MAPERR);
    return r === FAULT_DONE;
  };
  const w: World = {
    t,
    fd,
    mmap: (len, prot = RW, flags = 0, at = 0) => {
      const f = flags | (backing === 'anon' ? U.MAP_PRIVATE | U.MAP_ANONYMOUS : U.MAP_SHARED);
      return h.call(t, U.SYS_mmap, at, len, prot, f, backing === 'anon' ? -1 : fd, 0);
    },
    adv: (va, len, advice) => h.call(t, U.SYS_madvise, va, len, advice),
    read: (va, th = t) => access(th, va, 0),
    write: (va, th = t) => {
      if (!access(th, va, X86_PF_WRITE)) return false;
      expect(copyToUser(k, th.proc.mm, va, new Uint8Array([0x78]), -1)).toBe(0);
      return true;
    },
    rw: (va, th = t) => w.read(va, th) && w.write(va, th),
    byte: (va, th = t) => (copyFromUser(k, th.proc.mm, va, 1, -1) as Uint8Array)[0],
    fill: (va, pages, th = t) => {
      for (let i = 0; i < pages; i++) expect(copyToUser(k, th.proc.mm, va + i * P, new Uint8Array(P).fill(97 + (i % 26)), -1)).toBe(0);
    },
    pattern: (va, pages, th = t, first = 0) => {
      const b = copyFromUser(k, th.proc.mm, va + first * P, pages * P, -1);
      if (typeof b === 'number') return false;
      return b.every((x, i) => x === 97 + ((first + Math.floor(i / P)) % 26));
    },
    pagemap: (va, th = t) => new DataView((pagemapRead(k, th.proc.mm, 8, (va / P) * 8, true) as Uint8Array).buffer).getBigUint64(0, true),
  };
  return w;
}

/** fork from t through clone(2) with the standard flags: the child's main thread. */
function fork(t: Thread): Thread {
  const desc = h.call(t, U.SYS_mmap, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
  const bytes = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'child', arg: null }));
  expect(copyToUser(h.k, t.proc.mm, desc, bytes, -1)).toBe(0);
  const a = h.syscall(t, U.SYS_clone, U.FORK_FLAGS, desc, bytes.length);
  if (a.kind !== 'return' || a.value < 0) throw new Error(`fork: ${JSON.stringify(a)}`);
  return h.kernel.tasks.procs.get(a.value)!.threads.get(a.value)!;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const G = U.MADV_GUARD_INSTALL;
const R = U.MADV_GUARD_REMOVE;

describe.each(BACKINGS)('guard_regions.%s', (backing) => {
  it('basic: install, SIGSEGV on read and write, remove; a range over a faulted-in page', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    expect(w.rw(p)).toBe(true);
    expect(w.adv(p, P, G)).toBe(0);
    expect(w.rw(p)).toBe(false);
    for (const i of range(10).slice(1)) expect(w.rw(p + i * P)).toBe(true);
    expect(w.adv(p + 9 * P, P, G)).toBe(0);
    expect(w.rw(p)).toBe(false);
    expect(w.rw(p + 9 * P)).toBe(false);
    expect(w.adv(p, P, R)).toBe(0);
    expect(w.rw(p)).toBe(true);
    expect(w.adv(p + 9 * P, P, R)).toBe(0);
    expect(w.rw(p + 9 * P)).toBe(true);
    expect(w.adv(p, 3 * P, G)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(i >= 3);
    expect(w.adv(p, 10 * P, R)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(true);
    // Removing again leaves the pages there alone.
    expect(w.adv(p, 10 * P, R)).toBe(0);
    for (const i of range(10)) expect(w.byte(p + i * P)).toBe(0x78);
    // An instruction fetch faults too (host: SIGSEGV, SEGV_MAPERR).
    expect(w.adv(p, P, G)).toBe(0);
    expect(handleMmFault(h.k, w.t.proc.mm, p, X86_PF_USER | X86_PF_INSTR, -1)).not.toBe(FAULT_DONE);
    validateMm(h.k, w.t.proc.mm);
  });

  it('multi_vma: across gaps the call gives ENOMEM but guards every VMA; adjacent VMAs give 0', () => {
    const w = world(backing);
    const r = w.mmap(100 * P, U.PROT_NONE);
    const p1 = w.mmap(10 * P, RW, U.MAP_FIXED, r);
    const p2 = w.mmap(5 * P, RW, U.MAP_FIXED, r + 50 * P);
    const p3 = w.mmap(20 * P, RW, U.MAP_FIXED, r + 80 * P);
    expect(h.call(w.t, U.SYS_munmap, r + 10 * P, 40 * P)).toBe(0);
    expect(h.call(w.t, U.SYS_munmap, r + 55 * P, 25 * P)).toBe(0);
    expect(w.adv(r, 100 * P, G)).toBe(-U.ENOMEM);
    for (const [p, n] of [[p1, 10], [p2, 5], [p3, 20]]) for (const i of range(n)) expect(w.rw(p + i * P)).toBe(false);
    expect(w.adv(r, 100 * P, R)).toBe(-U.ENOMEM);
    for (const [p, n] of [[p1, 10], [p2, 5], [p3, 20]]) for (const i of range(n)) expect(w.rw(p + i * P)).toBe(true);
    w.mmap(40 * P, RW | U.PROT_EXEC, U.MAP_FIXED, r + 10 * P);
    w.mmap(25 * P, RW | U.PROT_EXEC, U.MAP_FIXED, r + 55 * P);
    expect(w.adv(r, 100 * P, G)).toBe(0);
    for (const i of range(100)) expect(w.rw(r + i * P)).toBe(false);
    expect(w.adv(r, 100 * P, R)).toBe(0);
    for (const i of range(100)) expect(w.rw(r + i * P)).toBe(true);
  });

  it('munmap: unmapping drops the markers, a new mapping there is not guarded', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    expect(w.adv(p, P, G)).toBe(0);
    expect(w.adv(p + 9 * P, P, G)).toBe(0);
    expect(h.call(w.t, U.SYS_munmap, p, P)).toBe(0);
    expect(h.call(w.t, U.SYS_munmap, p + 9 * P, P)).toBe(0);
    w.mmap(P, RW, U.MAP_FIXED, p);
    w.mmap(P, RW, U.MAP_FIXED, p + 9 * P);
    expect(w.rw(p)).toBe(true);
    expect(w.rw(p + 9 * P)).toBe(true);
  });

  it('mprotect and split_merge: markers outlive protection changes, splits and merges', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    expect(w.adv(p + 5 * P, 2 * P, G)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p + 5 * P, 2 * P, U.PROT_READ)).toBe(0);
    expect(w.read(p + 5 * P) || w.read(p + 6 * P)).toBe(false);
    expect(w.adv(p + 5 * P, 2 * P, G)).toBe(0);
    expect(w.adv(p, 10 * P, R)).toBe(0);
    for (const i of range(10)) expect(w.read(p + i * P)).toBe(true);
    expect(h.call(w.t, U.SYS_mprotect, p, 10 * P, RW)).toBe(0);
    expect(w.adv(p, 10 * P, G)).toBe(0);
    for (const i of [2, 5, 8]) expect(h.call(w.t, U.SYS_munmap, p + i * P, P)).toBe(0);
    for (const i of range(10)) if (![2, 5, 8].includes(i)) expect(w.rw(p + i * P)).toBe(false);
    for (const i of [2, 5, 8]) w.mmap(P, RW, U.MAP_FIXED, p + i * P);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe([2, 5, 8].includes(i));
    expect(w.adv(p, 10 * P, G)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p, 3 * P, U.PROT_READ)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p + 7 * P, 3 * P, U.PROT_READ)).toBe(0);
    for (const i of range(10)) expect(w.read(p + i * P)).toBe(false);
    expect(h.call(w.t, U.SYS_mprotect, p, 3 * P, RW)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p + 7 * P, 3 * P, RW)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(false);
    expect(h.call(w.t, U.SYS_mprotect, p, 3 * P, U.PROT_READ)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p + 7 * P, 3 * P, U.PROT_READ)).toBe(0);
    expect(w.adv(p, 10 * P, R)).toBe(0);
    for (const i of range(10)) expect(w.read(p + i * P)).toBe(true);
    expect(h.call(w.t, U.SYS_mprotect, p, 3 * P, RW)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p + 7 * P, 3 * P, RW)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(true);
  });

  it('dontneed (and DONTNEED_LOCKED, COLD, PAGEOUT): markers stay, the other pages refault', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    for (const i of range(10)) expect(w.write(p + i * P)).toBe(true);
    for (let i = 0; i < 10; i += 2) expect(w.adv(p + i * P, P, G)).toBe(0);
    for (const advice of [U.MADV_DONTNEED, U.MADV_DONTNEED_LOCKED, U.MADV_COLD, U.MADV_PAGEOUT]) {
      expect(w.adv(p, 10 * P, advice)).toBe(0);
      for (const i of range(10)) {
        expect(w.read(p + i * P)).toBe(i % 2 !== 0);
        // Anonymous pages come back zero (the zero page), file pages with their data.
        const dropped = backing === 'anon' && (advice === U.MADV_DONTNEED || advice === U.MADV_DONTNEED_LOCKED);
        if (i % 2 !== 0) expect(w.byte(p + i * P)).toBe(dropped ? 0 : 0x78);
        expect(w.write(p + i * P)).toBe(i % 2 !== 0);
      }
    }
  });

  it('mlock: EINVAL to install in a locked VMA, remove allowed; locking guards is ENOMEM (host)', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    for (const i of range(10)) expect(w.write(p + i * P)).toBe(true);
    expect(h.call(w.t, U.SYS_mlock, p, 10 * P)).toBe(0);
    expect(w.adv(p, 10 * P, G)).toBe(-U.EINVAL);
    expect(h.call(w.t, U.SYS_munlock, p, 10 * P)).toBe(0);
    expect(w.adv(p, 5 * P, G)).toBe(0);
    for (const i of range(10)) {
      expect(w.rw(p + i * P)).toBe(i >= 5);
      if (i >= 5) expect(w.byte(p + i * P)).toBe(0x78);
    }
    expect(h.call(w.t, U.SYS_mlock, p + 5 * P, 5 * P)).toBe(0);
    // Host: mlock over guard markers sets VM_LOCKED but its population fails: ENOMEM.
    expect(h.call(w.t, U.SYS_mlock, p, 10 * P)).toBe(-U.ENOMEM);
    expect(w.adv(p, P, G)).toBe(-U.EINVAL);
    expect(w.adv(p, 10 * P, R)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(true);
  });

  it('mremap_move, mremap_expand, mremap_shrink: markers move with the pages, a shrink drops them', () => {
    const w = world(backing);
    let p = w.mmap(5 * P);
    expect(w.adv(p, P, G)).toBe(0);
    expect(w.adv(p + 4 * P, P, G)).toBe(0);
    const dst = w.mmap(5 * P, U.PROT_NONE);
    expect(h.call(w.t, U.SYS_mremap, p, 5 * P, 5 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dst)).toBe(dst);
    expect(w.rw(dst)).toBe(false);
    expect(w.rw(dst + 4 * P)).toBe(false);
    for (const i of [1, 2, 3]) expect(w.rw(dst + i * P)).toBe(true);
    validateMm(h.k, w.t.proc.mm);
    // Shrink to 3 pages: the last marker goes with the tail; growing back does not bring it.
    p = h.call(w.t, U.SYS_mremap, dst, 5 * P, 3 * P, U.MREMAP_MAYMOVE);
    expect(p).toBe(dst);
    expect(w.rw(p)).toBe(false);
    for (const i of [1, 2]) expect(w.rw(p + i * P)).toBe(true);
    const grown = h.call(w.t, U.SYS_mremap, p, 3 * P, 5 * P, U.MREMAP_MAYMOVE);
    expect(w.rw(grown)).toBe(false);
    for (const i of [1, 2, 3, 4]) expect(w.rw(grown + i * P)).toBe(true);
  });

  it('fork: the child has the markers; its remove leaves the parent guarded', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    expect(w.adv(p, 5 * P, G)).toBe(0);
    const c = fork(w.t);
    for (const i of range(10)) expect(w.rw(p + i * P, c)).toBe(i >= 5);
    expect(h.call(c, U.SYS_madvise, p, 10 * P, R)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P, c)).toBe(true);
    h.syscall(c, U.SYS_exit_group, 0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(i >= 5);
  });

  it('pagemap: bit 58 (PM_GUARD_REGION) with PM_SWAP and SWP_PTE_MARKER/PTE_MARKER_GUARD as the frame (host 0x440000000000009f)', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    for (const i of range(10)) expect(w.pagemap(p + i * P) & (1n << 58n)).toBe(0n);
    for (let i = 0; i < 10; i += 2) expect(w.adv(p + i * P, P, G)).toBe(0);
    for (const i of range(10)) expect(w.pagemap(p + i * P)).toBe(i % 2 === 0 ? 0x440000000000009fn : 0n);
  });

  it('pagemap_scan: PAGE_IS_GUARD regions; a guard page is also swapped and written (host 0x112)', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    const arg = w.mmap(P, RW, 0);
    const k = h.k;
    const mm = w.t.proc.mm;
    copyToUser(k, mm, arg + 2048, new TextEncoder().encode('/proc/self/pagemap\0'), -1);
    const fd = h.call(w.t, U.SYS_open, arg + 2048, U.O_RDONLY);
    const run = (anyof: number, ret: number): { n: number; regs: bigint[][]; walkEnd: bigint } => {
      const vals = [96, 0, p, p + 10 * P, 0, arg + 128, 10, 0, 0, 0, anyof, ret];
      const b = new DataView(new ArrayBuffer(96));
      vals.forEach((x, i) => b.setBigUint64(i * 8, BigInt(x), true));
      expect(copyToUser(k, mm, arg, new Uint8Array(b.buffer), -1)).toBe(0);
      const n = h.call(w.t, U.SYS_ioctl, fd, 0xc0606610, arg);
      const out = new DataView((copyFromUser(k, mm, arg, 128 + 24 * 10, -1) as Uint8Array).buffer);
      const regs = range(Math.max(n, 0)).map((i) => [0, 8, 16].map((o) => out.getBigUint64(128 + 24 * i + o, true)));
      return { n, regs, walkEnd: out.getBigUint64(32, true) };
    };
    expect(run(0x100, 0x100)).toMatchObject({ n: 0, walkEnd: BigInt(p + 10 * P) });
    for (let i = 0; i < 10; i += 2) expect(w.adv(p + i * P, P, G)).toBe(0);
    const r = run(0x100, 0x100);
    expect(r.n).toBe(5);
    expect(r.walkEnd).toBe(BigInt(p + 10 * P));
    for (const i of range(5)) expect(r.regs[i]).toEqual([BigInt(p + 2 * i * P), BigInt(p + (2 * i + 1) * P), 0x100n]);
    // Host, every category asked for, an anonymous page present at 2: 0x112 0x2 0xa 0x2.
    if (backing === 'anon') {
      expect(w.write(p + 3 * P)).toBe(true);
      const all = run(0x1ff, 0x1ff);
      expect(all.regs.slice(0, 4).map((x) => x[2])).toEqual([0x112n, 0x2n, 0x112n, 0xan]);
    }
  });

  it('populate: MADV_POPULATE_READ and _WRITE give EFAULT over guards; read(2) into one is EFAULT or short', () => {
    const w = world(backing);
    const p = w.mmap(10 * P);
    expect(w.adv(p, 10 * P, G)).toBe(0);
    expect(w.adv(p, 10 * P, U.MADV_POPULATE_READ)).toBe(-U.EFAULT);
    expect(w.adv(p, 10 * P, U.MADV_POPULATE_WRITE)).toBe(-U.EFAULT);
    expect(w.adv(p, 10 * P, R)).toBe(0);
    expect(w.adv(p + P, P, G)).toBe(0);
    // Host (/tmp/guard/w.c): read(2) or write(2) of a memfd into or from a guard page is
    // EFAULT; one that runs into it from a good page is short: what came before it.
    const scratch = h.call(w.t, U.SYS_mmap, 0, P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    copyToUser(h.k, w.t.proc.mm, scratch, new TextEncoder().encode('data\0'), -1);
    const fd = h.call(w.t, U.SYS_memfd_create, scratch, 0);
    expect(h.call(w.t, U.SYS_pwrite64, fd, scratch, 100, 0)).toBe(100);
    expect(h.call(w.t, U.SYS_pread64, fd, p + P, 100, 0)).toBe(-U.EFAULT);
    expect(h.call(w.t, U.SYS_pwrite64, fd, p + P, 100, 0)).toBe(-U.EFAULT);
    expect(h.call(w.t, U.SYS_pread64, fd, p + P - 10, 100, 0)).toBe(10);
    expect(h.call(w.t, U.SYS_write, fd, p + P - 5, 11)).toBe(5);
    expect(h.call(w.t, U.SYS_write, fd, p + P, 11)).toBe(-U.EFAULT);
    expect(h.call(w.t, U.SYS_lseek, fd, 0, U.SEEK_CUR)).toBe(5);
    expect(h.call(w.t, U.SYS_lseek, fd, 0, U.SEEK_SET)).toBe(0);
    expect(h.call(w.t, U.SYS_read, fd, p + P - 7, 100)).toBe(7);
    expect(h.call(w.t, U.SYS_read, fd, p + P, 100)).toBe(-U.EFAULT);
    expect(h.call(w.t, U.SYS_lseek, fd, 0, U.SEEK_CUR)).toBe(7);
    copyToUser(h.k, w.t.proc.mm, scratch, new TextEncoder().encode('/proc/self/status\0'), -1);
    const st = h.call(w.t, U.SYS_open, scratch, U.O_RDONLY);
    expect(h.call(w.t, U.SYS_read, st, p + P - 7, 100)).toBe(7);
    expect(h.call(w.t, U.SYS_lseek, st, 0, U.SEEK_CUR)).toBe(7);
  });

  it('VmFlags "gu" on the whole VMA, never split, kept by merges, by GUARD_REMOVE and by fork (host)', () => {
    const w = world(backing);
    const r = w.mmap(30 * P, U.PROT_NONE);
    expect(h.call(w.t, U.SYS_munmap, r, 30 * P)).toBe(0);
    const p = w.mmap(10 * P, RW, U.MAP_FIXED, r + 10 * P);
    const flags = (th: Thread) => procSmaps(h.k, th.proc.mm).split(/\n(?=[0-9a-f]+-)/).filter((x) => parseInt(x, 16) >= r && parseInt(x, 16) < r + 30 * P)
      .map((x) => `${(parseInt(x, 16) - r) / P}-${(parseInt(x.split('-')[1], 16) - r) / P} ${/VmFlags: (.*)/.exec(x)![1].includes('gu') ? 'gu' : ''}`);
    expect(w.adv(p + 4 * P, P, G)).toBe(0);
    expect(flags(w.t)).toEqual(['10-20 gu']);
    if (backing === 'anon') {
      w.mmap(5 * P, RW, U.MAP_FIXED, p + 10 * P);
      w.mmap(5 * P, RW, U.MAP_FIXED, p - 5 * P);
      expect(flags(w.t)).toEqual(['5-25 gu']);
    }
    expect(w.adv(p, 10 * P, R)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p, P, U.PROT_READ)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, p, P, RW)).toBe(0);
    const c = fork(w.t);
    expect(flags(c)).toEqual(flags(w.t));
    expect(flags(w.t)[0]).toMatch(/gu$/);
  });
});

describe('guard_regions, one backing', () => {
  it('fork_cow (anon): the child guards and unguards its copy and reads zeroes; the parent keeps its data', () => {
    const w = world('anon');
    const p = w.mmap(10 * P);
    w.fill(p, 10);
    const c = fork(w.t);
    expect(w.pattern(p, 10, c)).toBe(true);
    expect(h.call(c, U.SYS_madvise, p, 10 * P, G)).toBe(0);
    expect(h.call(c, U.SYS_madvise, p, 10 * P, R)).toBe(0);
    expect((copyFromUser(h.k, c.proc.mm, p, 10 * P, -1) as Uint8Array).every((x) => x === 0)).toBe(true);
    h.syscall(c, U.SYS_exit_group, 0);
    expect(w.pattern(p, 10)).toBe(true);
  });

  it('fork_wipeonfork (anon): the child has no markers; MADV_DONTFORK: no VMA (host)', () => {
    const w = world('anon');
    const p = w.mmap(10 * P);
    expect(w.adv(p, 10 * P, U.MADV_WIPEONFORK)).toBe(0);
    expect(w.adv(p, 5 * P, G)).toBe(0);
    const c = fork(w.t);
    for (const i of range(10)) expect(w.rw(p + i * P, c)).toBe(true);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(i >= 5);
  });

  it('fork of a guarded shared mapping copies its page tables (VM_MAYBE_GUARD): the child has its pages mapped (host Rss 4 kB, 0 without)', () => {
    const w = world('shmem');
    const p = w.mmap(4 * P);
    const q = w.mmap(4 * P);
    for (const i of [0, 1]) {
      expect(w.write(p + i * P)).toBe(true);
      expect(w.write(q + i * P)).toBe(true);
    }
    expect(w.adv(p, P, G)).toBe(0);
    const c = fork(w.t);
    expect(smapsRecord(h.k, c.proc.mm, p).Rss).toBe(4);
    expect(smapsRecord(h.k, c.proc.mm, q).Rss).toBe(0);
    expect(w.read(p, c)).toBe(false);
  });

  it('lazyfree and cold_pageout (anon): markers stay', () => {
    const w = world('anon');
    const p = w.mmap(10 * P);
    expect(w.adv(p, 10 * P, G)).toBe(0);
    for (const advice of [U.MADV_FREE, U.MADV_COLD, U.MADV_PAGEOUT]) {
      expect(w.adv(p, 10 * P, advice)).toBe(0);
      for (const i of range(10)) expect(w.rw(p + i * P)).toBe(false);
    }
  });

  it('a guard over part of a transparent huge page splits it: the rest keeps its data (host: Rss 2044 kB)', () => {
    const w = world('anon');
    const big = w.mmap(8 << 20);
    const th = Math.ceil(big / (2 << 20)) * (2 << 20);
    expect(w.adv(th, 2 << 20, U.MADV_HUGEPAGE)).toBe(0);
    expect(w.write(th)).toBe(true);
    expect(smapsRecord(h.k, w.t.proc.mm, big).AnonHugePages).toBe(2048);
    expect(w.adv(th + P, P, G)).toBe(0);
    expect(smapsRecord(h.k, w.t.proc.mm, big)).toMatchObject({ Rss: 2044, AnonHugePages: 0 });
    expect(w.byte(th)).toBe(0x78);
    expect(w.read(th + P)).toBe(false);
    expect(w.adv(th, 2 << 20, R)).toBe(0);
    expect(w.byte(th + P)).toBe(0);
  });

  it('map_private (file): guards of a shared and a private mapping of one file are their own', () => {
    const w = world('file');
    const sh = w.mmap(10 * P);
    const pr = h.call(w.t, U.SYS_mmap, 0, 10 * P, RW, U.MAP_PRIVATE, w.fd, 0);
    w.fill(sh, 10);
    for (let i = 0; i < 10; i += 2) expect(w.adv(sh + i * P, P, G)).toBe(0);
    for (const i of range(10)) {
      expect(w.read(sh + i * P)).toBe(i % 2 !== 0);
      expect(w.read(pr + i * P)).toBe(true);
    }
    for (let i = 0; i < 10; i += 2) expect(w.adv(pr + i * P, P, G)).toBe(0);
    for (const i of range(10)) expect(w.read(pr + i * P)).toBe(i % 2 !== 0);
    expect(w.adv(sh, 10 * P, R)).toBe(0);
    expect(w.adv(pr, 10 * P, R)).toBe(0);
    expect(w.pattern(sh, 10)).toBe(true);
    expect(w.pattern(pr, 10)).toBe(true);
    for (let i = 0; i < 10; i += 2) expect(copyToUser(h.k, w.t.proc.mm, pr + i * P, new Uint8Array(P).fill(97 + i), -1)).toBe(0);
    expect(w.adv(pr, 5 * P, G)).toBe(0);
    for (const i of range(10)) expect(w.read(pr + i * P)).toBe(i >= 5);
    expect(w.adv(pr, 10 * P, R)).toBe(0);
    // The private copies of the first five were zapped: they read the file again.
    for (const i of range(10)) {
      const got = copyFromUser(h.k, w.t.proc.mm, pr + i * P, P, -1) as Uint8Array;
      const want = i < 5 || i % 2 !== 0 ? copyFromUser(h.k, w.t.proc.mm, sh + i * P, P, -1) as Uint8Array : new Uint8Array(P).fill(97 + i);
      expect(Buffer.compare(got, want)).toBe(0);
    }
  });

  it('readonly_file, memfd_write_seal, anon_zeropage: guards in read-only mappings', () => {
    const w = world('shmem');
    const p = w.mmap(10 * P);
    w.fill(p, 10);
    expect(h.call(w.t, U.SYS_munmap, p, 10 * P)).toBe(0);
    const ro = w.mmap(10 * P, U.PROT_READ);
    for (let i = 0; i < 10; i += 2) expect(w.adv(ro + i * P, P, G)).toBe(0);
    for (const i of range(10)) expect(w.read(ro + i * P)).toBe(i % 2 !== 0);
    expect(w.adv(ro, 10 * P, R)).toBe(0);
    expect(w.pattern(ro, 10)).toBe(true);
    const z = h.call(w.t, U.SYS_mmap, 0, 10 * P, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    for (let i = 0; i < 10; i += 2) expect(w.adv(z + i * P, P, G)).toBe(0);
    for (const i of range(10)) expect(w.read(z + i * P)).toBe(i % 2 !== 0);
    expect(w.adv(z, 10 * P, R)).toBe(0);
    for (const i of range(10)) expect(w.read(z + i * P)).toBe(true);
    expect((copyFromUser(h.k, w.t.proc.mm, z, 10 * P, -1) as Uint8Array).every((x) => x === 0)).toBe(true);
  });

  it('fault_around, truncation and hole_punch (file): markers stay through each', () => {
    const w = world('file');
    const p = w.mmap(10 * P);
    w.fill(p, 10);
    expect(w.adv(p, 10 * P, U.MADV_PAGEOUT)).toBe(0);
    for (let i = 0; i < 10; i += 2) expect(w.adv(p + i * P, P, G)).toBe(0);
    for (let i = 1; i < 10; i += 2) expect(w.read(p + i * P)).toBe(true);
    for (const i of range(10)) expect(w.read(p + i * P)).toBe(i % 2 !== 0);
    expect(h.call(w.t, U.SYS_ftruncate, w.fd, 10 * P)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(i % 2 !== 0);
    expect(h.call(w.t, U.SYS_ftruncate, w.fd, 5 * P)).toBe(0);
    expect(h.call(w.t, U.SYS_ftruncate, w.fd, 10 * P)).toBe(0);
    for (const i of range(10)) expect(w.rw(p + i * P)).toBe(i % 2 !== 0);
    // hole_punch
    expect(w.adv(p, 10 * P, R)).toBe(0);
    w.fill(p, 10);
    expect(w.adv(p + 3 * P, 4 * P, G)).toBe(0);
    expect(w.adv(p + 3 * P, 4 * P, U.MADV_REMOVE)).toBe(0);
    for (const i of range(10)) expect(w.read(p + i * P)).toBe(i < 3 || i >= 7);
    expect(w.adv(p, 10 * P, R)).toBe(0);
    expect(w.pattern(p, 3)).toBe(true);
    expect((copyFromUser(h.k, w.t.proc.mm, p + 3 * P, 4 * P, -1) as Uint8Array).every((x) => x === 0)).toBe(true);
    expect(w.pattern(p, 3, w.t, 7)).toBe(true);
  });

  it('refusals (host): EPERM under a seal of read-only anonymous memory (remove allowed), EINVAL for hugetlb, a VM_SPECIAL buffer object and an unaligned start, 0 for len 0', () => {
    const w = world('anon');
    const m = h.call(w.t, U.SYS_mmap, 0, 4 * P, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    expect(h.call(w.t, U.SYS_mseal, m, 4 * P, 0)).toBe(0);
    expect(w.adv(m, P, G)).toBe(-U.EPERM);
    expect(w.adv(m, P, R)).toBe(0);
    const m2 = w.mmap(4 * P);
    expect(h.call(w.t, U.SYS_mseal, m2, 4 * P, 0)).toBe(0);
    expect(w.adv(m2, P, G)).toBe(0);
    expect(w.adv(m2, P, R)).toBe(0);
    expect(w.adv(m2 + 1, P, G)).toBe(-U.EINVAL);
    expect(w.adv(m2, 0, G)).toBe(0);
    expect(w.adv(m2, 1, G)).toBe(0);
    expect(w.read(m2)).toBe(false);
    h.k.hugetlb.hstates[0].setNr(h.k, 2);
    const hp = h.call(w.t, U.SYS_mmap, 0, 2 << 20, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0);
    expect(hp).toBeGreaterThan(0);
    expect(w.adv(hp, 2 << 20, G)).toBe(-U.EINVAL);
    expect(w.adv(hp, 2 << 20, R)).toBe(-U.EINVAL);
    expect(h.call(w.t, U.SYS_munmap, hp, 2 << 20)).toBe(0);
    h.k.hugetlb.hstates[0].setNr(h.k, 0);
    // A buffer object of /dev/vbuf: TTM's VMAs are VM_SPECIAL (VM_MIXEDMAP | VM_DONTEXPAND).
    copyToUser(h.k, w.t.proc.mm, m2 + 2 * P, new TextEncoder().encode('/dev/vbuf\0'), -1);
    const vfd = h.call(w.t, U.SYS_open, m2 + 2 * P, U.O_RDWR);
    const bo = h.kernel.vfs.vbuf.create(4, -1);
    if (typeof bo === 'number') throw new Error(`vbuf: ${bo}`);
    const vb = h.call(w.t, U.SYS_mmap, 0, 4 * P, RW, U.MAP_SHARED, vfd, bo.offset * P);
    expect(w.adv(vb, P, G)).toBe(-U.EINVAL);
    expect(w.adv(vb, P, R)).toBe(-U.EINVAL);
    expect(h.call(w.t, U.SYS_munmap, vb, 4 * P)).toBe(0);
    h.kernel.vfs.vbuf.destroy(bo, -1);
    expect(h.call(w.t, U.SYS_close, vfd)).toBe(0);
    // A PROT_NONE mapping takes guards; made readable, the page still faults.
    const n = h.call(w.t, U.SYS_mmap, 0, 4 * P, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    expect(w.adv(n, P, G)).toBe(0);
    expect(h.call(w.t, U.SYS_mprotect, n, 4 * P, U.PROT_READ)).toBe(0);
    expect(w.read(n)).toBe(false);
    // mincore: a guard page of anonymous memory is not resident (host 1010).
    const q = w.mmap(4 * P);
    for (const i of [0, 1, 2]) expect(w.write(q + i * P)).toBe(true);
    expect(w.adv(q + P, P, G)).toBe(0);
    expect(h.call(w.t, U.SYS_mincore, q, 4 * P, q + 2 * P)).toBe(0);
    expect(Array.from(copyFromUser(h.k, w.t.proc.mm, q + 2 * P, 4, -1) as Uint8Array)).toEqual([1, 0, 1, 0]);
    // A memfd's guard page is there for mincore if the page cache holds it (host 1100).
    copyToUser(h.k, w.t.proc.mm, q, new TextEncoder().encode('m\0'), -1);
    const mfd = h.call(w.t, U.SYS_memfd_create, q, 0);
    expect(h.call(w.t, U.SYS_ftruncate, mfd, 4 * P)).toBe(0);
    const ms = h.call(w.t, U.SYS_mmap, 0, 4 * P, RW, U.MAP_SHARED, mfd, 0);
    for (const i of [0, 1]) expect(w.write(ms + i * P)).toBe(true);
    expect(w.adv(ms, P, G)).toBe(0);
    expect(h.call(w.t, U.SYS_mincore, ms, 4 * P, q + 2 * P)).toBe(0);
    expect(Array.from(copyFromUser(h.k, w.t.proc.mm, q + 2 * P, 4, -1) as Uint8Array)).toEqual([1, 1, 0, 0]);
  });
});

describe('guard regions and swap', () => {
  it('an install over swapped-out pages frees their slots; PAGEOUT and swap-in around markers leave them; a marker is no swap PTE', () => {
    h = new KernelHarness({ memBytes: 16 << 20, swapBytes: 16 << 20, softDirty: false });
    const t = h.spawn();
    const k = h.k;
    const mm = t.proc.mm;
    const p = h.call(t, U.SYS_mmap, 0, 8 * P, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    for (const i of range(8)) expect(copyToUser(k, mm, p + i * P, new Uint8Array([i + 1]), -1)).toBe(0);
    expect(h.call(t, U.SYS_madvise, p, 8 * P, U.MADV_PAGEOUT)).toBe(0);
    expect(mm.swapents).toBe(8);
    expect(k.swap!.inuse).toBe(8);
    // Swap entries count as populated: the install zaps them (their slots freed).
    expect(h.call(t, U.SYS_madvise, p, 4 * P, G)).toBe(0);
    expect(mm.swapents).toBe(4);
    expect(k.swap!.inuse).toBe(4);
    expect(smapsRecord(k, mm, p).Swap).toBe(16);
    validateMm(k, mm);
    // Swap-in next to markers (readahead looks at the neighbouring PTEs), then out again.
    expect((copyFromUser(k, mm, p + 4 * P, 4, -1) as Uint8Array)[0]).toBe(5);
    expect(h.call(t, U.SYS_madvise, p, 8 * P, U.MADV_PAGEOUT)).toBe(0);
    expect(mm.swapents).toBe(4); // the markers are not swap entries
    for (const i of range(4)) expect(handleMmFault(k, mm, p + i * P, X86_PF_USER, -1)).toBe(FAULT_SEGV_MAPERR);
    for (const i of [4, 5, 6, 7]) expect((copyFromUser(k, mm, p + i * P, 1, -1) as Uint8Array)[0]).toBe(i + 1);
    validateMm(k, mm);
  });
});

describe('guard regions without memory', () => {
  it('an install that cannot have a page table is ENOMEM, keeps the markers it put in, leaks nothing, and a retry completes', () => {
    const w = world('anon');
    const k = h.k;
    // 4 MiB across two page-table spans, nothing mapped yet: the install makes both tables.
    const big = w.mmap(8 << 20);
    const p = Math.ceil(big / (2 << 20)) * (2 << 20) + (2 << 20) - 2 * P;
    let failures = 0;
    for (let n = 1; ; n++) {
      k.pages.fail.nth = n;
      const r = w.adv(p, 4 * P, G);
      k.pages.fail.nth = 0;
      validateMm(k, w.t.proc.mm);
      if (r === 0) break;
      expect(r).toBe(-U.ENOMEM);
      failures++;
    }
    expect(failures).toBeGreaterThan(0);
    for (const i of range(4)) expect(w.rw(p + i * P)).toBe(false);
    expect(w.rw(p + 4 * P)).toBe(true);
  });
});
