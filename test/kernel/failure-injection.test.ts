// Failure injection across the syscall table (the fail-nth loop of syzkaller and the
// kernel's fault-injection docs): every system call in the table, with valid arguments and
// hostile ones, is made with the 1st, 2nd, ... Nth frame allocation failing until a call
// makes fewer than N allocations; then once more with memory really exhausted (every free
// frame taken). Page faults of every kind of mapping get the same treatment. After each
// call: no kernel bug (an oops would kill the caller with a report), every address space
// validates; after each system call's batch: every frame is back once the processes are
// gone and their files removed.

import { afterAll, describe, expect, it } from 'vitest';
import { X86_PF_USER, X86_PF_WRITE } from '../../machine/index.ts';
import { PAGEMAP_SCAN } from '../../kernel/uapi.ts';
import { MSHARE_ALIGN } from '../../kernel/mm/mshare.ts';
import { MSHAREFS_CREATE_MAPPING, VBUF_CREATE } from '../../kernel/uapi.ts';
import { copyFromUser, copyToUser } from '../../kernel/mm/uaccess.ts';
import { validateMm } from '../../kernel/mm/validate.ts';
import { SYSCALLS } from '../../kernel/syscalls/table.ts';
import type { Thread } from '../../kernel/task/task.ts';
import * as U from '../../kernel/uapi.ts';
import { type Answer, KernelHarness } from '../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
/** What replaces one argument of a valid call: the usual hostile values. */
const HOSTILE = [0, -1, 1, 0.5, NaN, Infinity, 2 ** 47, 2 ** 64, 0x7fff_ffff_f000, 4095];

const SPAWN_DESC = '{"path":"/g.ts","argv":[]}';
const CLONE_DESC = '{"path":"/g.ts","exportName":"t"}';

/** A process set up with memory, strings and open files that valid calls use. */
interface Ctx {
  h: KernelHarness;
  t: Thread;
  /** 64 pages read-write, populated; strings at its end. */
  buf: number;
  /** Where a child or THP mapping can go: 4 MiB reserved, 2 MiB aligned, unmapped. */
  free2m: number;
  /** NUL-terminated strings in guest memory. */
  path: Record<'tmp' | 'tmpdir' | 'maps' | 'hugefile' | 'region' | 'three' | 'name' | 'spawn' | 'clone' | 'link', number>;
  fd: Record<'file' | 'dir' | 'proc' | 'memfd' | 'huge' | 'region' | 'zero' | 'vbuf' | 'pagemap' | 'ro' | 'nrhuge' | 'pipeR' | 'pipeW', number>;
  /** Sequences of page faults, [address, error code] each, over every kind of mapping. */
  faults: [number, number][][];
}

function setup(h: KernelHarness): Ctx {
  h.k.pages.fail.nth = 0;
  const t = h.spawn();
  const call = (nr: number, ...a: number[]) => h.call(t, nr, ...a);
  const buf = call(U.SYS_mmap, 0, 64 * P, RW, ANON | U.MAP_POPULATE, -1, 0);
  const free2m = Math.ceil(call(U.SYS_mmap, 0, 8 << 20, U.PROT_NONE, ANON | U.MAP_NORESERVE, -1, 0) / (2 << 20)) * (2 << 20);
  call(U.SYS_munmap, free2m, 4 << 20);
  let at = buf + 48 * P;
  const str = (s: string) => {
    const bytes = new TextEncoder().encode(`${s}\0`);
    expect(copyToUser(h.k, t.proc.mm, at, bytes, t.cpu)).toBe(0);
    const va = at;
    at += bytes.length;
    return va;
  };
  const path = {
    tmp: str('/tmp/f'), tmpdir: str('/tmp'), maps: str('/proc/self/maps'), hugefile: str('/dev/hugepages/h'),
    region: str('/sys/fs/mshare/r'), three: str('3\n'), name: str('fi'),
    spawn: str(SPAWN_DESC), clone: str(CLONE_DESC), link: str('/proc/self/fd/3'),
  };
  const open = (p: number, flags: number) => call(U.SYS_open, p, flags, 0o600);
  const fd = {
    file: open(path.tmp, U.O_CREAT | U.O_RDWR), dir: open(path.tmpdir, U.O_RDONLY), proc: open(path.maps, U.O_RDONLY),
    memfd: call(U.SYS_memfd_create, path.name, 0), huge: open(path.hugefile, U.O_CREAT | U.O_RDWR),
    region: open(path.region, U.O_CREAT | U.O_RDWR), zero: open(str('/dev/zero'), U.O_RDWR), vbuf: open(str('/dev/vbuf'), U.O_RDWR),
    pagemap: open(str('/proc/self/pagemap'), U.O_RDONLY), ro: open(path.tmp, U.O_RDONLY),
    nrhuge: open(str('/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'), U.O_WRONLY),
    // A non-blocking pipe (the calls below must not block): its ends, from pipe2's pair at buf + 55 pages.
    pipeR: call(U.SYS_pipe2, buf + 55 * P, U.O_NONBLOCK) === 0 ? readFd(h, t, buf + 55 * P) : -1,
    pipeW: readFd(h, t, buf + 55 * P + 4),
  };
  call(U.SYS_ftruncate, fd.file, 16 * P);
  call(U.SYS_ftruncate, fd.memfd, 16 * P);
  h.k.hugetlb.hstates[0].setNr(h.k, 2);
  call(U.SYS_ftruncate, fd.huge, 2 << 20);
  h.syscall(t, U.SYS_ftruncate, fd.region, MSHARE_ALIGN); // once per region: later ones are EINVAL
  for (const f of Object.values(fd)) expect(f).toBeGreaterThanOrEqual(0);
  const c: Ctx = { h, t, buf, free2m, path, fd, faults: [] };
  c.faults = faultSequences(c);
  return c;
}

/** The int at va in t's memory (a descriptor pipe2 wrote). */
function readFd(h: KernelHarness, t: Thread, va: number): number {
  const b = copyFromUser(h.k, t.proc.mm, va, 4, t.cpu);
  return typeof b === 'number' ? b : new DataView(b.buffer).getInt32(0, true);
}

/** Valid calls of each system call (each then varied one argument at a time with HOSTILE). */
function validCalls(c: Ctx): Record<string, number[][]> {
  const { buf, free2m, path, fd } = c;
  const s = buf + 56 * P; // where calls write what they return
  let next = buf + 60 * P; // the structs calls read, one after the other
  const struct = (bytes: number[]) => {
    copyToUser(c.h.k, c.t.proc.mm, next, Uint8Array.from(bytes), c.t.cpu);
    next += 128;
    return next - 128;
  };
  const capHeader = () => struct([...new Uint8Array(new Uint32Array([U._LINUX_CAPABILITY_VERSION_3, 0]).buffer)]);
  const u64 = (...xs: number[]) => xs.flatMap((x) => [...new Uint8Array(new BigUint64Array([BigInt(x)]).buffer)]);
  return {
    read: [[fd.file, buf, 8 * P], [fd.proc, buf, 4 * P], [fd.pipeR, buf, 4 * P]],
    write: [[fd.file, buf, 12 * P], [1, buf, 16], [fd.nrhuge, path.three, 2], [fd.pipeW, buf, 12 * P]],
    open: [[path.tmp, U.O_RDWR | U.O_TRUNC, 0], [path.maps, U.O_RDONLY, 0]],
    close: [[fd.ro]],
    fstat: [[fd.file, s], [fd.huge, s]],
    lseek: [[fd.file, 100, U.SEEK_SET]],
    ioctl: [[fd.vbuf, VBUF_CREATE, struct([8, 0, 0, 0, ...u64(0, 0)])], [fd.pagemap, PAGEMAP_SCAN, struct(u64(96, 0, buf, buf + 64 * P, 0, s + 512, 8, 0, 0, 0, 0, 0))],
      [fd.region, MSHAREFS_CREATE_MAPPING, struct([...u64(0, 2 << 20, 0), RW, 0, 0, 0, ...[U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, 0, 0, 0].slice(0, 4), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]],
    pread64: [[fd.file, buf, 4 * P, 2 * P]],
    pwrite64: [[fd.file, buf, 4 * P, 20 * P]],
    dup: [[fd.file]],
    dup2: [[fd.file, 40]],
    fcntl: [[fd.file, U.F_DUPFD, 10]],
    ftruncate: [[fd.file, 40 * P], [fd.memfd, 3 * P]],
    mkdir: [[path.tmpdir + 1, 0o755]],
    unlink: [[path.tmp]],
    openat: [[fd.dir, path.name, U.O_CREAT | U.O_RDWR, 0o600]],
    mkdirat: [[U.AT_FDCWD, path.tmp, 0o755]],
    unlinkat: [[U.AT_FDCWD, path.hugefile, 0]],
    fallocate: [[fd.file, 0, 0, 24 * P], [fd.memfd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 0, P]],
    dup3: [[fd.file, 41, U.O_CLOEXEC]],
    memfd_create: [[path.name, U.MFD_CLOEXEC], [path.name, U.MFD_HUGETLB]],
    readlink: [[path.link, s, 256]],
    readlinkat: [[U.AT_FDCWD, path.link, s, 256], [fd.dir, path.name, s, 64]],
    getdents64: [[fd.dir, s, 4 * P]],
    pipe: [[s]],
    pipe2: [[s, U.O_NONBLOCK | U.O_CLOEXEC], [s, U.O_DIRECT]],
    mmap: [[0, 16 * P, RW, ANON | U.MAP_POPULATE, -1, 0], [free2m + (2 << 20), 64 * P, RW, ANON | U.MAP_FIXED | U.MAP_POPULATE, -1, 0],
      [0, 8 * P, RW, U.MAP_SHARED | U.MAP_POPULATE, fd.file, 0], [0, 8 * P, RW, U.MAP_PRIVATE | U.MAP_POPULATE, fd.file, 0],
      [0, 2 << 20, RW, U.MAP_SHARED | U.MAP_POPULATE, fd.huge, 0], [0, 4 * P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_POPULATE, -1, 0],
      [0, MSHARE_ALIGN, RW, U.MAP_SHARED, fd.region, 0], [0, 2 << 20, RW, ANON | U.MAP_HUGETLB | U.MAP_POPULATE, -1, 0]],
    mprotect: [[buf + 4 * P, 4 * P, U.PROT_READ]],
    munmap: [[buf + 8 * P, 2 * P]],
    brk: [[0x5555_5560_0000 + 64 * P]],
    mremap: [[buf, 4 * P, 40 * P, U.MREMAP_MAYMOVE, 0], [buf + 16 * P, 4 * P, 4 * P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, free2m]],
    msync: [[buf, 4 * P, U.MS_SYNC]],
    mincore: [[buf, 64 * P, s]],
    madvise: [[buf, 16 * P, U.MADV_DONTNEED], [buf, 16 * P, U.MADV_POPULATE_WRITE], [buf + 4 * P, 4 * P, U.MADV_HUGEPAGE]],
    mlock: [[buf, 8 * P]],
    munlock: [[buf, 8 * P]],
    mlockall: [[U.MCL_CURRENT]],
    munlockall: [[]],
    mlock2: [[buf, 8 * P, U.MLOCK_ONFAULT]],
    refpage_create: [[buf, 1, 0], [buf, 4096, 0]],
    mseal: [[buf + 40 * P, 2 * P, 0]],
    rt_sigaction: [[U.SIGSEGV, 2], [U.SIGTERM, 1]],
    sched_yield: [[]],
    getpid: [[]],
    clone: [[U.CLONE_THREAD_FLAGS, path.clone, CLONE_DESC.length], [U.FORK_FLAGS, path.clone, CLONE_DESC.length],
      [U.CLONE_VM | U.SIGCHLD, path.clone, CLONE_DESC.length]],
    fork: [[]],
    vfork: [[]],
    exit: [[0]],
    wait4: [[-1, s, U.WNOHANG, 0]],
    kill: [[c.t.proc.pid, 0]],
    getrlimit: [[U.RLIMIT_AS, s]],
    getppid: [[]],
    capget: [[capHeader(), s + 64]],
    capset: [[capHeader(), struct([...new Uint8Array(new Uint32Array([~0, ~0, 0, ~0, ~0, 0]).buffer)])]],
    setrlimit: [[U.RLIMIT_NOFILE, struct(u64(512, 4096))]],
    gettid: [[]],
    tkill: [[c.t.tid, 0]],
    exit_group: [[0]],
    prlimit64: [[0, U.RLIMIT_DATA, 0, s]],
    ptlab_spawn: [[path.spawn, SPAWN_DESC.length]],
    ptlab_thread_join: [[c.t.tid + 100]],
    ptlab_report: [[path.name, 1.5]],
    prctl: [[U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, buf + 2 * P, 8 * P, path.name], [U.PR_SET_NAME, path.name], [U.PR_GET_NAME, s]],
  };
}

/** The argument lists for one system call: its valid calls, and each varied with HOSTILE. */
function argsFor(name: string, c: Ctx): number[][] {
  const valid = validCalls(c)[name];
  if (valid === undefined) throw new Error(`no hostile arguments for ${name}: add them here`);
  const out: number[][] = [];
  for (const v of valid) {
    out.push(v);
    for (let i = 0; i < v.length; i++) for (const x of HOSTILE) out.push(v.map((y, j) => (j === i ? x : y)));
  }
  return out;
}

/**
 * Mappings of every kind, and the sequences of faults that exercise them: first touches,
 * writes after reads (copy-on-write from the zero page, a file page, a reference page, the
 * huge zero page), hugetlb and mshare.
 */
function faultSequences(c: Ctx): [number, number][][] {
  const { h, t, fd } = c;
  const R = X86_PF_USER;
  const W = X86_PF_USER | X86_PF_WRITE;
  const m = (len: number, prot: number, flags: number, f = -1, at = 0) => h.call(t, U.SYS_mmap, at, len, prot, flags, f, 0);
  const anon = m(8 * P, RW, ANON);
  const file = m(8 * P, RW, U.MAP_SHARED, fd.file);
  const priv = m(8 * P, RW, U.MAP_PRIVATE, fd.file);
  const shared = m(8 * P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS);
  const thp = m(2 << 20, RW, ANON | U.MAP_FIXED, -1, c.free2m);
  h.call(t, U.SYS_madvise, thp, 2 << 20, U.MADV_HUGEPAGE);
  const huge = m(2 << 20, RW, U.MAP_SHARED, fd.huge);
  const region = m(MSHARE_ALIGN, RW, U.MAP_SHARED, fd.region);
  const ref = m(4 * P, RW, U.MAP_PRIVATE, h.call(t, U.SYS_refpage_create, c.buf, 1, 0));
  for (const va of [anon, file, priv, shared, thp, huge, region, ref]) expect(va).toBeGreaterThan(0);
  return [[[anon, R], [anon, W]], [[anon + P, W]], [[file, R], [file, W]], [[file + P, W]], [[priv, R], [priv, W]], [[priv + P, W]],
    [[shared, W], [shared + P, R]], [[thp, R], [thp, W]], [[thp + P, W]], [[huge, W]], [[region, W], [region, R]], [[ref, R], [ref, W]], [[ref + P, W]]];
}

/** Run a sequence of faults; the answer to the last, or the first that did not retry. */
function faultRun(c: Ctx, seq: [number, number][]): Answer {
  let a: Answer = { kind: 'return', value: 0 };
  for (const [va, code] of seq) {
    a = c.h.fault(c.t, va, code);
    if (a.kind !== 'return') return a;
  }
  return a;
}

/** Every site where a failure was injected, over the whole test, with counts. */
const sites = new Map<string, number>();

/** Assert the machine is sound: no oops reported, every live address space validates. */
function sound(h: KernelHarness, what: string): void {
  const oops = h.messages.find((m) => m.t === 'procexit' && /kernel bug/i.test(m.report));
  if (oops !== undefined && oops.t === 'procexit') expect.fail(`${what}: ${oops.report}`);
  for (const p of h.kernel.tasks.procs.values()) if (p.state === 'live') validateMm(h.k, p.mm);
}

/** Kill every process, remove the files the calls made, empty the pools: then nothing may be left. */
function cleanup(h: KernelHarness): void {
  h.k.pages.fail.nth = 0;
  h.killAll();
  for (const dir of ['tmp', 'dev/hugepages', 'sys/fs/mshare']) {
    const d = h.kernel.vfs.lookup(dir.split('/'));
    if (typeof d === 'number') continue;
    for (const [name, inode] of [...d.children!]) {
      if (name !== 'mshare_info') expect(h.kernel.vfs.unlink([...dir.split('/'), name], inode.isDir)).toBe(0);
    }
  }
  for (const hs of h.k.hugetlb.hstates) hs.setNr(h.k, 0);
}

/**
 * One call made with the nth allocation failing, for n = 1, 2, ... until a call needs
 * fewer; each n on a fresh caller, so that every call meets the same state. A call that
 * allocates until memory runs out (`unbounded`: fallocate of 2^47 bytes of a tmpfs file,
 * which gives back what it took when an allocation fails, as shmem_fallocate does) is
 * tried with its first few allocations failing.
 */
function failNth(c: Ctx, run: (c: Ctx) => Answer, what: string, unbounded = false): Ctx {
  let ctx = c;
  for (let n = 1; n <= 1000; n++) {
    if (unbounded && n > 4) return ctx;
    ctx.h.k.pages.fail.nth = n;
    run(ctx);
    const reached = ctx.h.k.pages.fail.nth === 0;
    ctx.h.k.pages.fail.nth = 0;
    sound(ctx.h, `${what} failing allocation ${n}`);
    ctx.h.killAll();
    ctx = setup(ctx.h);
    if (!reached) return ctx;
  }
  throw new Error(`${what}: more than 1000 allocations`);
}

/** Take every free frame (real exhaustion); returns the blocks, to give back. */
function exhaust(h: KernelHarness): number[] {
  const taken: number[] = [];
  for (let order = 18; order >= 0; order--) for (let p = h.k.pages.takeBlock(order); p >= 0; p = h.k.pages.takeBlock(order)) taken.push(p);
  expect(h.k.pages.nrFree).toBe(0);
  return taken;
}

function giveBack(h: KernelHarness, taken: number[]): void {
  for (const p of taken) h.k.pages.putPage(p);
}

describe('failure injection at every allocation of every system call', () => {
  afterAll(() => {
    const list = [...sites].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`).join(', ');
    console.log(`failure injection: ${sites.size} allocation sites reached: ${list}`);
  });

  it.each(SYSCALLS.map((s) => [s.name, s] as const))('%s', (name, sc) => {
    const h = new KernelHarness({ memBytes: 48 << 20, nrCpus: 16, maxProcs: 64 });
    let c = setup(h);
    const count = argsFor(name, c).length;
    for (let i = 0; i < count; i++) {
      const args = argsFor(name, c)[i];
      const unbounded = name === 'fallocate' && args[1] === 0 && args[3] >= 48 << 20;
      c = failNth(c, (x) => x.h.syscall(x.t, sc.nr, ...argsFor(name, x)[i]), `${name}(${args.join(', ')})`, unbounded);
    }
    // Real exhaustion: the same calls with not one free frame.
    const taken = exhaust(h);
    for (const args of argsFor(name, c)) {
      const a = h.syscall(c.t, sc.nr, ...args);
      sound(h, `${name}(${args.join(', ')}) with memory exhausted`);
      if (a.kind !== 'return' || c.t.proc.state !== 'live') break; // no memory to set up another caller
    }
    giveBack(h, taken);
    for (const [s, n] of h.k.pages.fail.sites) sites.set(s, (sites.get(s) ?? 0) + n);
    cleanup(h);
    expect(h.leakedFrames(), 'frames not freed').toBe(0);
  });

  it('page faults of every kind of mapping', () => {
    const h = new KernelHarness({ memBytes: 48 << 20, nrCpus: 16, maxProcs: 64 });
    let c = setup(h);
    const count = c.faults.length;
    for (let i = 0; i < count; i++) {
      c = failNth(c, (x) => faultRun(x, x.faults[i]), `faults ${JSON.stringify(c.faults[i])}`);
    }
    const taken = exhaust(h);
    for (const seq of c.faults) {
      faultRun(c, seq);
      sound(h, `faults ${JSON.stringify(seq)} with memory exhausted`);
      if (c.t.proc.state !== 'live') break;
    }
    giveBack(h, taken);
    for (const [s, n] of h.k.pages.fail.sites) sites.set(s, (sites.get(s) ?? 0) + n);
    cleanup(h);
    expect(h.leakedFrames(), 'frames not freed').toBe(0);
  });

  it('covers every system call in the table, and the table agrees with the ABI', () => {
    const names = new Set(SYSCALLS.map((s) => s.name));
    expect(names.size).toBe(SYSCALLS.length);
    expect(new Set(SYSCALLS.map((s) => s.nr)).size).toBe(SYSCALLS.length);
    for (const s of SYSCALLS) expect(U.SYSCALL_NAMES[s.nr], `${s.name} (${s.nr})`).toBe(s.name);
    expect(Object.keys(U.SYSCALL_NAMES).length).toBe(SYSCALLS.length);
  });
});
