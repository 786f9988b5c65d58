// ptlab/userland's helpers from a guest (test/kernel/userland.test.ts checks the lines it
// prints): unsigned loads and every accessor width, view32, mshare helpers across two
// processes, the rule a helper names when it refuses, PAGEMAP_SCAN, and the wrappers for
// dup3, mkdirat/unlinkat, prlimit64, mincore and sched_yield.
import * as U from 'ptlab/userland';

const RW = U.PROT_READ | U.PROT_WRITE;
const REGION = '/sys/fs/mshare/userland-test';

/** The rule a refused call names, or 'ok'. */
function rule(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof U.SyscallError)) throw e;
    return `${e.syscall} ${e.code}: ${e.rule ?? '(no rule)'}`;
  }
}

function widths(): void {
  const p = U.mmap(0, 4096, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  const a = U.accessors();
  a.store32(p, 0xffff_fffe);
  a.store64(p + 8, -2n);
  a.store16(p + 16, 0xfffe);
  a.store8(p + 18, 0xfe);
  U.print(`load32 ${a.load32(p)} load32u ${a.load32u(p)} ${U.load32u(p)} load16 ${a.load16(p + 16)} load8 ${a.load8(p + 18)}`);
  U.print(`load64 ${a.load64(p + 8)} unsigned ${BigInt.asUintN(64, U.load64(p + 8))}`);
  const v = U.view32(p + 32, 4, { unsigned: true });
  for (let i = 0; i < v.length; i++) v.set(i, 0xffff_ffff - i);
  let bound = 'no bound';
  try {
    v.get(4);
  } catch (e) {
    if (e instanceof RangeError) bound = e.message;
  }
  U.print(`view32 ${[0, 1, 2, 3].map((i) => v.get(i)).join(' ')}; ${bound}`);
  U.munmap(p, 4096);
}

export function attach(fd: number): number {
  const base = U.mshareMap(fd);
  U.print(`child sees ${U.load32(base + 4096)} at a 512 GiB boundary: ${base % U.MSHARE_ALIGN === 0}`);
  U.store32(base + 8192, 77);
  U.mshareDetach(fd, base);
  return 0;
}

function mshare(): void {
  U.print(`create 4 KiB: ${rule(() => U.mshareCreate(REGION, 4096))}`);
  const fd = U.mshareCreate(REGION);
  U.print(`no MAP_FIXED: ${rule(() => U.mshareCreateMapping(fd, { regionOffset: 0, size: 1 << 20, prot: RW, flags: U.MAP_SHARED | U.MAP_ANONYMOUS }))}`);
  U.print(`past the end: ${rule(() => U.mshareCreateMapping(fd, { regionOffset: U.MSHARE_ALIGN - 4096, size: 8192, prot: RW }))}`);
  U.mshareCreateMapping(fd, { regionOffset: 0, size: 1 << 20, prot: RW });
  U.print(`map 4 KiB: ${rule(() => U.mshareMap(fd, 0, RW, 4096))}`);
  U.print(`map at 1 GiB: ${rule(() => U.mshareMap(fd, 2 ** 30))}`);
  const base = U.mshareMap(fd);
  U.store32(base + 4096, 42);
  const pid = U.fork('attach', fd);
  const w = U.waitpid(pid);
  U.print(`child exit ${w.exitCode}, parent sees ${U.load32(base + 8192)}`);
  U.mshareUnmap(fd, 0, 1 << 20);
  U.mshareDetach(fd, base);
  U.close(fd);
  U.unlink(REGION);
}

function scan(): void {
  const p = U.mmap(0, 16 * 4096, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  U.store8(p + 2 * 4096, 1);
  U.store8(p + 3 * 4096, 1);
  const r = U.pagemapScan({ start: p, end: p + 16 * 4096, mask: U.PAGE_IS_PRESENT, returnMask: U.PAGE_IS_PRESENT });
  U.print(`scan ${r.map((x) => `${(x.start - p) / 4096}-${(x.end - p) / 4096}:${x.categories}`).join(' ')} walkEnd ${(r.walkEnd - p) / 4096}`);
  U.print(`mincore ${Array.from(U.mincore(p, 5 * 4096)).join('')}`);
  U.munmap(p, 16 * 4096);
}

function wrappers(): void {
  const fd = U.memfdCreate('x');
  U.print(`dup3 ${U.dup3(fd, 40, U.O_CLOEXEC)} ${U.fcntl(40, U.F_GETFD)}`);
  U.close(40);
  U.close(fd);
  U.mkdirat(U.AT_FDCWD, '/tmp/userland-dir');
  U.print(`unlinkat dir ${U.unlinkat(U.AT_FDCWD, '/tmp/userland-dir', U.AT_REMOVEDIR)} again ${rule(() => U.unlinkat(U.AT_FDCWD, '/tmp/userland-dir', U.AT_REMOVEDIR))}`);
  const old = U.prlimit(0, U.RLIMIT_NOFILE, [64, 128]);
  U.print(`prlimit ${U.prlimit(0, U.RLIMIT_NOFILE).join(' ')} ${U.getrlimit(U.RLIMIT_NOFILE).join(' ')} (was ${old.length})`);
  U.print(`sched_yield ${U.schedYield()} tkill ${U.tkill(U.gettid(), 0)}`);
  const ref = U.refpageFrom(new Uint8Array([1, 2, 3, 4]));
  const r = U.mmap(0, 2 * 4096, U.PROT_READ, U.MAP_PRIVATE, ref, 0);
  U.print(`refpage ${U.load32u(r + 4096 + 8).toString(16)}`);
  U.munmap(r, 2 * 4096);
  U.close(ref);
  const dev = U.open('/dev/vbuf', U.O_RDWR);
  const bo = U.vbufCreate(dev, 4);
  U.vbufDestroy(dev, bo.handle);
  U.print(`vbuf destroyed twice: ${rule(() => U.vbufDestroy(dev, bo.handle))}`);
  U.close(dev);
}

export default function main(): number {
  widths();
  mshare();
  scan();
  wrappers();
  return 0;
}
