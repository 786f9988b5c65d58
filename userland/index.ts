// ptlab/userland: what a guest program imports. Syscalls (raw and libc-style wrappers that
// throw SyscallError), guest memory access through this CPU's MMU, signals, counters, and
// the uapi constants.
//
//   import { mmap, store32, load32, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS } from 'ptlab/userland';
//   export default function main(argv: string[]) {
//     const p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
//     store32(p, 42);
//     return load32(p) === 42 ? 0 : 1;
//   }

import { modelGhz, readCpuCounters, type CounterValues } from '../machine/index.ts';
import * as U from '../kernel/uapi.ts';
import { Cpu, type SigInfo, type SignalHandler } from './cpu.ts';
import { Progress } from '../host/progress.ts';

export * from '../kernel/uapi.ts';
export type { Progress } from '../host/progress.ts';
export type { SigInfo, SignalHandler };

function cpu(): Cpu {
  const c = Cpu.current();
  if (c === undefined) throw new Error('ptlab/userland: not running on a ptlab CPU (start the program with `ptlab run`)');
  return c;
}

/** An errno from a failed syscall, shaped like Node's system errors. */
export class SyscallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  /** The rule the call broke, when the helper that made it can tell (else undefined). */
  readonly rule: string | undefined;

  constructor(syscall: string, errno: number, rule?: string) {
    const code = U.ERRNO_NAMES[errno] ?? `E${errno}`;
    super(`${syscall} failed: ${code} (${errno})${rule === undefined ? '' : `: ${rule}`}`);
    this.rule = rule;
    this.name = 'SyscallError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** The raw syscall: the kernel's result, a negative errno on failure. */
export function syscall(nr: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
  return cpu().syscall(nr, a0, a1, a2, a3, a4, a5);
}

function check(nr: number, r: number): number {
  if (r < 0 && r >= -U.MAX_ERRNO) throw new SyscallError(U.SYSCALL_NAMES[nr] ?? `syscall ${nr}`, -r);
  return r;
}

function call(nr: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
  return check(nr, cpu().syscall(nr, a0, a1, a2, a3, a4, a5));
}

// --- processes and threads ---------------------------------------------------------------------

export const getpid = (): number => call(U.SYS_getpid);
export const getppid = (): number => call(U.SYS_getppid);
export const gettid = (): number => call(U.SYS_gettid);

/** End this thread (the process, if it is the last one). */
export function exit(code = 0): never {
  cpu().syscall(U.SYS_exit, code);
  throw new Error('unreachable: exit returned');
}

/** End the whole process. */
export function exitGroup(code = 0): never {
  cpu().syscall(U.SYS_exit_group, code);
  throw new Error('unreachable: exit_group returned');
}

/** Path of the module this process was started from. */
export const programPath = (): string => cpu().modulePath;

/**
 * Start the module at `path` (its default export is main(argv)) as a new process; its pid.
 * A relative path is resolved against the working directory, "/", as posix_spawn's is: to
 * start this same module, pass `programPath()`.
 */
export function spawn(path: string, argv: string[] = []): number {
  const { ptr, len } = scratchJson({ path, argv });
  return call(U.SYS_ptlab_spawn, ptr, len);
}

export interface WaitResult {
  pid: number;
  status: number;
  /** Exit code if it exited, else null. */
  exitCode: number | null;
  /** Signal that killed it, else null. */
  signal: number | null;
}

/** wait4(pid, &status, options): pid -1 waits for any child. With WNOHANG and none ready, pid 0. */
export function waitpid(pid = -1, options = 0): WaitResult {
  const s = scratch(4);
  const r = call(U.SYS_wait4, pid, s, options, 0);
  const status = r === 0 ? 0 : load32(s);
  return {
    pid: r,
    status,
    exitCode: r !== 0 && U.WIFEXITED(status) ? U.WEXITSTATUS(status) : null,
    signal: r !== 0 && U.WIFSIGNALED(status) ? U.WTERMSIG(status) : null,
  };
}

export const kill = (pid: number, sig: number): number => call(U.SYS_kill, pid, sig);
/** tkill(2): send `sig` to thread `tid`. */
export const tkill = (tid: number, sig: number): number => call(U.SYS_tkill, tid, sig);
/** sched_yield(2). */
export const schedYield = (): number => call(U.SYS_sched_yield);

/**
 * Start a thread of this process running `exportName(arg)` of the module at `path` (default:
 * the module this process was started from); its tid. `arg` must be JSON-serialisable.
 */
export function threadCreate(exportName: string, arg: unknown = null, path?: string): number {
  const { ptr, len } = scratchJson({ path: path ?? cpu().modulePath, exportName, arg });
  return call(U.SYS_clone, U.CLONE_THREAD_FLAGS, ptr, len);
}

/**
 * clone(2) as ptlab has it: a child running `exportName(arg)` of the module at `path`
 * (default: this process's module), with clone's `flags` (CLONE_*, the low byte the exit
 * signal); its pid or tid. Linux's other arguments (stack, tid pointers, tls) have no
 * equivalent: the flags that need them give EINVAL.
 */
export function clone(flags: number, exportName: string, arg: unknown = null, path?: string): number {
  const { ptr, len } = scratchJson({ path: path ?? cpu().modulePath, exportName, arg });
  return call(U.SYS_clone, flags, ptr, len);
}

/**
 * fork: a child process with a copy-on-write copy of this address space and of the
 * descriptor table, running `exportName(arg)` (its return value is the exit status); the
 * child's pid. The child starts from that function: JavaScript state is not copied, guest
 * memory is.
 */
export const fork = (exportName: string, arg: unknown = null, path?: string): number => clone(U.FORK_FLAGS, exportName, arg, path);

/**
 * vfork: the child runs `exportName(arg)` in this address space (writes are seen here) while
 * the caller waits; returns the child's pid once the child has exited (reap it with waitpid).
 */
export const vfork = (exportName: string, arg: unknown = null, path?: string): number => clone(U.VFORK_FLAGS, exportName, arg, path);

/** Wait for thread `tid` to end; its exit value. */
export const threadJoin = (tid: number): number => call(U.SYS_ptlab_thread_join, tid);

/**
 * Handle SIGSEGV or SIGBUS in this thread: the handler gets {signo, code, addr}. Returning
 * retries the faulting access; throwing unwinds out of it. 'default' and 'ignore' set the
 * disposition of any catchable signal.
 */
export function sigaction(sig: number, action: SignalHandler | 'default' | 'ignore'): void {
  const c = cpu();
  const disp = action === 'default' ? U.SIG_DFL : action === 'ignore' ? U.SIG_IGN : 2;
  call(U.SYS_rt_sigaction, sig, disp);
  if (typeof action === 'function') c.handlers.set(sig, action);
  else c.handlers.delete(sig);
}

// --- resource limits -----------------------------------------------------------------------------

/** A struct rlimit at p, [soft, hard], Infinity for RLIM_INFINITY; and writing one. */
function loadRlimit(p: number): [number, number] {
  const v = (x: bigint) => (x === 0xffff_ffff_ffff_ffffn ? Infinity : Number(x));
  return [v(BigInt.asUintN(64, load64(p))), v(BigInt.asUintN(64, load64(p + 8)))];
}
function storeRlimit(p: number, [soft, hard]: [number, number]): void {
  const enc = (x: number) => (x === Infinity ? -1n : BigInt(x));
  store64(p, enc(soft));
  store64(p + 8, enc(hard));
}

/** getrlimit(resource): [soft, hard], Infinity for RLIM_INFINITY. */
export function getrlimit(resource: number): [number, number] {
  const p = scratch(16);
  call(U.SYS_getrlimit, resource, p);
  return loadRlimit(p);
}

/** setrlimit(resource, [soft, hard]). */
export function setrlimit(resource: number, limits: [number, number]): void {
  const p = scratch(16);
  storeRlimit(p, limits);
  call(U.SYS_setrlimit, resource, p);
}

/**
 * prlimit64(pid, resource, new, old): process `pid`'s (0: this one) [soft, hard] limits
 * before the call, set to `limits` if given; Infinity is RLIM_INFINITY.
 */
export function prlimit(pid: number, resource: number, limits?: [number, number]): [number, number] {
  const p = scratch(32);
  if (limits !== undefined) storeRlimit(p, limits);
  call(U.SYS_prlimit64, pid, resource, limits === undefined ? 0 : p, p + 16);
  return loadRlimit(p + 16);
}

// --- capabilities ----------------------------------------------------------------------------------

export interface Capabilities {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/** capget(2) for this process (version 3: 64-bit sets). */
export function capget(): Capabilities {
  const p = scratch(32);
  store32(p, U._LINUX_CAPABILITY_VERSION_3);
  store32(p + 4, 0);
  call(U.SYS_capget, p, p + 8);
  const set = (field: number) => BigInt(load32(p + 8 + field) >>> 0) | (BigInt(load32(p + 20 + field) >>> 0) << 32n);
  return { effective: set(0), permitted: set(4), inheritable: set(8) };
}

/** capset(2) for this process. */
export function capset(c: Capabilities): void {
  const p = scratch(32);
  store32(p, U._LINUX_CAPABILITY_VERSION_3);
  store32(p + 4, 0);
  for (const [field, x] of [[0, c.effective], [4, c.permitted], [8, c.inheritable]] as const) {
    store32(p + 8 + field, Number(x & 0xffff_ffffn) | 0);
    store32(p + 20 + field, Number((x >> 32n) & 0xffff_ffffn) | 0);
  }
  call(U.SYS_capset, p, p + 8);
}

/** Drop capabilities (CAP_* numbers) from every set, for good: e.g. dropCapabilities(CAP_IPC_LOCK). */
export function dropCapabilities(...caps: number[]): void {
  const mask = caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);
  const c = capget();
  capset({ effective: c.effective & ~mask, permitted: c.permitted & ~mask, inheritable: c.inheritable & ~mask });
}

// --- memory --------------------------------------------------------------------------------------

export const mmap = (addr: number, len: number, prot: number, flags: number, fd = -1, off = 0): number =>
  call(U.SYS_mmap, addr, len, prot, flags, fd, off);
export const munmap = (addr: number, len: number): number => call(U.SYS_munmap, addr, len);
export const mprotect = (addr: number, len: number, prot: number): number => call(U.SYS_mprotect, addr, len, prot);
export const madvise = (addr: number, len: number, advice: number): number => call(U.SYS_madvise, addr, len, advice);
export const mremap = (addr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number =>
  call(U.SYS_mremap, addr, oldLen, newLen, flags, newAddr);
export const mseal = (addr: number, len: number): number => call(U.SYS_mseal, addr, len, 0);
export const mlock = (addr: number, len: number): number => call(U.SYS_mlock, addr, len);
export const mlock2 = (addr: number, len: number, flags: number): number => call(U.SYS_mlock2, addr, len, flags);
export const munlock = (addr: number, len: number): number => call(U.SYS_munlock, addr, len);
export const mlockall = (flags: number): number => call(U.SYS_mlockall, flags);
export const munlockall = (): number => call(U.SYS_munlockall);
/** mincore(2): one byte per page of [addr, addr + len), bit 0 set if the page is resident. */
export function mincore(addr: number, len: number): Uint8Array {
  const pages = Math.ceil(len / 4096);
  const p = scratch(pages);
  call(U.SYS_mincore, addr, len, p);
  return readBytes(p, pages);
}
/** brk(2): the new break (the old one if the request failed; brk has no errno). */
export const brk = (addr: number): number => cpu().syscall(U.SYS_brk, addr);

/** prctl(2), raw: ptlab has PR_SET_VMA (PR_SET_VMA_ANON_NAME), PR_SET_NAME and PR_GET_NAME. */
export const prctl = (option: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number => call(U.SYS_prctl, option, a2, a3, a4, a5);
/**
 * Name [addr, addr + len) of anonymous memory: /proc/PID/maps shows it as [anon:NAME]
 * ([anon_shmem:NAME] if shared); null clears the name. At most 79 characters of printable
 * ASCII but \ ` $ [ ] (else EINVAL); file mappings are EBADF, a hole in the range ENOMEM.
 */
export const setVmaName = (addr: number, len: number, name: string | null): number =>
  call(U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, addr, len, name === null ? 0 : cString(name));
/** prctl(PR_SET_NAME): this thread's name (comm: status's Name for the main thread), cut to 15 bytes. */
export const setThreadName = (name: string): number => call(U.SYS_prctl, U.PR_SET_NAME, cString(name));
/** prctl(PR_GET_NAME): this thread's name. */
export function getThreadName(): string {
  const p = scratch(U.TASK_COMM_LEN);
  call(U.SYS_prctl, U.PR_GET_NAME, p);
  const b = readBytes(p, U.TASK_COMM_LEN);
  return new TextDecoder().decode(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)));
}

/** load8 and load16 are unsigned; load32 is signed (an int32: 0xffffffff reads as -1), load32u unsigned. */
export const load8 = (va: number): number => cpu().mmu.load8(va);
export const load16 = (va: number): number => cpu().mmu.load16(va);
export const load32 = (va: number): number => cpu().mmu.load32(va);
export const load8u = load8;
export const load16u = load16;
export const load32u = (va: number): number => cpu().mmu.load32(va) >>> 0;
export const loadF64 = (va: number): number => cpu().mmu.loadF64(va);
/** A 64-bit load as a bigint, signed (BigInt.asUintN(64, x) for unsigned). */
export const load64 = (va: number): bigint => cpu().mmu.load64(va);
export const store8 = (va: number, v: number): void => cpu().mmu.store8(va, v);
export const store16 = (va: number, v: number): void => cpu().mmu.store16(va, v);
/** Stores keep the low bits: store32(p, 0xffffffff) and store32(p, -1) write the same word. */
export const store32 = (va: number, v: number): void => cpu().mmu.store32(va, v);
export const storeF64 = (va: number, v: number): void => cpu().mmu.storeF64(va, v);
/** A 64-bit store of a bigint (its low 64 bits). */
export const store64 = (va: number, v: bigint): void => cpu().mmu.store64(va, v);

/**
 * The MMU's access functions themselves, for hot loops (no indirection per access): every
 * width, with the signedness of the functions above (load32u is the one added here).
 */
export function accessors() {
  const m = cpu().mmu;
  const load32 = m.load32;
  return {
    load8: m.load8, load16: m.load16, load32, load8u: m.load8, load16u: m.load16, load32u: (va: number) => load32(va) >>> 0, load64: (va: number): bigint => m.load64(va), loadF64: m.loadF64,
    store8: m.store8, store16: m.store16, store32: m.store32, store64: (va: number, v: bigint): void => m.store64(va, v), storeF64: m.storeF64,
  };
}

/** An array-like view of `length` 32-bit words at `addr`: every get and set is an MMU access (TLB, faults, counters). */
export interface View32 {
  readonly addr: number;
  readonly length: number;
  /** Word i, unsigned if the view was made with { unsigned: true }, else signed. */
  get(i: number): number;
  set(i: number, v: number): void;
}

/** A View32 over guest memory; an index outside [0, length) throws a RangeError (no access is made). */
export function view32(addr: number, length: number, opts: { unsigned?: boolean } = {}): View32 {
  const { load32: ld, store32: st } = cpu().mmu;
  const inRange = (i: number) => {
    if (!(Number.isInteger(i) && i >= 0 && i < length)) throw new RangeError(`view32: index ${i} outside [0, ${length})`);
    return addr + i * 4;
  };
  const get = opts.unsigned === true ? (i: number) => ld(inRange(i)) >>> 0 : (i: number) => ld(inRange(i));
  return { addr, length, get, set: (i, v) => st(inRange(i), v) };
}

/** Copy guest memory out, as memcpy would: aligned 32-bit loads, bytes at the edges. */
export function readBytes(va: number, len: number): Uint8Array {
  const m = cpu().mmu;
  const out = new Uint8Array(len);
  let i = 0;
  for (; i < len && (va + i) % 4 !== 0; i++) out[i] = m.load8(va + i);
  const dv = new DataView(out.buffer);
  for (; i + 4 <= len; i += 4) dv.setInt32(i, m.load32(va + i), true);
  for (; i < len; i++) out[i] = m.load8(va + i);
  return out;
}

export function writeBytes(va: number, bytes: Uint8Array): void {
  const m = cpu().mmu;
  for (let i = 0; i < bytes.length; i++) m.store8(va + i, bytes[i]);
}

export function memset(va: number, byte: number, len: number): void {
  const m = cpu().mmu;
  for (let i = 0; i < len; i++) m.store8(va + i, byte);
}

export function memcpy(dst: number, src: number, len: number): void {
  const m = cpu().mmu;
  for (let i = 0; i < len; i++) m.store8(dst + i, m.load8(src + i));
}

// --- files -------------------------------------------------------------------------------------------

/** Copy a path into guest memory as a C string, `at` bytes into the scratch buffer; its address. */
function cString(path: string, at = 0): number {
  const bytes = new TextEncoder().encode(path);
  const p = scratch(at + bytes.length + 1) + at;
  writeBytes(p, bytes);
  store8(p + bytes.length, 0);
  return p;
}

export const open = (path: string, flags = U.O_RDONLY, mode = 0): number => call(U.SYS_open, cString(path), flags, mode);
export const openat = (dirfd: number, path: string, flags = U.O_RDONLY, mode = 0): number =>
  call(U.SYS_openat, dirfd, cString(path), flags, mode);
export const close = (fd: number): number => call(U.SYS_close, fd);
export const read = (fd: number, ptr: number, len: number): number => call(U.SYS_read, fd, ptr, len);
export const pread = (fd: number, ptr: number, len: number, pos: number): number => call(U.SYS_pread64, fd, ptr, len, pos);
export const lseek = (fd: number, off: number, whence: number): number => call(U.SYS_lseek, fd, off, whence);
export const pwrite = (fd: number, ptr: number, len: number, pos: number): number => call(U.SYS_pwrite64, fd, ptr, len, pos);
export const ftruncate = (fd: number, len: number): number => call(U.SYS_ftruncate, fd, len);
export const fallocate = (fd: number, mode: number, off: number, len: number): number => call(U.SYS_fallocate, fd, mode, off, len);
export const unlink = (path: string): number => call(U.SYS_unlink, cString(path));
export const rmdir = (path: string): number => call(U.SYS_unlinkat, U.AT_FDCWD, cString(path), U.AT_REMOVEDIR);
export const mkdir = (path: string, mode = 0o755): number => call(U.SYS_mkdir, cString(path), mode);
export const dup = (fd: number): number => call(U.SYS_dup, fd);
export const dup2 = (fd: number, to: number): number => call(U.SYS_dup2, fd, to);
export const dup3 = (fd: number, to: number, flags: number): number => call(U.SYS_dup3, fd, to, flags);
export const mkdirat = (dirfd: number, path: string, mode = 0o755): number => call(U.SYS_mkdirat, dirfd, cString(path), mode);
/** unlinkat(2): flags AT_REMOVEDIR removes a directory. */
export const unlinkat = (dirfd: number, path: string, flags = 0): number => call(U.SYS_unlinkat, dirfd, cString(path), flags);
export const fcntl = (fd: number, cmd: number, arg = 0): number => call(U.SYS_fcntl, fd, cmd, arg);
export const msync = (addr: number, len: number, flags: number): number => call(U.SYS_msync, addr, len, flags);
/** memfd_create(2): an anonymous tmpfs file; its descriptor. */
export const memfdCreate = (name: string, flags = 0): number => call(U.SYS_memfd_create, cString(name), flags);
/** fcntl(fd, F_ADD_SEALS, seals): add memfd seals (F_SEAL_*); 0. */
export const addSeals = (fd: number, seals: number): number => call(U.SYS_fcntl, fd, U.F_ADD_SEALS, seals);
/** fcntl(fd, F_GET_SEALS): the file's memfd seals. */
export const getSeals = (fd: number): number => call(U.SYS_fcntl, fd, U.F_GET_SEALS, 0);
/** refpage_create(content, size, flags): a reference page of `size` bytes at content, repeated; its fd. */
export const refpageCreate = (content: number, size: number, flags = 0): number => call(U.SYS_refpage_create, content, size, flags);

/** refpage_create with plain bytes: a reference page repeating `content` (copied into guest memory first); its fd. */
export function refpageFrom(content: Uint8Array, flags = 0): number {
  const p = scratch(content.length);
  writeBytes(p, content);
  return refpageCreate(p, content.length, flags);
}

/** readlinkat(2): the text of the link at path, relative to dirfd ("" reads an O_PATH|O_NOFOLLOW descriptor of a link). */
export function readlinkat(dirfd: number, path: string): string {
  const at = cString(path, U.PATH_MAX); // the buffer is the scratch's first PATH_MAX bytes
  return new TextDecoder().decode(readBytes(at - U.PATH_MAX, call(U.SYS_readlinkat, dirfd, at, at - U.PATH_MAX, U.PATH_MAX)));
}
/** readlink(2): what the link at path links to (ptlab's links are /proc's: self, PID/exe, cwd, root, fd/N). */
export const readlink = (path: string): string => readlinkat(U.AT_FDCWD, path);

/** getdents64(2) once: directory fd's entries from its position that fit in `count` bytes ([] at the end). */
export function getdents64(fd: number, count = 65536): { ino: number; off: number; type: number; name: string }[] {
  const p = scratch(count);
  const n = call(U.SYS_getdents64, fd, p, count);
  const out: { ino: number; off: number; type: number; name: string }[] = [];
  for (let at = 0; at < n; at += load16(p + at + 16)) {
    const name = readBytes(p + at + 19, load16(p + at + 16) - 19);
    const ino = Number(BigInt.asUintN(64, load64(p + at)));
    out.push({ ino, off: Number(BigInt.asIntN(64, load64(p + at + 8))), type: load8(p + at + 18), name: new TextDecoder().decode(name.subarray(0, name.indexOf(0))) });
  }
  return out;
}

export interface Stat {
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  blocks: number;
}

/** fstat(2), the fields ptlab fills in. */
export function fstat(fd: number): Stat {
  const p = scratch(144);
  call(U.SYS_fstat, fd, p);
  const u64 = (at: number) => Number(BigInt.asUintN(64, load64(p + at)));
  return { ino: u64(8), nlink: u64(16), mode: load32(p + 24) >>> 0, size: u64(48), blocks: u64(64) };
}

/** Write a whole string or byte array to fd at its position; the bytes written. */
export function writeAll(fd: number, data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const p = scratch(bytes.length);
  writeBytes(p, bytes);
  let done = 0;
  while (done < bytes.length) done += write(fd, p + done, bytes.length - done);
  return done;
}

export function write(fd: number, ptr: number, len: number): number {
  return call(U.SYS_write, fd, ptr, len);
}

/** The whole content of the file at `path` (open, read until end of file, close), as text. */
/** Write text to an existing file (a sysfs attribute, /proc/self/clear_refs) in one write. */
export function writeFile(path: string, text: string): void {
  const fd = open(path, U.O_WRONLY);
  try {
    writeAll(fd, text);
  } finally {
    close(fd);
  }
}

export function readFile(path: string): string {
  const fd = open(path, U.O_RDONLY);
  try {
    return new TextDecoder().decode(readAll(fd));
  } finally {
    close(fd);
  }
}

/** One read(2) of at most `max` bytes from fd: the bytes (none at end of file). May block (a pipe). */
export function readSome(fd: number, max = 65536): Uint8Array {
  const p = scratch(max);
  return readBytes(p, read(fd, p, max));
}

/** Read fd until end of file (a pipe: until every write end is closed); all the bytes. */
export function readAll(fd: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let b = readSome(fd); b.length > 0; b = readSome(fd)) parts.push(b);
  return Buffer.concat(parts);
}

/** pipe2(2): a new pipe, [read end, write end]; flags O_CLOEXEC, O_NONBLOCK, O_DIRECT (packet mode). */
export function pipe(flags = 0): [number, number] {
  const p = scratch(8);
  call(U.SYS_pipe2, p, flags);
  return [load32(p) | 0, load32(p + 4) | 0];
}

export const ioctl = (fd: number, cmd: number, arg: number): number => call(U.SYS_ioctl, fd, cmd, arg);

// --- /dev/vbuf, the coherent-buffer device -----------------------------------------------------------

export const VBUF_METHOD_NAMES = ['pagetable', 'mkwrite'] as const;

/** Create a buffer object of `pages` pages on an open /dev/vbuf; mmap it MAP_SHARED at `offset`. */
export function vbufCreate(fd: number, pages: number): { handle: number; offset: number } {
  const p = scratch(16);
  store32(p, pages);
  ioctl(fd, U.VBUF_CREATE, p);
  return { handle: load32(p + 4), offset: Number(load64(p + 8)) };
}

/**
 * Harvest a buffer object's written pages since the last harvest into the bitmap at guest
 * address `bitmap` (one bit per page); the tracking method now, the number of pages set,
 * the method switches so far, and the PTEs the scan cleaned or write-protected (a page
 * written through two processes' mappings counts twice).
 */
export function vbufHarvest(fd: number, handle: number, bitmap: number): { method: number; dirty: number; switches: number; ptes: number } {
  const p = scratch(24);
  store32(p, handle);
  store64(p + 8, BigInt(bitmap));
  const ptes = ioctl(fd, U.VBUF_HARVEST, p);
  return { method: load32(p + 4), dirty: load32(p + 16), switches: load32(p + 20), ptes };
}

/** Destroy buffer object `handle` on an open /dev/vbuf (VBUF_DESTROY). */
export function vbufDestroy(fd: number, handle: number): void {
  const p = scratch(4);
  store32(p, handle);
  ioctl(fd, U.VBUF_DESTROY, p);
}

// --- PAGEMAP_SCAN ---------------------------------------------------------------------------------------

export interface PagemapScanOptions {
  /** The range, start page aligned. */
  start: number;
  end: number;
  /** Which process: /proc/PID/pagemap (default 'self'), or an open pagemap descriptor. */
  pid?: number | 'self';
  fd?: number;
  /** PAGE_IS_* a page must all have, any of, and which to flip first (struct pm_scan_arg's category_*). */
  mask?: number;
  anyof?: number;
  inverted?: number;
  /** Categories reported per region (default all of them). */
  returnMask?: number;
  /** Stop after this many pages (0: no limit) or this many regions (default 512). */
  maxPages?: number;
  maxRegions?: number;
  /** PM_SCAN_* flags. */
  flags?: number;
}

export interface PagemapRegion {
  start: number;
  end: number;
  categories: number;
}

/**
 * ioctl(PAGEMAP_SCAN) with the 96-byte struct pm_scan_arg and the region vector written and
 * read here: the matching regions, and `walkEnd`, where the walk stopped (below `end` when
 * maxPages or maxRegions ran out).
 */
export function pagemapScan(o: PagemapScanOptions): PagemapRegion[] & { walkEnd: number } {
  const maxRegions = o.maxRegions ?? 512;
  const fd = o.fd ?? open(`/proc/${o.pid ?? 'self'}/pagemap`, U.O_RDONLY); // before the struct: open uses the scratch too
  const p = scratch(96 + maxRegions * 24);
  const fields = [96, o.flags ?? 0, o.start, o.end, 0, p + 96, maxRegions, o.maxPages ?? 0, o.inverted ?? 0, o.mask ?? 0, o.anyof ?? 0, o.returnMask ?? 0x1ff];
  let n: number;
  try {
    fields.forEach((v, i) => store64(p + i * 8, BigInt(v)));
    n = ioctl(fd, U.PAGEMAP_SCAN, p);
  } finally {
    if (o.fd === undefined) close(fd);
  }
  const u64 = (at: number) => Number(BigInt.asUintN(64, load64(at)));
  const regions = Array.from({ length: n }, (_, i) => ({ start: u64(p + 96 + i * 24), end: u64(p + 104 + i * 24), categories: u64(p + 112 + i * 24) }));
  return Object.assign(regions, { walkEnd: u64(p + 32) });
}

// --- msharefs, page-table sharing ----------------------------------------------------------------------

/** What MSHAREFS_CREATE_MAPPING maps in a region (struct mshare_create, 40 bytes, written by the helper). */
export interface MshareCreate {
  /** Where in the region, from its start (page aligned). */
  regionOffset: number;
  /** Bytes to map (above 0; regionOffset + size within the region). */
  size: number;
  prot: number;
  /** Default MAP_SHARED | MAP_FIXED, with MAP_ANONYMOUS unless `fd` is given; both MAP_SHARED and MAP_FIXED are required. */
  flags?: number;
  /** A file to map (not another mshare region); omit for anonymous memory. */
  fd?: number;
  /** Offset in the file. */
  offset?: number;
}

const mshareRule = (syscall: string, rule: string): never => {
  throw new SyscallError(syscall, U.EINVAL, rule);
};
const GIB512 = `512 GiB (${U.MSHARE_ALIGN})`;

/** The size of the mshare region open at fd (EINVAL naming the rule if it has none yet). */
function mshareSize(syscall: string, fd: number): number {
  const size = fstat(fd).size;
  if (size === 0) mshareRule(syscall, 'the region has no size yet: mshareCreate (or ftruncate to a multiple of 512 GiB) sets it');
  return size;
}

/**
 * Create (or open) the mshare region file at `path` (under /sys/fs/mshare) and set its size,
 * a multiple of 512 GiB (MSHARE_ALIGN); its descriptor. A region is sized once.
 */
export function mshareCreate(path: string, size: number = U.MSHARE_ALIGN): number {
  if (!(Number.isInteger(size) && size > 0 && size % U.MSHARE_ALIGN === 0)) mshareRule('ftruncate', `the region size must be a multiple of ${GIB512}, not ${size}`);
  const fd = open(path, U.O_RDWR | U.O_CREAT, 0o600);
  try {
    if (fstat(fd).size !== 0) mshareRule('ftruncate', `the region at ${path} is already sized (${fstat(fd).size}): a region is sized once`);
    ftruncate(fd, size);
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

/**
 * Map the whole mshare region open at fd into this process: MAP_SHARED, at `addr` (a
 * multiple of 512 GiB, then MAP_FIXED) or where the kernel finds a free 512 GiB-aligned
 * range (addr 0); its address. `len`, if given, must equal the region's size.
 */
export function mshareMap(fd: number, addr = 0, prot = U.PROT_READ | U.PROT_WRITE, len?: number): number {
  const size = mshareSize('mmap', fd);
  if (len !== undefined && len !== size) mshareRule('mmap', `length must equal the region size (${size}), not ${len}`);
  if (addr % U.MSHARE_ALIGN !== 0) mshareRule('mmap', `address must be ${GIB512} aligned, not ${addr}`);
  return mmap(addr, size, prot, U.MAP_SHARED | (addr !== 0 ? U.MAP_FIXED : 0), fd, 0);
}

/** Unmap a region mapped by mshareMap (the whole region: part of it is EINVAL). */
export const mshareDetach = (fd: number, addr: number): number => munmap(addr, mshareSize('munmap', fd));

/** Map an object into the mshare region open at `fd` (sized first): anonymous memory, or `m.fd`'s file. */
export function mshareCreateMapping(fd: number, m: MshareCreate): void {
  const regionSize = mshareSize('ioctl', fd);
  const flags = m.flags ?? (U.MAP_SHARED | U.MAP_FIXED | (m.fd === undefined ? U.MAP_ANONYMOUS : 0));
  if ((flags & U.MAP_FIXED) === 0) mshareRule('ioctl', 'MAP_FIXED is required');
  if ((flags & U.MAP_TYPE) !== U.MAP_SHARED) mshareRule('ioctl', 'MAP_SHARED is required (no MAP_PRIVATE under shared page tables)');
  if ((flags & U.MAP_ANONYMOUS) === 0 && m.fd === undefined) mshareRule('ioctl', 'a file mapping needs fd (or MAP_ANONYMOUS)');
  if (m.regionOffset % 4096 !== 0 || m.regionOffset < 0) mshareRule('ioctl', `regionOffset must be page aligned (4096), not ${m.regionOffset}`);
  if (!(m.size > 0)) mshareRule('ioctl', `size must be above 0, not ${m.size}`);
  if (m.regionOffset + m.size > regionSize) {
    mshareRule('ioctl', `the mapping must lie in the region: regionOffset + size (${m.regionOffset + m.size}) exceeds the region size (${regionSize})`);
  }
  const p = scratch(40);
  store64(p, BigInt(m.regionOffset));
  store64(p + 8, BigInt(m.size));
  store64(p + 16, BigInt(m.offset ?? 0));
  store32(p + 24, m.prot);
  store32(p + 28, flags);
  store32(p + 32, m.fd ?? -1);
  store32(p + 36, 0);
  ioctl(fd, U.MSHAREFS_CREATE_MAPPING, p);
}

/** Unmap `size` bytes at `regionOffset` of the mshare region open at `fd`. */
export function mshareUnmap(fd: number, regionOffset: number, size: number): void {
  const p = scratch(16);
  store64(p, BigInt(regionOffset));
  store64(p + 8, BigInt(size));
  ioctl(fd, U.MSHAREFS_UNMAP, p);
}

// --- output ----------------------------------------------------------------------------------------

/** Write a string to fd (through guest memory, as write(2) would). */
export function writeString(fd: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  const p = scratch(bytes.length);
  writeBytes(p, bytes);
  write(fd, p, bytes.length);
}

/** Whether `fd` is a terminal (isatty(3): TCGETS succeeds; on ptlab's console, when the host's stream is one). */
export function isatty(fd: number): boolean {
  return cpu().syscall(U.SYS_ioctl, fd, U.TCGETS, scratch(36)) === 0;
}

/**
 * Progress of a long run on this process's stderr (host/progress.ts): a bar redrawn in place
 * when stderr is a terminal, otherwise a line every few seconds; nothing for a job shorter
 * than that. Call `update(done, note)` or `advance(note)` between the regions you measure
 * (each drawing is a write(2), counted as any other), and `finish()` at the end.
 */
export function progress(label: string, total: number): Progress {
  return new Progress({ label, total, out: { write: (text) => writeString(2, text), isTTY: isatty(2) } });
}

/** Print a line on this process's stdout. */
export function print(...parts: unknown[]): void {
  writeString(1, `${parts.map((x) => (typeof x === 'string' ? x : String(x))).join(' ')}\n`);
}

// --- counters ------------------------------------------------------------------------------------

/**
 * Modeled seconds of `cycles` modeled cycles (counters().cycles, or a difference of two
 * readings) at the preset's clock rate; README.md, "Modeled time".
 */
export function modeledSeconds(cycles: number): number {
  return cycles / (modelGhz(cpu().cb) * 1e9);
}

/** This CPU's counters now (perf read on this thread); diff two readings to measure code. */
export function counters(): CounterValues {
  const c = cpu();
  return readCpuCounters(c.cb, c.cpu);
}

/**
 * Report this program's own results as named numbers (`report({ hit_rate: 0.93, ns_per_op:
 * 12.5 })`): ptlab stat lists them (its JSON's `values`) and ptlab sweep records them beside
 * the counters. A name reported again takes the new value. One ptlab_report system call per
 * name, each writing the name into guest memory (a few stores on this thread's scratch
 * buffer): call it after the region you measure. A value that is not a finite number is a
 * TypeError.
 */
export function report(values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`report: ${name} is ${String(value)}, not a finite number`);
    const bytes = new TextEncoder().encode(`${name}\0`);
    const ptr = scratch(bytes.length);
    writeBytes(ptr, bytes);
    call(U.SYS_ptlab_report, ptr, value);
  }
}

// --- scratch memory for passing buffers to the kernel ----------------------------------------------

let scratchPtr = 0;
let scratchLen = 0;
let scratchMapped = false;
/** What a main thread's scratch takes of its stack, below the stack pointer it started with. */
const STACK_SCRATCH = 65536;

/**
 * A thread-private buffer of at least n bytes in guest memory (reused between calls): on
 * the main thread, up to 64 KiB below its initial stack pointer (in the [stack] VMA, as a
 * C program's locals would be); otherwise, or for more, an anonymous mapping of its own.
 */
function scratch(n: number): number {
  if (n <= scratchLen) return scratchPtr;
  const { sp, stackRoom } = cpu();
  const room = Math.min(STACK_SCRATCH, stackRoom);
  if (scratchLen === 0 && sp !== 0 && n <= room) {
    scratchPtr = sp - (sp % 4096) - room;
    scratchLen = room;
    return scratchPtr;
  }
  if (scratchMapped) cpu().syscall(U.SYS_munmap, scratchPtr, scratchLen);
  const len = Math.max(65536, Math.ceil(n / 4096) * 4096);
  scratchPtr = call(U.SYS_mmap, 0, len, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  scratchLen = len;
  scratchMapped = true;
  return scratchPtr;
}

function scratchJson(value: unknown): { ptr: number; len: number } {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const ptr = scratch(bytes.length);
  writeBytes(ptr, bytes);
  return { ptr, len: bytes.length };
}
