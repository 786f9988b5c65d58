// The differential test's ptlab side: a guest that runs the same scripts as helper.c, with
// the same syscalls, and prints the same lines, reading /proc/self/maps and smaps itself.
//
//   ptlab run test/diff/guest.ts FIRST_SEED COUNT     (random scripts)
//   ptlab run test/diff/guest.ts cases                (the hand-written cases, in order)
import {
  close, load32, load64, store64, SYS_ioctl, load8, MADV_FREE, MAP_ANONYMOUS, open, O_RDONLY, O_WRONLY, pread, SYS_write, writeBytes, store8, MAP_NORESERVE, MAP_PRIVATE, MAX_ERRNO, print, PROT_NONE, PROT_READ, PROT_WRITE,
  CAP_IPC_LOCK, dropCapabilities, RLIMIT_MEMLOCK, readFile, RLIM_INFINITY, RLIMIT_AS, RLIMIT_DATA, setrlimit, syscall, SYS_madvise, SYS_mincore, SYS_mlock, SYS_mlock2, SYS_mlockall, SYS_mmap, SYS_mprotect,
  SYS_brk, SYS_mremap, SYS_mseal, SYS_munlock, SYS_munlockall, SYS_munmap, SYS_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME,
} from 'ptlab/userland';
import {
  F_ADD_SEALS, F_GET_SEALS, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, SYS_close, SYS_fallocate, SYS_fcntl, SYS_ftruncate, SYS_memfd_create, SYS_pwrite64,
} from 'ptlab/userland';
import { CASES } from './cases.ts';
import { parseScript, RANGE_PAGES, randomScript, type Op, VMA_NAMES } from './scripts.ts';

const P = 4096;
const RANGE = RANGE_PAGES * P;
const ABOVE = 64 << 20;

const HEAP_WINDOW = 16 << 20;

let base = 0;

/** A NUL-terminated string in the mincore buffer's last page (outside the range). */
function cString(text: string): number {
  const at = scratchText;
  writeBytes(at, new TextEncoder().encode(text));
  store8(at + text.length, 0);
  return at;
}
let scratchText = 0;
/** The break at start; every script starts from it. */
let heap0 = 0;

/** As helper.c: a hole between two guard pages, with 64 MiB free above. */
function reserve(): void {
  const p = syscall(SYS_mmap, 0, RANGE + 2 * P + ABOVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p < 0 && p >= -MAX_ERRNO) throw new Error(`reserve: ${p}`);
  base = p + P;
  syscall(SYS_munmap, base, RANGE);
  syscall(SYS_munmap, base + RANGE + P, ABOVE);
}

function mapsLines(out: string[]): void {
  for (const line of readFile('/proc/self/maps').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \S+ *(.*)$/.exec(line);
    if (m === null) continue;
    let s = parseInt(m[1], 16);
    let e = parseInt(m[2], 16);
    if (e <= base || s >= base + RANGE) continue;
    s = Math.max(s, base);
    e = Math.min(e, base + RANGE);
    out.push(`m ${s - base} ${e - base} ${m[3]} ${parseInt(m[4], 16).toString(16)} ${m[5]}`);
  }
  for (const line of readFile('/proc/self/maps').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ \S+ *(.*)$/.exec(line);
    if (m === null) continue;
    const s = parseInt(m[1], 16);
    if (s < heap0 || s >= heap0 + HEAP_WINDOW) continue;
    out.push(`h ${s - heap0} ${parseInt(m[2], 16) - heap0} ${m[3]} ${m[4]}`);
  }
}

const FIELDS = ['Size', 'Rss', 'Pss', 'Pss_Dirty', 'Shared_Clean', 'Shared_Dirty', 'Private_Clean', 'Private_Dirty', 'Referenced', 'Anonymous', 'Locked'];

/** As helper.c: after MADV_FREE, Referenced is not compared (Linux's varies from run to run). */
function smapsLines(out: string[], freed: boolean): void {
  let vals: Record<string, number> | null = null;
  let start = 0;
  for (const line of readFile('/proc/self/smaps').split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (h !== null) {
      const s = parseInt(h[1], 16);
      const e = parseInt(h[2], 16);
      vals = e <= base || s >= base + RANGE ? null : {};
      start = s < base ? 0 : s - base;
      continue;
    }
    if (vals === null) continue;
    if (line.startsWith('VmFlags:')) {
      out.push(`s ${start} ${FIELDS.map((f) => (f === 'Referenced' && freed ? '-' : vals![f] ?? 0)).join(' ')} ${line.slice(9)}`);
      vals = null;
      continue;
    }
    const f = /^(\w+):\s+(\d+)/.exec(line);
    if (f !== null) vals[f[1]] = Number(f[2]);
  }
}

function run(ops: Op[], vec: number): string[] {
  const out: string[] = [];
  const res = (r: number) => out.push(r < 0 ? `e ${-r}` : `r ${r}`);
  for (const o of ops) {
    switch (o[0]) {
      case 'mmap': {
        const r = syscall(SYS_mmap, base + o[1], o[2], o[3], o[4], -1, 0);
        res(r < 0 ? r : r - base);
        break;
      }
      case 'munmap': res(syscall(SYS_munmap, base + o[1], o[2])); break;
      case 'mprotect': res(syscall(SYS_mprotect, base + o[1], o[2], o[3])); break;
      case 'madvise': res(syscall(SYS_madvise, base + o[1], o[2], o[3])); break;
      case 'mseal': res(syscall(SYS_mseal, base + o[1], o[2], o[3])); sealed = true; break;
      case 'mlock': res(o[3] === 2 ? syscall(SYS_mlock, base + o[1], o[2]) : syscall(SYS_mlock2, base + o[1], o[2], o[3])); break;
      case 'brk': out.push(`r ${syscall(SYS_brk, heap0 + o[1]) - heap0}`); break;
      case 'hprotect': res(syscall(SYS_mprotect, heap0 + o[1], o[2], o[3])); break;
      case 'mmapx': {
        const r = syscall(SYS_mmap, o[1] < 0 ? 0 : base + o[1], o[2], o[3], o[4], o[5], o[6]);
        if (r < 0) res(r);
        else out.push(r >= base && r < base + RANGE ? `r ${r - base}` : 'r out');
        break;
      }
      case 'aslimit':
      case 'datalimit': {
        const as = o[0] === 'aslimit';
        const kb = Number(new RegExp(`^${as ? 'VmSize' : 'VmData'}:\\s+(\\d+)`, 'm').exec(readFile('/proc/self/status'))?.[1]);
        const bytes = kb * 1024 + o[1] * P;
        setrlimit(as ? RLIMIT_AS : RLIMIT_DATA, [bytes, RLIM_INFINITY]);
        res(0);
        break;
      }
      case 'pagemap': {
        const fd = open('/proc/self/pagemap', O_RDONLY);
        pread(fd, vec, o[2] * 8, ((base + o[1]) / P) * 8);
        close(fd);
        const flags: string[] = [];
        for (let i = 0; i < o[2]; i++) flags.push((load32(vec + i * 8 + 4) >>> 23).toString(16));
        out.push(`r 0 ${flags.join(' ')}`);
        break;
      }
      case 'pmscan': {
        const arg = vec;
        const regs = vec + 128;
        const vals = [96, o[3], base + o[1], base + o[1] + o[2], 0, regs, o[9], o[8], o[4], o[5], o[6], o[7]];
        vals.forEach((x, i) => store64(arg + 8 * i, BigInt(x)));
        const fd = open('/proc/self/pagemap', O_RDONLY);
        const n = syscall(SYS_ioctl, fd, 0xc0606610, arg);
        close(fd);
        if (n < 0) {
          res(n);
          break;
        }
        let line = `r ${n} ${(Number(load64(arg + 32)) - base).toString(16)}`;
        for (let i = 0; i < n; i++) {
          const at = regs + 24 * i;
          line += ` ${(Number(load64(at)) - base).toString(16)}-${(Number(load64(at + 8)) - base).toString(16)}:${Number(load64(at + 16)).toString(16)}`;
        }
        out.push(line);
        break;
      }
      case 'clearrefs': {
        const fd = open('/proc/self/clear_refs', O_WRONLY);
        const r = syscall(SYS_write, fd, cString(String(o[1])), String(o[1]).length);
        close(fd);
        res(r < 0 ? r : 0);
        break;
      }
      case 'dropipclock': dropCapabilities(CAP_IPC_LOCK); res(0); break;
      case 'memlocklimit': setrlimit(RLIMIT_MEMLOCK, [o[1], o[1]]); res(0); break;
      case 'munlock': res(syscall(SYS_munlock, base + o[1], o[2])); break;
      case 'mlockall': res(o[1] === 0 ? syscall(SYS_munlockall) : syscall(SYS_mlockall, o[1])); break;
      case 'mincore': {
        const r = syscall(SYS_mincore, base + o[1], o[2], vec);
        if (r < 0) {
          res(r);
          break;
        }
        let bits = '';
        for (let i = 0; i < Math.ceil(o[2] / P); i++) bits += String(load8(vec + i) & 1);
        out.push(`r 0 ${bits}`);
        break;
      }
      case 'mremap': {
        const r = syscall(SYS_mremap, base + o[1], o[2], o[3], o[4], base + o[5]);
        if (r < 0) res(r);
        else out.push(r >= base && r < base + RANGE ? `r ${r - base}` : 'r out');
        break;
      }
      case 'memfd': {
        memfd = syscall(SYS_memfd_create, cString('d'), o[1]);
        const r = memfd < 0 ? memfd : syscall(SYS_ftruncate, memfd, o[2]);
        res(r < 0 ? r : syscall(SYS_fcntl, memfd, F_GET_SEALS, 0));
        break;
      }
      case 'mapfd': {
        const r = syscall(SYS_mmap, base + o[1], o[2], o[3], o[4], memfd, o[5]);
        res(r < 0 ? r : r - base);
        break;
      }
      case 'seal': {
        const r = syscall(SYS_fcntl, memfd, F_ADD_SEALS, o[1]);
        res(r < 0 ? r : syscall(SYS_fcntl, memfd, F_GET_SEALS, 0));
        break;
      }
      case 'fdio': {
        const modes = [0, 0, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_KEEP_SIZE];
        if (o[1] === 0) res(syscall(SYS_pwrite64, memfd, vec, o[3], o[2]));
        else if (o[1] === 1) res(syscall(SYS_ftruncate, memfd, o[2]));
        else res(syscall(SYS_fallocate, memfd, modes[o[1]], o[2], o[3]));
        break;
      }
      case 'vmaname': {
        const n = VMA_NAMES[o[3]];
        res(syscall(SYS_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, base + o[1], o[2], n === null ? 0 : cString(n)));
        break;
      }
    }
  }
  mapsLines(out);
  smapsLines(out, ops.some((o) => o[0] === 'madvise' && o[3] === MADV_FREE));
  out.push('end');
  return out;
}

let sealed = true;
/** The script's memfd (memfd, mapfd, seal, fdio), or -1; closed at each script's start. */
let memfd = -1;

export default function main(argv: string[]): number {
  const scripts = argv[0] === 'cases'
    ? Object.values(CASES).map(parseScript)
    : Array.from({ length: Number(argv[1]) }, (_, i) => randomScript(Number(argv[0]) + i));
  const vec = syscall(SYS_mmap, 0, RANGE_PAGES * 8 + 2 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  scratchText = vec + RANGE_PAGES * 8 + P;
  heap0 = syscall(SYS_brk, 0);
  // As helper.c: fd 3 read-only, fd 4 write-only, neither mappable.
  if (open('/proc/self/maps', O_RDONLY) !== 3 || open('/proc/self/status', O_WRONLY) !== 4) throw new Error('fds 3 and 4 taken');
  for (const ops of scripts) {
    // As helper.c's "script": unlocked, no limits, an empty heap, a fresh or cleared hole.
    syscall(SYS_munlockall);
    if (memfd >= 0) syscall(SYS_close, memfd);
    memfd = -1;
    setrlimit(RLIMIT_AS, [RLIM_INFINITY, RLIM_INFINITY]);
    setrlimit(RLIMIT_DATA, [RLIM_INFINITY, RLIM_INFINITY]);
    syscall(SYS_brk, heap0);
    if (sealed) reserve();
    else syscall(SYS_munmap, base, RANGE);
    sealed = false;
    print(run(ops, vec).join('\n'));
  }
  return 0;
}
