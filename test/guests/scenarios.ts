// Guest programs for the integration tests: `main(argv)` runs scenario argv[0].
import * as U from 'ptlab/userland';
import {
  exitGroup, getpid, getppid, gettid, kill, load32, load8, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED,
  mmap, mprotect, munmap, print, PROT_NONE, PROT_READ, PROT_WRITE, SIGKILL, sigaction, SIGSEGV,
  SIGTERM, programPath, spawn, store32, syscall, writeBytes, store8, SyscallError, threadCreate, threadJoin, waitpid, WNOHANG,
} from 'ptlab/userland';
import { code } from './util.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function touchAndUnmapThenTouch(): number {
  const p = mmap(0, 3 * 4096, RW, ANON);
  store32(p + 4096, 5);
  munmap(p + 4096, 4096);
  print(`ADDR ${p + 4096}`);
  return load32(p + 4096); // SIGSEGV, SEGV_MAPERR
}

function writeReadOnly(): number {
  const p = mmap(0, 4096, RW, ANON);
  store32(p, 1);
  mprotect(p, 4096, PROT_READ);
  print(`ADDR ${p} READ ${load32(p)}`);
  store32(p, 2); // SIGSEGV, SEGV_ACCERR
  return 0;
}

function readZero(): number {
  const p = mmap(0, 1000 * 4096, PROT_READ, ANON);
  let sum = 0;
  for (let i = 0; i < 1000; i++) sum += load8(p + i * 4096);
  return sum;
}

function handled(): number {
  const p = mmap(0, 4096, PROT_READ, ANON);
  let got = '';
  sigaction(SIGSEGV, (info) => {
    got = `signo=${info.signo} code=${info.code} addr=${info.addr}`;
    throw new Error('escape');
  });
  try {
    store8(p, 1);
  } catch (e) {
    print(`CAUGHT ${(e as Error).message} ${got} expect=${p}`);
  }
  // Returning from the handler retries: fix the protection, then the write succeeds.
  let calls = 0;
  sigaction(SIGSEGV, () => {
    calls++;
    mprotect(p, 4096, RW);
  });
  store8(p, 9);
  print(`RETRIED calls=${calls} value=${load8(p)}`);
  return 0;
}

function ids(): number {
  print(`IDS ${getpid()} ${getppid()} ${gettid()}`);
  return 0;
}

function children(argv: string[]): number {
  const n = Number(argv[1] ?? 4);
  const kb = Number(argv[2] ?? 256);
  const pids = new Set<number>();
  for (let i = 0; i < n; i++) pids.add(spawn(programPath(), ['child', String(kb), String(i)]));
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const r = waitpid(-1);
    if (!pids.delete(r.pid)) throw new Error(`waitpid returned unknown pid ${r.pid}`);
    sum += r.exitCode ?? 1000;
  }
  print(`CHILDREN ${n} SUM ${sum}`);
  return 0;
}

function child(argv: string[]): number {
  const kb = Number(argv[1]);
  const p = mmap(0, kb * 1024, RW, ANON);
  for (let off = 0; off < kb * 1024; off += 4096) store32(p + off, off);
  let ok = 1;
  for (let off = 0; off < kb * 1024; off += 4096) if (load32(p + off) !== off) ok = 0;
  return ok === 1 ? Number(argv[2]) % 7 : 99;
}

function waitRules(): number {
  const out: string[] = [];
  try {
    waitpid(-1);
  } catch (e) {
    out.push((e as SyscallError).code);
  }
  const pid = spawn(programPath(), ['spin']);
  out.push(String(waitpid(pid, WNOHANG).pid));
  kill(pid, SIGTERM);
  const r = waitpid(pid);
  out.push(`${r.pid === pid} ${r.signal}`);
  const pid2 = spawn(programPath(), ['spin']);
  kill(pid2, SIGKILL);
  out.push(`${waitpid(-1).signal}`);
  print(`WAIT ${out.join(' ')}`);
  return 0;
}

function spin(): number {
  const p = mmap(0, 4096, RW, ANON);
  for (;;) store32(p, load32(p) + 1);
}

function throws(): number {
  mmap(0, 8192, RW, ANON);
  throw new Error('guest bug');
}

// --- threads ------------------------------------------------------------------------------------

export function adder(arg: { base: number; n: number }): number {
  let s = 0;
  for (let i = 0; i < arg.n; i++) s += load32(arg.base + 4 * i);
  return s;
}

function threads(): number {
  const p = mmap(0, 4096 * 4, RW, MAP_SHARED | MAP_ANONYMOUS);
  for (let i = 0; i < 100; i++) store32(p + 4 * i, i);
  const t1 = threadCreate('adder', { base: p, n: 50 });
  const t2 = threadCreate('adder', { base: p + 200, n: 50 });
  print(`THREADS ${threadJoin(t1)} ${threadJoin(t2)} ${t1 !== t2}`);
  return 0;
}

/** Reads `base` until it faults; reports what it saw in the control page. */
export function reader(arg: { page: number; ctl: number }): number {
  sigaction(SIGSEGV, (info) => {
    store32(arg.ctl + 8, 1); // faulted
    store32(arg.ctl + 12, info.addr === arg.page ? 1 : 0);
    throw new Error('unmapped');
  });
  let n = 0;
  try {
    for (;;) {
      const v = load32(arg.page);
      if (v !== 0x5a5a5a5a) store32(arg.ctl + 16, v === 0 ? 2 : 3); // stale or reused data
      n++;
      if (n === 1000) store32(arg.ctl, 1); // running
    }
  } catch {
    store32(arg.ctl + 4, n);
  }
  return 0;
}

function shootdown(): number {
  const ctl = mmap(0, 4096, RW, ANON);
  const page = mmap(0, 4096, RW, ANON);
  for (let i = 0; i < 1024; i++) store32(page + 4 * i, 0x5a5a5a5a);
  const t = threadCreate('reader', { page, ctl });
  // Mapped before the munmap, so that it cannot take the page's address (the reader would
  // read it there); its frames come after: the frame just freed is the most likely next.
  const again = mmap(0, 64 * 4096, RW, ANON);
  while (load32(ctl) === 0) { /* wait until the reader runs */ }
  munmap(page, 4096);
  for (let i = 0; i < 64; i++) store32(again + i * 4096, 0x11111111);
  threadJoin(t);
  print(`SHOOTDOWN faulted=${load32(ctl + 8)} addrok=${load32(ctl + 12)} bad=${load32(ctl + 16)} reads=${load32(ctl + 4)}`);
  return 0;
}

/** Caches `page`, then computes without touching memory for a while, then reads it again. */
export function cruncher(arg: { page: number; ctl: number }): number {
  sigaction(SIGSEGV, () => {
    store32(arg.ctl + 8, 1);
    throw new Error('unmapped');
  });
  if (load32(arg.page) !== 0x5a5a5a5a) store32(arg.ctl + 16, 1);
  store32(arg.ctl, 1);
  const until = Date.now() + 400;
  let x = 0;
  while (Date.now() < until) x = (x * 31 + 7) % 1000003; // no guest memory access
  try {
    const v = load32(arg.page);
    store32(arg.ctl + 16, v === 0x5a5a5a5a ? 2 : 3); // must not get here: the page is gone
  } catch {
    store32(arg.ctl + 4, x === -1 ? 0 : 1);
  }
  return 0;
}

function busyShootdown(): number {
  const ctl = mmap(0, 4096, RW, ANON);
  const page = mmap(0, 4096, RW, ANON);
  store32(page, 0x5a5a5a5a);
  const t = threadCreate('cruncher', { page, ctl });
  const again = mmap(0, 64 * 4096, RW, ANON); // before the munmap: see shootdown
  while (load32(ctl) === 0) { /* wait until it has the page in its TLB */ }
  const t0 = Date.now();
  munmap(page, 4096);
  const ms = Date.now() - t0;
  for (let i = 0; i < 64; i++) store32(again + i * 4096, 0x11111111);
  threadJoin(t);
  print(`BUSY faulted=${load32(ctl + 8)} bad=${load32(ctl + 16)} returned=${ms < 390 ? 'early' : 'late'}`);
  return 0;
}

function pureSpin(): number {
  for (;;) { /* no memory access, no syscall */ }
}

function killSpinner(): number {
  const pid = spawn(programPath(), ['pureSpin']);
  const p = mmap(0, 4096, RW, ANON);
  for (let i = 0; i < 200000; i++) store32(p, i); // give it time to start spinning
  kill(pid, SIGKILL);
  print(`SPINNER ${waitpid(pid).signal}`);
  return 0;
}

function protNone(): number {
  const p = mmap(0, 4096, RW, ANON);
  store32(p, 77);
  mprotect(p, 4096, PROT_NONE);
  mprotect(p, 4096, PROT_READ);
  print(`PROTNONE ${load32(p)}`);
  return 0;
}

/** 'ok', or the errno name f failed with. */

/** /proc through the file syscalls: pieces, pread, the errors. */
function procFiles(): number {
  const base = U.syscall(U.SYS_brk, 0);
  U.syscall(U.SYS_brk, base + 3 * 4096);
  const buf = mmap(0, 65536, RW, ANON);
  const whole = U.readFile('/proc/self/maps');
  const fd = U.open('/proc/self/maps');
  let pieces = '';
  for (;;) {
    const n = U.read(fd, buf, 7);
    if (n === 0) break;
    pieces += new TextDecoder().decode(U.readBytes(buf, n));
  }
  print(`pieces: ${pieces === whole ? 'same' : `differ: ${JSON.stringify(pieces)} vs ${JSON.stringify(whole)}`}`);
  const n = U.pread(fd, buf, 20, 10);
  print(`pread: ${new TextDecoder().decode(U.readBytes(buf, n)) === whole.slice(10, 30) ? 'same' : 'differ'}`);
  U.close(fd);
  print(`heap: ${/\[heap\]/.exec(whole)?.[0] ?? 'none'}`);
  print(`status: ${U.readFile('/proc/self/status').split('\n').find((l) => l.startsWith('VmRSS')) ?? ''}`);
  const dir = U.open('/proc');
  const ro = U.open('/proc/self/maps');
  const rw = U.open('/proc/self/maps', U.O_RDWR);
  const closed = U.open('/proc/meminfo');
  U.close(closed);
  const errors = [
    code(() => U.open('/nonexistent')),
    code(() => U.open('/proc/999999/maps')),
    code(() => U.read(dir, buf, 10)),
    code(() => U.open('/proc', U.O_WRONLY)),
    code(() => U.open('/proc/self/maps', U.O_DIRECTORY)),
    code(() => U.open('/proc/self/newfile', U.O_CREAT | U.O_WRONLY)),
    code(() => U.open('/proc/self/maps', U.O_CREAT | U.O_EXCL)),
    code(() => U.write(ro, buf, 1)),
    code(() => U.write(rw, buf, 1)),
    code(() => U.read(closed, buf, 1)),
    code(() => U.lseek(1, 0, U.SEEK_SET)),
    code(() => U.read(ro, 8, 10)),
    code(() => U.open(`/${'x'.repeat(5000)}`)),
  ];
  print(`errors: ${errors.join(' ')}`);
  for (const f of [dir, ro, rw]) U.close(f);
  const a = U.open('/proc/vmstat');
  const d = U.open('/proc/self');
  const b = U.openat(d, 'status');
  U.close(a);
  const c = U.open('/proc/self/smaps_rollup');
  print(`fds: ${a} ${d} ${b} ${c}`);
  print(`other: ${U.readFile(`/proc/${getpid()}/maps`).split(' ')[1]}`);
  return 0;
}

/** RLIMIT_MEMLOCK once CAP_IPC_LOCK is dropped; a child inherits both. */
function memlock(argv: string[]): number {
  const lines: string[] = [];
  if (argv[1] !== 'child') {
    const big = mmap(0, 64 * 4096, RW, ANON);
    lines.push(`root: ${code(() => U.mlock(big, 64 * 4096))}`);
    munmap(big, 64 * 4096);
    U.dropCapabilities(U.CAP_IPC_LOCK, U.CAP_SYS_RESOURCE);
    U.setrlimit(U.RLIMIT_MEMLOCK, [16384, 16384]);
  }
  const st = U.readFile('/proc/self/status');
  lines.push(`capeff: ${/CapEff:\t(\w+)/.exec(st)?.[1]}`);
  const a = mmap(0, 8 * 4096, RW, ANON);
  lines.push(`mlock 2 pages: ${code(() => U.mlock(a, 2 * 4096))}`);
  lines.push(`again, overlapping: ${code(() => U.mlock(a, 4 * 4096))}`);
  lines.push(`3 more: ${code(() => U.mlock(a + 4 * 4096, 3 * 4096))}`);
  lines.push(`MAP_LOCKED 1 page: ${code(() => mmap(0, 4096, RW, ANON | U.MAP_LOCKED))}`);
  lines.push(`MAP_LOCKED 2 pages: ${code(() => mmap(0, 2 * 4096, RW, ANON | U.MAP_LOCKED))}`);
  lines.push(`mlockall current: ${code(() => U.mlockall(U.MCL_CURRENT))}`);
  lines.push(`mlockall future: ${code(() => U.mlockall(U.MCL_FUTURE))}`);
  lines.push(`mmap under MCL_FUTURE: ${code(() => mmap(0, 4 * 4096, RW, ANON))}`);
  U.munlockall();
  lines.push(`raise hard: ${code(() => U.setrlimit(U.RLIMIT_MEMLOCK, [16384, 32768]))}`);
  U.setrlimit(U.RLIMIT_MEMLOCK, [0, 16384]);
  lines.push(`limit 0 mlock: ${code(() => U.mlock(a + 7 * 4096, 4096))}`);
  lines.push(`limit 0 MAP_LOCKED: ${code(() => mmap(0, 4096, RW, ANON | U.MAP_LOCKED))}`);
  lines.push(`munlock: ${code(() => U.munlock(a, 8 * 4096))}`);
  print(lines.join('\n'));
  if (argv[1] !== 'child') {
    const pid = spawn(programPath(), ['memlock', 'child']);
    return waitpid(pid).exitCode ?? 1;
  }
  return 0;
}

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** tmpfs through the file syscalls, and their errors. */
function tmpfsFiles(): number {
  const out: string[] = [];
  const buf = mmap(0, 65536, RW, ANON);
  const fd = U.open('/tmp/a.txt', U.O_CREAT | U.O_RDWR, 0o644);
  U.writeAll(fd, 'hello, world');
  out.push(`size ${U.fstat(fd).size} pos ${U.lseek(fd, 0, U.SEEK_CUR)} end ${U.lseek(fd, -5, U.SEEK_END)}`);
  out.push(`read ${decode(U.readBytes(buf, U.read(fd, buf, 100)))}`);
  U.writeBytes(buf, new TextEncoder().encode('HELLO'));
  U.pwrite(fd, buf, 5, 0);
  out.push(`pread ${decode(U.readBytes(buf, U.pread(fd, buf, 100, 0)))}`);
  U.pwrite(fd, buf, 5, 10000); // a hole from 12 to 10000
  const st = U.fstat(fd);
  out.push(`hole size ${st.size} blocks ${st.blocks} zero ${U.pread(fd, buf, 4, 5000)}:${U.load32(buf)}`);
  U.ftruncate(fd, 3);
  out.push(`truncated ${decode(U.readBytes(buf, U.pread(fd, buf, 100, 0)))}`);
  const d = U.dup(fd);
  U.dup2(fd, 20);
  out.push(`dup ${d} cloexec ${U.fcntl(20, U.F_GETFD)} ${U.fcntl(fd, U.F_DUPFD_CLOEXEC, 30)}`);
  U.unlink('/tmp/a.txt');
  out.push(`unlinked readable ${decode(U.readBytes(buf, U.pread(fd, buf, 100, 0)))}`);
  const z = U.open('/dev/zero');
  U.writeBytes(buf, new Uint8Array([7, 7, 7, 7]));
  U.read(z, buf, 4);
  const n = U.open('/dev/null', U.O_WRONLY);
  out.push(`devices ${U.load32(buf)} ${U.write(n, buf, 10)} ${U.read(U.open('/dev/null'), buf, 10)}`);
  U.mkdir('/tmp/d');
  const m = U.memfdCreate('blob', U.MFD_CLOEXEC);
  out.push(`memfd ${U.fcntl(m, U.F_GETFD)} ${(U.fstat(m).mode & U.S_IFMT) === U.S_IFREG}`);
  const errors = [
    code(() => U.open('/tmp/nope')),
    code(() => U.open('/tmp/d', U.O_RDWR)),
    code(() => U.open('/tmp/d/x/y', U.O_CREAT | U.O_RDWR)),
    code(() => U.open('/dev/null/x')),
    code(() => U.open('/dev/null', U.O_CREAT | U.O_EXCL)),
    code(() => U.mkdir('/tmp/d')),
    code(() => U.unlink('/tmp/d')),
    code(() => U.rmdir('/tmp')),
    code(() => U.ftruncate(U.open('/dev/zero'), 10)),
    code(() => U.ftruncate(U.open('/tmp/d'), 0)),
    code(() => { const r = U.syscall(U.SYS_ioctl, m, 0x5401, 0); if (r < 0) throw new SyscallError('ioctl', -r); }),
    code(() => U.memfdCreate('x'.repeat(300))),
  ];
  out.push(`errors ${errors.join(' ')}`);
  U.rmdir('/tmp/d');
  print(out.join('\n'));
  return 0;
}

/**
 * One file shared by two processes: writes through one mapping show in read() and in the
 * other process's mapping; a private mapping copies on write; truncation makes the other
 * process's access to the cut page SIGBUS.
 */
function sharedFile(argv: string[]): number {
  const P = 4096;
  if (argv[1] === 'child') {
    const fd = U.open('/tmp/shared', U.O_RDWR);
    const p = mmap(0, 4 * P, RW, U.MAP_SHARED, fd, 0);
    const priv = mmap(0, 4 * P, RW, U.MAP_PRIVATE, fd, 0);
    while (load32(p) !== 1) U.syscall(U.SYS_sched_yield);
    const seen = `${load32(p + 4)} ${load32(p + 2 * P)}`;
    store32(priv + 2 * P, 999); // a private copy: nobody else sees it
    store32(p + 8, 555); // the parent sees this through read() and its mapping
    store32(p, 2);
    print(`child saw ${seen}, private ${load32(priv + 2 * P)} shared ${load32(p + 2 * P)}`);
    while (load32(p) !== 3) U.syscall(U.SYS_sched_yield);
    return load32(p + 2 * P); // the file was cut to one page: SIGBUS
  }
  const fd = U.open('/tmp/shared', U.O_CREAT | U.O_RDWR, 0o600);
  U.ftruncate(fd, 4 * P);
  const p = mmap(0, 4 * P, RW, U.MAP_SHARED, fd, 0);
  store32(p + 4, 42);
  store32(p + 2 * P, 77);
  const child = spawn(programPath(), ['shared-file', 'child']);
  store32(p, 1);
  while (load32(p) !== 2) U.syscall(U.SYS_sched_yield);
  const buf = mmap(0, P, RW, ANON);
  U.pread(fd, buf, 4, 8);
  print(`parent read ${U.load32(buf)} mapped ${load32(p + 8)} page2 ${load32(p + 2 * P)}`);
  U.ftruncate(fd, P);
  store32(p, 3);
  const w = waitpid(child);
  print(`child signal ${w.signal}`);
  U.unlink('/tmp/shared');
  return 0;
}

/** pagemap's read rules and PFN hiding; clear_refs 5 resets VmHWM. */
function pagemap(): number {
  const P = 4096;
  const p = mmap(0, 4 * P, RW, ANON);
  store32(p, 1);
  const buf = mmap(0, P, RW, ANON);
  const entry = (): [number, number] => {
    const fd = U.open('/proc/self/pagemap');
    U.pread(fd, buf, 8, (p / P) * 8);
    U.close(fd);
    return [U.load32(buf) >>> 0, U.load32(buf + 4) >>> 0];
  };
  const fd = U.open('/proc/self/pagemap');
  const out = [
    `unaligned ${code(() => U.pread(fd, buf, 8, 4))} odd ${code(() => U.pread(fd, buf, 12, 0))}`,
    `root ${entry()[0] !== 0} ${(entry()[1] >>> 23).toString(16)}`,
  ];
  U.dropCapabilities(21); // CAP_SYS_ADMIN
  out.push(`unprivileged ${entry()[0]} ${(entry()[1] >>> 23).toString(16)}`);
  const big = mmap(0, 64 * P, RW, ANON);
  for (let i = 0; i < 64; i++) store32(big + i * P, i);
  munmap(big, 64 * P);
  const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(U.readFile('/proc/self/status'))?.[1]);
  const before = hwm();
  const cr = U.open('/proc/self/clear_refs', U.O_WRONLY);
  U.writeAll(cr, '5\n');
  out.push(`hwm dropped ${hwm() < before - 200}`);
  out.push(`bad value ${code(() => U.writeAll(cr, '9'))}`);
  print(out.join('\n'));
  return 0;
}

/** T11's writer: random pages of the buffer, each write logged after it is made. */
export function vbufWriter(arg: { fb: number; log: number; pages: number; writes: number }): number {
  const { store32: put } = U.accessors();
  let x = 12345;
  for (let i = 0; i < arg.writes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const page = (x >>> 8) % arg.pages;
    put(arg.fb + page * 4096 + ((i * 4) % 4096), i + 1);
    put(arg.log + 16 + 4 * i, page);
    put(arg.log, i + 1);
  }
  put(arg.log + 4, 1);
  return 0;
}

/**
 * T11 with real workers: a thread writes random pages of a vbuf buffer while this one
 * harvests again and again in the kernel. Store j happens after log entry j - 1 is
 * visible and before entry j is, so it can be recorded only by a harvest that ended after
 * the count reached j, and must be recorded at the latest by the first harvest that
 * started after the count reached j + 1 (it was dirty then). A harvest may record only
 * pages written at an index up to the count seen after it, except for the conservative
 * whole-span marking of a switch to PAGETABLE.
 */
function vbufRace(): number {
  const P = 4096;
  const pages = 256;
  const writes = 30000;
  const dev = U.open('/dev/vbuf', U.O_RDWR);
  const bo = U.vbufCreate(dev, pages);
  const fb = mmap(0, pages * P, RW, MAP_SHARED, dev, bo.offset);
  const log = mmap(0, (writes * 4 + 16 + P) & ~(P - 1), RW, ANON);
  const bitmap = mmap(0, P, RW, ANON);
  const tid = threadCreate('vbufWriter', { fb, log, pages, writes });
  const harvests: { s: number; e: number; set: Set<number>; toPagetable: boolean }[] = [];
  let switches = 0;
  for (;;) {
    const done = load32(log + 4) === 1;
    const s = load32(log);
    const r = U.vbufHarvest(dev, bo.handle, bitmap);
    const e = load32(log);
    const set = new Set<number>();
    for (let i = 0; i < pages; i++) if ((load32(bitmap + 4 * (i >> 5)) >>> (i & 31)) & 1) set.add(i);
    harvests.push({ s, e, set, toPagetable: r.switches > switches && r.method === 0 });
    switches = r.switches;
    if (done) break;
  }
  threadJoin(tid);
  const pageAt = (j: number) => load32(log + 16 + 4 * j);
  const problems: string[] = [];
  let h0 = 0;
  for (let j = 0; j < writes; j++) {
    while (harvests[h0].e < j) h0++; // the first harvest that could have seen store j
    let last = h0;
    while (last < harvests.length - 1 && harvests[last].s < j + 1) last++; // the one that must
    let found = false;
    for (let h = h0; h <= last && !found; h++) found = harvests[h].set.has(pageAt(j));
    if (!found) problems.push(`write ${j} (page ${pageAt(j)}) not in harvests ${h0}-${last}`);
  }
  const lastWrite = new Map<number, number>();
  for (let h = 0, j = 0; h < harvests.length; h++) {
    for (; j <= Math.min(harvests[h].e, writes - 1); j++) lastWrite.set(pageAt(j), j);
    if (harvests[h].toPagetable) continue;
    for (const p of harvests[h].set) if (!lastWrite.has(p)) problems.push(`page ${p} in harvest ${h} never written`);
  }
  U.close(dev);
  print(`harvests ${harvests.length} concurrent ${harvests.filter((x) => x.e > x.s).length} switches ${switches} problems ${problems.length}${problems.length ? `: ${problems.slice(0, 5).join('; ')}` : ''}`);
  return 0;
}

/** T13: soft-dirty through clear_refs 4 and pagemap bit 55. */
function softDirty(): number {
  const P = 4096;
  const buf = mmap(0, P, RW, ANON);
  const sd = (va: number, n: number): string => {
    const fd = U.open('/proc/self/pagemap');
    U.pread(fd, buf, 8 * n, (va / P) * 8);
    U.close(fd);
    return Array.from({ length: n }, (_, i) => (U.load32(buf + 8 * i + 4) >>> 23) & 1).join('');
  };
  const clear = () => {
    const fd = U.open('/proc/self/clear_refs', U.O_WRONLY);
    U.writeAll(fd, '4');
    U.close(fd);
  };
  const out: string[] = [];
  const p = mmap(0, 4 * P, RW, ANON);
  store32(p, 1);
  store32(p + P, 1);
  out.push(`new ${sd(p, 4)}`);
  clear();
  out.push(`cleared ${sd(p, 4)}`);
  store32(p, 2);
  out.push(`written ${sd(p, 4)}`);
  const q = mmap(0, 2 * P, RW, ANON);
  out.push(`new mapping ${sd(q, 2)}`);
  // A shared file: once clear_refs 4 has cleared VM_SOFTDIRTY the mapping is write-notified
  // (vma_wants_writenotify): a read fault maps its cached neighbours read-only
  // (fault-around), so a write to one of them faults and sets its soft-dirty bit.
  const fd = U.memfdCreate('sd');
  U.ftruncate(fd, 4 * P);
  const f = mmap(0, 4 * P, RW, MAP_SHARED, fd, 0);
  const f2 = mmap(0, 4 * P, RW, MAP_SHARED, fd, 0);
  for (let i = 0; i < 4; i++) load32(f2 + i * P); // the pages are cached, clean
  clear();
  load32(f);
  store32(f + 2 * P, 9);
  const smaps = U.readFile('/proc/self/smaps');
  const rec = smaps.split(/\n(?=[0-9a-f]+-)/).find((r) => r.startsWith(f.toString(16))) ?? '';
  out.push(`shared ${sd(f, 4)} dirty kB ${/Shared_Dirty:\s+(\d+)/.exec(rec)?.[1]}`);
  print(out.join('\n'));
  return 0;
}

/**
 * T6 with real workers: two processes map one vbuf buffer and both write page 5. A harvest
 * records one page and cleans two PTEs; it flushed both processes' TLBs, so when both write
 * again the next harvest finds both dirty again.
 */
function vbufTwo(argv: string[]): number {
  const P = 4096;
  const CTL = '/tmp/vbuf-two';
  if (argv[1] === 'child') {
    const dev = U.open('/dev/vbuf', U.O_RDWR);
    const fb = mmap(0, 16 * P, RW, MAP_SHARED, dev, Number(argv[2]));
    const ctl = mmap(0, P, RW, MAP_SHARED, U.open(CTL, U.O_RDWR), 0);
    for (let round = 1; round <= 2; round++) {
      while (load32(ctl) !== round) U.syscall(U.SYS_sched_yield);
      store32(fb + 5 * P, round);
      store32(ctl + 4, round);
    }
    // Stay mapped until the parent's last harvest: exiting would unmap (and count) our PTE.
    while (load32(ctl) !== 3) U.syscall(U.SYS_sched_yield);
    return 0;
  }
  const dev = U.open('/dev/vbuf', U.O_RDWR);
  const bo = U.vbufCreate(dev, 16);
  const fb = mmap(0, 16 * P, RW, MAP_SHARED, dev, bo.offset);
  const cfd = U.open(CTL, U.O_CREAT | U.O_RDWR, 0o600);
  U.ftruncate(cfd, P);
  const ctl = mmap(0, P, RW, MAP_SHARED, cfd, 0);
  const bitmap = mmap(0, P, RW, ANON);
  const child = spawn(programPath(), ['vbuf-two', 'child', String(bo.offset)]);
  const out: string[] = [];
  for (let round = 1; round <= 2; round++) {
    store32(fb + 5 * P, round);
    store32(ctl, round);
    while (load32(ctl + 4) !== round) U.syscall(U.SYS_sched_yield);
    const h = U.vbufHarvest(dev, bo.handle, bitmap);
    out.push(`round ${round}: ptes ${h.ptes} pages ${h.dirty} bits ${U.load32(bitmap).toString(2)}`);
  }
  store32(ctl, 3);
  waitpid(child);
  U.unlink(CTL);
  print(out.join('\n'));
  return 0;
}

/** msharefs: the info file, sizing once, and the ioctls' checks (v3). */
function msharefs(): number {
  const G512 = 2 ** 39;
  const out: string[] = [];
  const buf = mmap(0, 4096, RW, ANON);
  out.push(`info ${U.readFile('/sys/fs/mshare/mshare_info').trim()}`);
  const create = (fd: number, regionOffset: number, size: number, flags: number, fdArg = -1): string => code(() => {
    U.store64(buf, BigInt(regionOffset));
    U.store64(buf + 8, BigInt(size));
    U.store64(buf + 16, 0n);
    U.store32(buf + 24, RW);
    U.store32(buf + 28, flags);
    U.store32(buf + 32, fdArg);
    U.ioctl(fd, U.MSHAREFS_CREATE_MAPPING, buf);
  });
  const unmap = (fd: number, regionOffset: number, size: number): string => code(() => {
    U.store64(buf, BigInt(regionOffset));
    U.store64(buf + 8, BigInt(size));
    U.ioctl(fd, U.MSHAREFS_UNMAP, buf);
  });
  const SA = U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED;
  const fd = U.open('/sys/fs/mshare/db', U.O_RDWR | U.O_CREAT | U.O_EXCL, 0o600);
  out.push(`fresh size ${U.fstat(fd).size} create ${create(fd, 0, 4096, SA)}`);
  out.push(`sizes ${code(() => U.ftruncate(fd, 2 ** 30))} ${code(() => U.ftruncate(fd, G512))} ${code(() => U.ftruncate(fd, G512))} size ${U.fstat(fd).size / G512}`);
  const other = U.open('/sys/fs/mshare/other', U.O_RDWR | U.O_CREAT, 0o600);
  out.push(`fallocate ${code(() => U.fallocate(other, 1, 0, G512))} ${code(() => U.fallocate(other, 0, 4096, G512))} ${code(() => U.fallocate(other, 0, 0, G512))}`);
  const memfd = U.memfdCreate('obj');
  U.ftruncate(memfd, 2 << 20);
  out.push(`create ${[
    create(fd, 0, 2 << 20, SA),
    create(fd, G512, 4096, SA),
    create(fd, 0, 4096, U.MAP_SHARED | U.MAP_ANONYMOUS),
    create(fd, 0, 4096, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED),
    create(fd, 4 << 20, 2 << 20, U.MAP_SHARED | U.MAP_FIXED, memfd),
    create(fd, 0, 4096, U.MAP_SHARED | U.MAP_FIXED, other),
    create(fd, 0, 4096, U.MAP_SHARED | U.MAP_FIXED, 999),
    create(fd, G512 - 4096, 8192, SA),
  ].join(' ')}`);
  out.push(`ioctl ${code(() => U.ioctl(fd, 0x12345678, buf))} unmap ${unmap(fd, 0, 4096)} ${unmap(fd, G512, 4096)} ${unmap(fd, 0, G512 + 4096)}`);
  out.push(`read ${code(() => U.read(fd, buf, 8))} unlink info ${code(() => U.unlink('/sys/fs/mshare/mshare_info'))}`);
  U.mkdir('/sys/fs/mshare/dir');
  const sub = U.open('/sys/fs/mshare/dir/r', U.O_RDWR | U.O_CREAT, 0o600);
  out.push(`subdir region ${code(() => U.ftruncate(sub, 1))}`);
  for (const f of [fd, other, sub]) U.close(f);
  for (const path of ['/sys/fs/mshare/db', '/sys/fs/mshare/other', '/sys/fs/mshare/dir/r']) U.unlink(path);
  print(out.join('\n'));
  return 0;
}

/**
 * mshare between two processes: the owner maps an object and writes; another process maps
 * the region at a different address and reads it with one linking fault and no page fault;
 * writes go both ways; part of the region cannot be unmapped or reprotected; an UNMAP by
 * the owner makes the other process's next access SIGSEGV (every TLB was flushed).
 */
function mshareShare(argv: string[]): number {
  const G512 = 2 ** 39;
  const CTL = '/tmp/mshare-ctl';
  const pte = () => Number(/VmPTE:\s+(\d+)/.exec(U.readFile('/proc/self/status'))?.[1]);
  if (argv[1] === 'child') {
    const fd = U.open('/sys/fs/mshare/sga', U.O_RDWR);
    const size = U.fstat(fd).size;
    const p = mmap(3 * G512, size, RW, MAP_SHARED | U.MAP_FIXED, fd, 0);
    const ctl = mmap(0, 4096, RW, MAP_SHARED, U.open(CTL, U.O_RDWR), 0);
    const before = U.counters().page_faults;
    const v = load32(p + 8);
    const faults = U.counters().page_faults - before;
    store32(p + 12, 777);
    const pteKb = pte();
    const errs = `${code(() => munmap(p, 4096))} ${code(() => mprotect(p, size, PROT_READ))}`;
    print(`child at ${p / G512} reads ${v} with ${faults} fault(s), VmPTE ${pteKb} kB, partial ${errs}`);
    store32(ctl, 1);
    while (load32(ctl) !== 2) U.syscall(U.SYS_sched_yield);
    sigaction(SIGSEGV, (info) => {
      print(`child SIGSEGV code ${info.code} at offset ${(info.addr - p).toString(16)}`);
      exitGroup(0);
    });
    return load32(p + 8);
  }
  const fd = U.open('/sys/fs/mshare/sga', U.O_RDWR | U.O_CREAT | U.O_EXCL, 0o600);
  U.ftruncate(fd, G512);
  const buf = mmap(0, 4096, RW, ANON);
  U.store64(buf, 0n);
  U.store64(buf + 8, BigInt(2 << 20));
  U.store64(buf + 16, 0n);
  U.store32(buf + 24, RW);
  U.store32(buf + 28, MAP_SHARED | MAP_ANONYMOUS | U.MAP_FIXED);
  U.store32(buf + 32, -1);
  U.ioctl(fd, U.MSHAREFS_CREATE_MAPPING, buf);
  const p = mmap(0, G512, RW, MAP_SHARED, fd, 0);
  store32(p + 8, 4242);
  const cfd = U.open(CTL, U.O_CREAT | U.O_RDWR, 0o600);
  U.ftruncate(cfd, 4096);
  const ctl = mmap(0, 4096, RW, MAP_SHARED, cfd, 0);
  const child = spawn(programPath(), ['mshare-share', 'child']);
  while (load32(ctl) !== 1) U.syscall(U.SYS_sched_yield);
  print(`owner at ${p % G512 === 0 ? 'a 512 GiB boundary' : p} sees ${load32(p + 12)}, VmPTE ${pte()} kB`);
  print(U.readFile('/proc/self/maps').split('\n').find((l) => l.includes('/sys/fs/mshare')) ?? 'no maps line');
  U.store64(buf, 0n);
  U.store64(buf + 8, BigInt(2 << 20));
  U.ioctl(fd, U.MSHAREFS_UNMAP, buf); // MSHAREFS_UNMAP: the object is gone for everyone
  store32(ctl, 2);
  const w = waitpid(child);
  print(`child exit ${w.exitCode}`);
  U.unlink('/sys/fs/mshare/sga');
  U.unlink(CTL);
  return 0;
}

/**
 * spawn is posix_spawn: the child starts with the parent's descriptors that lack
 * close-on-exec (at the same numbers, sharing the open file and its offset), not the others.
 */
function inheritFds(argv: string[]): number {
  if (argv[1] === 'child') {
    const [plain, cloexec, memfd] = argv.slice(2).map(Number);
    const buf = mmap(0, 4096, RW, ANON);
    const n = U.read(plain, buf, 5);
    const text = new TextDecoder().decode(U.readBytes(buf, n));
    const m = mmap(0, 4096, RW, MAP_SHARED, memfd, 0);
    store32(m, load32(m) + 1);
    print(`child read ${text} cloexec ${code(() => U.fstat(cloexec))} memfd ${load32(m)}`);
    return 0;
  }
  const plain = U.open('/tmp/inherit', U.O_CREAT | U.O_RDWR, 0o600);
  U.writeString(plain, 'hello world');
  U.lseek(plain, 6, 0);
  const cloexec = U.open('/tmp/inherit', U.O_RDONLY | U.O_CLOEXEC);
  const memfd = U.memfdCreate('counter');
  U.ftruncate(memfd, 4096);
  const m = mmap(0, 4096, RW, MAP_SHARED, memfd, 0);
  store32(m, 41);
  const w = waitpid(spawn(programPath(), ['inherit-fds', 'child', String(plain), String(cloexec), String(memfd)]));
  print(`child exit ${w.exitCode}, offset after ${U.lseek(plain, 0, 1)}, memfd ${load32(m)}`);
  for (const fd of [plain, cloexec, memfd]) U.close(fd);
  U.unlink('/tmp/inherit');
  return 0;
}

const SCENARIOS: Record<string, (argv: string[]) => number> = {
  'inherit-fds': inheritFds,
  'proc-files': procFiles,
  'mshare-share': mshareShare,
  msharefs,
  'vbuf-two': vbufTwo,
  'soft-dirty': softDirty,
  'vbuf-race': vbufRace,
  pagemap,
  'tmpfs-files': tmpfsFiles,
  'shared-file': sharedFile,
  memlock,
  touchAndUnmapThenTouch, writeReadOnly, readZero, handled, ids, children, child, waitRules, spin,
  throws, threads, shootdown, protNone, busyShootdown, pureSpin, killSpinner,
  exit3: () => exitGroup(3),
  killself: () => kill(getpid(), SIGKILL),
};

export default function main(argv: string[]): number {
  const f = SCENARIOS[argv[0]];
  if (f === undefined) throw new Error(`unknown scenario ${argv[0]}`);
  return f(argv);
}

// --- hostile arguments -----------------------------------------------------------------------------

export function hostileCalls(): [string, number[], number][] {
  const out: [string, number[], number][] = [];
  const bad = [0, -1, 1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, -(2 ** 63), 4095, 2 ** 47, 0x7fff_ffff_f000, 0xdead_b000];
  const mapped = mmap(0, 8192, RW, ANON);
  const victim = mmap(0, 4096, RW, ANON);
  const unmapped = mmap(0, 4096, RW, ANON);
  munmap(unmapped, 4096);
  const ptrs = [...bad, unmapped, mapped + 4095, mapped];
  const go = (name: string, nr: number, ...args: number[]) => out.push([name, args, syscall(nr, ...args)]);
  const self = getpid();
  const pf = U.open('/proc/self/maps');
  const dirf = U.open('/proc/self');
  for (const a of bad) {
    for (const b of bad) {
      go('mmap', U.SYS_mmap, a, b, RW, ANON, -1, 0);
      go('mmap', U.SYS_mmap, 0, 4096, a, b, -1, 0);
      go('mmap', U.SYS_mmap, 0, 4096, RW, ANON, a, b);
      // A valid munmap of most of the address space would take this program's own memory.
      if (!(Number.isInteger(a) && a % 4096 === 0 && b >= 2 ** 32)) go('munmap', U.SYS_munmap, a, b);
      go('mprotect', U.SYS_mprotect, a, b, PROT_READ);
      go('mprotect', U.SYS_mprotect, victim, 4096, a);
      go('mremap', U.SYS_mremap, a, b, 4096, 0, 0);
      go('mremap', U.SYS_mremap, victim, 4096, a, b, 0);
      go('madvise', U.SYS_madvise, a, b, 4);
    }
    for (const p of ptrs) {
      go('write', U.SYS_write, 1, p, a);
      go('write', U.SYS_write, a, p, 1);
      go('read', U.SYS_read, a, p, 1);
      go('wait4', U.SYS_wait4, a, p, 0, 0);
      go('wait4', U.SYS_wait4, -1, p, a, 0);
      go('clone', U.SYS_clone, a, p, 10);
      go('clone', U.SYS_clone, U.CLONE_THREAD_FLAGS, p, a);
      go('ptlab_spawn', U.SYS_ptlab_spawn, p, a);
      go('getrlimit', U.SYS_getrlimit, a, p);
      go('open', U.SYS_open, p, a);
      go('openat', U.SYS_openat, a, p, 0);
      go('openat', U.SYS_openat, dirf, p, a);
      go('pread64', U.SYS_pread64, pf, p, 16, a);
      go('read', U.SYS_read, pf, p, a);
      go('refpage_create', U.SYS_refpage_create, p, a, 0);
      go('memfd_create', U.SYS_memfd_create, p, a);
    }
    go('refpage_create', U.SYS_refpage_create, mapped, 16, a);
    go('lseek', U.SYS_lseek, pf, a, U.SEEK_SET);
    go('lseek', U.SYS_lseek, pf, 0, a);
    if (!(Number.isInteger(a) && a >= 0 && a < 16)) go('setrlimit', U.SYS_setrlimit, a, mapped);
    go('prlimit64', U.SYS_prlimit64, a === 0 ? 999_999 : a, 0, 0, mapped);
    go('close', U.SYS_close, a + 3);
    go('brk', U.SYS_brk, a);
    go('mseal', U.SYS_mseal, a, 4096, 0);
    go('mseal', U.SYS_mseal, victim, 4096, a);
    go('mlock', U.SYS_mlock, a, 4096);
    go('mlock2', U.SYS_mlock2, victim, 4096, a);
    go('munlock', U.SYS_munlock, a, 4096);
    go('mlockall', U.SYS_mlockall, a);
    go('munlockall', U.SYS_munlockall);
    go('mincore', U.SYS_mincore, a, 4096, mapped);
    go('mincore', U.SYS_mincore, mapped, 4096, a);
    go('rt_sigaction', U.SYS_rt_sigaction, a, 0);
    go('rt_sigaction', U.SYS_rt_sigaction, SIGSEGV, a);
    if (a !== self) go('kill', U.SYS_kill, a, SIGKILL);
    go('kill', U.SYS_kill, self, a === 0 ? 0 : Number.isInteger(a) && a >= 1 && a <= 64 ? a + 64 : a);
    if (a !== gettid()) go('tkill', U.SYS_tkill, a, SIGKILL);
    go('ptlab_thread_join', U.SYS_ptlab_thread_join, a);
    if (!(Number.isInteger(a) && U.SYSCALL_NAMES[a] !== undefined)) go('unknown', a, 1, 2, 3);
  }
  go('unknown', 9999);
  go('unknown', -5);
  go('ptlab_thread_join', U.SYS_ptlab_thread_join, gettid());
  go('rt_sigaction', U.SYS_rt_sigaction, SIGKILL, 1);
  // Bad JSON and bad shapes in descriptors.
  const text = new TextEncoder().encode('{not json');
  writeBytes(mapped, text);
  go('clone', U.SYS_clone, U.CLONE_THREAD_FLAGS, mapped, text.length);
  const shape = new TextEncoder().encode('{"path":5,"argv":"x"}');
  writeBytes(mapped, shape);
  go('ptlab_spawn', U.SYS_ptlab_spawn, mapped, shape.length);
  return out;
}

function hostile(): number {
  // Some calls populate huge ranges (MAP_POPULATE, mlock): immune to the OOM killer, which
  // would end this process as Linux's would, population stops where memory does.
  U.writeFile('/proc/self/oom_score_adj', '-1000');
  const results = hostileCalls();
  print(`HOSTILE ${JSON.stringify(results)}`);
  return 0;
}

SCENARIOS.hostile = hostile;
SCENARIOS.missingProgram = () => {
  // Not there, or a directory: the spawn fails in the parent, as posix_spawn's does.
  const dir = programPath().replace(/\/[^/]*$/, '');
  const missing = code(() => spawn('/nonexistent/program.ts', []));
  const directory = code(() => spawn(dir, []));
  // There, but not a module that builds (Markdown): the child exits 127, as after exec.
  const pid = spawn(`${dir}/../../README.md`, []);
  // A relative path is from the working directory, "/", not the host's (nor this module's).
  const hostRelative = code(() => spawn('test/guests/scenarios.ts', []));
  const fromRoot = waitpid(spawn(programPath().slice(1), ['exit3'])).exitCode;
  const noPath = code(() => spawn(undefined as unknown as string, []));
  print(`MISSING ${missing} ${directory} ${waitpid(pid).exitCode} ${hostRelative} ${fromRoot} ${noPath}`);
  return 0;
};

SCENARIOS.procLimit = () => {
  const pids: number[] = [];
  let error = '';
  for (let i = 0; i < 10 && error === ''; i++) {
    try {
      pids.push(spawn(programPath(), ['spin']));
    } catch (e) {
      error = (e as SyscallError).code;
    }
  }
  for (const pid of pids) kill(pid, SIGKILL);
  for (let i = 0; i < pids.length; i++) waitpid(-1);
  print(`LIMIT ${pids.length} ${error}`);
  return 0;
};

SCENARIOS.rlimits = () => {
  const [soft, hard] = U.getrlimit(U.RLIMIT_STACK);
  U.setrlimit(U.RLIMIT_DATA, [64 * 4096, Infinity]);
  let err = '';
  try {
    mmap(0, 65 * 4096, RW, ANON);
  } catch (e) {
    err = (e as SyscallError).code;
  }
  let einval = '';
  try {
    U.setrlimit(U.RLIMIT_DATA, [10, 5]);
  } catch (e) {
    einval = (e as SyscallError).code;
  }
  print(`RLIMIT ${soft} ${hard} ${U.getrlimit(U.RLIMIT_DATA).join(' ')} ${err} ${einval}`);
  return 0;
};

// --- inputs that once crashed the kernel thread ----------------------------------------------

/** (a) With memory exhausted, creating an mshare region file is ENOMEM, not a kernel crash. */
SCENARIOS.exhaustedMshareCreate = () => {
  // Immune to the OOM killer (which would otherwise end this process as MAP_POPULATE runs
  // memory out, as Linux's would): population just stops where memory does.
  U.writeFile('/proc/self/oom_score_adj', '-1000');
  // Touch the userland scratch pages the calls below use while memory is still there.
  U.readFile('/proc/meminfo');
  U.close(U.open('/sys/fs/mshare/mshare_info'));
  let mapped = 0;
  for (let i = 0; i < 64; i++) {
    try {
      mmap(0, 8 << 20, RW, ANON | U.MAP_POPULATE);
      mapped++;
    } catch { break; }
  }
  const results: string[] = [];
  for (let i = 0; i < 4; i++) {
    try {
      const fd = U.open(`/sys/fs/mshare/r${i}`, U.O_CREAT | U.O_RDWR, 0o600);
      results.push(`fd${fd}`);
      U.close(fd);
    } catch (e) {
      results.push((e as SyscallError).code);
    }
  }
  print(`MSHARE ${results.join(' ')} free ${/MemFree:\s+(\d+)/.exec(U.readFile('/proc/meminfo'))?.[1]}`);
  return 0;
};

/** (b) mincore over the whole address space with a NULL vector: ENOMEM at the first hole. */
SCENARIOS.mincoreHuge = () => {
  const r = [syscall(U.SYS_mincore, 4096, 2 ** 47 - 8192, 0)];
  // A long range over one mapping goes out a page of bytes at a time: 20,000 pages, every
  // 1000th touched, into a buffer of exactly 20,000 bytes.
  const n = 20_000;
  const p = mmap(0, n * 4096, PROT_READ, ANON);
  for (let i = 0; i < n; i += 1000) load8(p + i * 4096);
  const vec = mmap(0, 5 * 4096, RW, ANON);
  r.push(syscall(U.SYS_mincore, p, n * 4096, vec));
  let ones = 0;
  let right = 0;
  for (let i = 0; i < n; i++) {
    const b = load8(vec + i);
    ones += b;
    if (b === (i % 1000 === 0 ? 1 : 0)) right++;
  }
  // A vector that ends past TASK_SIZE.
  r.push(syscall(U.SYS_mincore, p, n * 4096, U.TASK_SIZE - 100));
  print(`MINCORE ${r.join(' ')} ones ${ones} right ${right}`);
  return 0;
};

/** Computes without touching memory until told to stop by the clock. */
export function computeOnly(arg: { ctl: number; ms: number }): number {
  store32(arg.ctl, 1);
  const until = Date.now() + arg.ms;
  let x = 0;
  while (Date.now() < until) x = (x * 31 + 7) % 1000003;
  return x === -1 ? 1 : 0;
}

/**
 * (c) munmap of `argv[1]` populated pages (default 500,000, as in the report: more than a
 * call's arguments can carry) while a sibling thread computes and so cannot acknowledge
 * the shootdown.
 */
SCENARIOS.bigUnmapBusySibling = (argv) => {
  const n = Number(argv[1] ?? 500_000);
  const ctl = mmap(0, 4096, RW, ANON);
  const p = mmap(0, n * 4096, RW, ANON | U.MAP_POPULATE);
  const t = threadCreate('computeOnly', { ctl, ms: 1500 });
  while (load32(ctl) === 0) { /* until it computes */ }
  const r = munmap(p, n * 4096);
  const again = mmap(0, 64 * 4096, RW, ANON);
  for (let i = 0; i < 64; i++) store32(again + i * 4096, i);
  print(`BIGUNMAP ${r} joined ${threadJoin(t)}`);
  return 0;
};
