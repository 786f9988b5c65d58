// The mshare series' selftests (tools/testing/selftests/mshare: basic.c, memory.c, util.c),
// ported to a ptlab guest. Each test runs once per fixture variant, with the harness's
// setup and teardown, and prints one TAP line: "ok N mshare.VARIANT.TEST", "not ok ..." with
// the failed check, or "ok ... # SKIP reason". fork() becomes spawn(): the child inherits
// the region's descriptor as a forked one would.
import * as U from 'ptlab/userland';

const RW = U.PROT_READ | U.PROT_WRITE;
const MESSAGE = 'I am Msharefs';
const POOL = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';

interface Variant { name: string; multiplier: number; flags: number }
const VARIANTS: Variant[] = [
  { name: 'anon_4k', multiplier: 1, flags: 0 },
  { name: 'anon_8k', multiplier: 2, flags: 0 },
  { name: 'hugetlb_2m', multiplier: 1, flags: U.MAP_HUGETLB },
  { name: 'hugetlb_4m', multiplier: 2, flags: U.MAP_HUGETLB },
];

class Skip extends Error {}
class Fail extends Error {}

function expectEq(what: string, got: unknown, want: unknown): void {
  if (got !== want) throw new Fail(`${what}: got ${String(got)}, want ${String(want)}`);
}

// --- util.c ---------------------------------------------------------------------------------

const alignment = (): number => Number(U.readFile('/sys/fs/mshare/mshare_info').trim());

let tmpCount = 0;
/** mkstemp under the mount: a new region file, opened O_RDWR. */
function createTempFile(): { fd: number; path: string } {
  const path = `/sys/fs/mshare/mshare_test_${U.getpid()}_${tmpCount++}`;
  return { fd: U.open(path, U.O_RDWR | U.O_CREAT | U.O_EXCL, 0o600), path };
}

/** An anonymous (or hugetlb) object of `size` bytes at region offset 0. */
function ioctlMapping(fd: number, size: number, flags: number): number {
  const req = U.mmap(0, 4096, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  U.store64(req, 0n);
  U.store64(req + 8, BigInt(size));
  U.store64(req + 16, 0n);
  U.store32(req + 24, RW);
  U.store32(req + 28, flags);
  U.store32(req + 32, -1);
  const r = U.syscall(U.SYS_ioctl, fd, U.MSHAREFS_CREATE_MAPPING, req);
  U.munmap(req, 4096);
  return r;
}

function ioctlMunmap(fd: number, size: number): number {
  const req = U.mmap(0, 4096, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  U.store64(req, 0n);
  U.store64(req + 8, BigInt(size));
  const r = U.syscall(U.SYS_ioctl, fd, U.MSHAREFS_UNMAP, req);
  U.munmap(req, 4096);
  return r;
}

// --- basic.c: FIXTURE(mshare) with its variants --------------------------------------------

interface Fixture { fd: number; path: string; align: number; size: number }

function setup(v: Variant): Fixture {
  const align = alignment();
  const { fd, path } = createTempFile();
  expectEq('ftruncate to the alignment', U.syscall(U.SYS_ftruncate, fd, align), 0);
  const unit = v.flags & U.MAP_HUGETLB ? 2 << 20 : 4096;
  const size = unit * v.multiplier;
  const r = ioctlMapping(fd, size, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED | v.flags);
  if (r < 0 && v.flags & U.MAP_HUGETLB) {
    teardown({ fd, path, align, size });
    throw new Skip(`no hugetlb pages for the object (${U.ERRNO_NAMES[-r]})`);
  }
  expectEq('MSHAREFS_CREATE_MAPPING', r, 0);
  return { fd, path, align, size };
}

function teardown(f: Fixture): void {
  U.close(f.fd);
  U.unlink(f.path);
}

/** Run a child (the forked process of the C test) and return its exit code. */
function child(role: string, f: Fixture): number {
  const pid = U.spawn(U.programPath(), [role, String(f.fd), String(f.align), String(f.size)]);
  const w = U.waitpid(pid);
  if (w.signal !== null) throw new Fail(`child ${role} killed by signal ${w.signal}`);
  return w.exitCode ?? -1;
}

const TESTS: Record<string, (f: Fixture) => void> = {
  /** TEST_F(mshare, ioctl): the setup mapped an object; unmapping it succeeds. */
  ioctl(f) {
    expectEq('MSHAREFS_UNMAP', ioctlMunmap(f.fd, f.size), 0);
  },
  /** TEST_F(mshare, process_mmap_munmap): the region maps only at its full size, and unmaps. */
  process_mmap_munmap(f) {
    expectEq('mmap of part of the region', U.syscall(U.SYS_mmap, 0, f.align / 2, RW, U.MAP_SHARED, f.fd, 0), -U.EINVAL);
    expectEq('mmap MAP_PRIVATE', U.syscall(U.SYS_mmap, 0, f.align, RW, U.MAP_PRIVATE, f.fd, 0), -U.EINVAL);
    const addr = U.syscall(U.SYS_mmap, 0, f.align, RW, U.MAP_SHARED, f.fd, 0);
    expectEq('mmap is aligned to mshare_info', addr > 0 && addr % f.align === 0, true);
    expectEq('munmap', U.syscall(U.SYS_munmap, addr, f.align), 0);
  },
  /** The basic test: one process writes the message, another (mapped anew) reads it back. */
  process_share(f) {
    expectEq('writer', child('writer', f), 0);
    expectEq('reader', child('reader', f), 0);
    // The creator sees it too, through its own mapping.
    const addr = U.mmap(0, f.align, RW, U.MAP_SHARED, f.fd, 0);
    expectEq('creator reads', new TextDecoder().decode(U.readBytes(addr, MESSAGE.length)), MESSAGE);
    U.munmap(addr, f.align);
  },
  /**
   * memory.c thp: madvise(MADV_HUGEPAGE) gives the region no THP ("mshare doesn't support
   * THP"). ptlab refuses madvise on an mshare VMA with EINVAL, as the series plans (v3's
   * madvise acted on the shared tables without the host mm's locks).
   */
  thp(f) {
    // memory.c's own object: 2 MiB of anonymous memory at region offset 0.
    expectEq('MSHAREFS_CREATE_MAPPING of 2 MiB', ioctlMapping(f.fd, 2 << 20, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED), 0);
    const addr = U.mmap(0, f.align, RW, U.MAP_SHARED, f.fd, 0);
    expectEq('madvise(MADV_HUGEPAGE)', U.syscall(U.SYS_madvise, addr, 2 << 20, U.MADV_HUGEPAGE), -U.EINVAL);
    U.memset(addr, 1, 2 << 20);
    const meminfo = U.readFile('/proc/meminfo');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(meminfo)?.[1]);
    expectEq('AnonHugePages + ShmemHugePages', kb('AnonHugePages') + kb('ShmemHugePages'), 0);
    U.munmap(addr, f.align);
  },
  /** memory.c swap: MADV_PAGEOUT inside a memory cgroup, then memory.stat's swap figure. */
  swap() {
    throw new Skip('ptlab has no swap device and no memory cgroups');
  },
};

function childMain(argv: string[]): number {
  const [role] = argv;
  const [fd, align] = argv.slice(1).map(Number);
  const addr = U.mmap(0, align, RW, U.MAP_SHARED, fd, 0);
  if (role === 'writer') {
    U.writeBytes(addr, new TextEncoder().encode(MESSAGE));
    return 0;
  }
  return new TextDecoder().decode(U.readBytes(addr, MESSAGE.length)) === MESSAGE ? 0 : 1;
}

export default function main(argv: string[]): number {
  if (argv[0] === 'writer' || argv[0] === 'reader') return childMain(argv);
  // The hugetlb variants need pages in the 2 MiB pool, as the C tests' runner sets up;
  // argv[0] 'nopool' leaves it empty (they skip then).
  if (argv[0] !== 'nopool') {
    U.writeFile(POOL, '8');
  }
  let n = 0;
  let failed = 0;
  const lines: string[] = [];
  for (const v of VARIANTS) {
    for (const [name, test] of Object.entries(TESTS)) {
      const id = `mshare.${v.name}.${name}`;
      n++;
      let f: Fixture | null = null;
      try {
        f = setup(v);
        test(f);
        lines.push(`ok ${n} ${id}`);
      } catch (e) {
        if (e instanceof Skip) lines.push(`ok ${n} ${id} # SKIP ${e.message}`);
        else {
          failed++;
          lines.push(`not ok ${n} ${id} # ${(e as Error).message}`);
        }
      } finally {
        if (f !== null) teardown(f);
      }
    }
  }
  U.writeFile(POOL, '0');
  U.print(`1..${n}\n${lines.join('\n')}`);
  return failed === 0 ? 0 : 1;
}
