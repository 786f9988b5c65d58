// Reference pages from a guest: the tests of ../shared/reference/refpage.md section 5 that a
// process can run on itself (items 1-8, 10-12 and 14). Each prints one line; the vitest
// file compares them. Item 9 needs fork; items 13 and 15 are the kernel-level stress test
// and examples/refpage.ts.
import * as U from 'ptlab/userland';
import { load8, mmap, munmap, print, PROT_READ, PROT_WRITE, store8 } from 'ptlab/userland';
import { code } from './util.ts';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const PRIV = U.MAP_PRIVATE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;


const scratch = mmap(0, P, RW, ANON);

/** The frame behind va, from /proc/self/pagemap (we are root: PFNs are shown); 0 if none. */
function pfn(va: number): number {
  const fd = U.open('/proc/self/pagemap');
  U.pread(fd, scratch, 8, (va / P) * 8);
  U.close(fd);
  const lo = U.load32(scratch) >>> 0;
  const hi = U.load32(scratch + 4) >>> 0;
  return hi >>> 31 === 1 ? lo + (hi & 0x7fffff) * 2 ** 32 : 0;
}

/** Rss of the VMA at va, in kB, from /proc/self/smaps. */
function rssKb(va: number): number {
  const text = U.readFile('/proc/self/smaps');
  const start = va.toString(16).padStart(8, '0');
  const at = text.indexOf(`${start}-`);
  return Number(/Rss:\s+(\d+)/.exec(text.slice(at))?.[1]);
}

/** A reference page of `size` bytes of pattern (byte i is (seed + 7 i) & 255). */
function create(size: number, seed: number): number {
  const buf = mmap(0, 2 * P, RW, ANON);
  for (let i = 0; i < size; i++) store8(buf + i, (seed + 7 * i) & 255);
  const fd = U.refpageCreate(buf, size);
  munmap(buf, 2 * P);
  return fd;
}

/** Does every byte of [va, va+len) hold the pattern of `create(size, seed)`? */
function holdsPattern(va: number, len: number, size: number, seed: number): boolean {
  for (let i = 0; i < len; i++) if (load8(va + i) !== ((seed + 7 * (i % size)) & 255)) return false;
  return true;
}

function argumentErrors(): string {
  const buf = mmap(0, 2 * P, RW, ANON);
  const none = mmap(0, P, U.PROT_NONE, ANON);
  const r = (content: number, size: number, flags = 0) => code(() => U.close(U.refpageCreate(content, size, flags)));
  return `args flags ${r(buf, 1, 1)} sizes ${[0, 3, 12, 8192].map((s) => r(buf, s)).join(' ')} misaligned ${r(buf + 1, 2)} unmapped ${r(none, 16)} ok ${r(buf, 1)} ${r(buf + 16, 16)} ${r(buf, 4096)}`;
}

function fdProperties(): string {
  const fd = create(1, 0xaa);
  const cloexec = (U.fcntl(fd, U.F_GETFD) & U.FD_CLOEXEC) !== 0;
  const rdonly = (U.fcntl(fd, U.F_GETFL) & U.O_ACCMODE) === U.O_RDONLY;
  const out = `fd cloexec ${cloexec} rdonly ${rdonly} read ${code(() => U.read(fd, scratch, 1))} shared-rw ${code(() => mmap(0, P, RW, U.MAP_SHARED, fd, 0))} shared-ro ${code(() => mmap(0, P, PROT_READ, U.MAP_SHARED, fd, 0))}`;
  const p = mmap(0, P, PROT_READ, PRIV, fd, 0);
  const line = U.readFile('/proc/self/maps').split('\n').find((l) => l.startsWith(p.toString(16).padStart(8, '0'))) ?? '';
  munmap(p, P);
  U.close(fd);
  return `${out} maps ${line.split(/\s+/).slice(1).join(' ')}`;
}

function contents(): string {
  const out: string[] = [];
  for (const size of [1, 2, 16, 4096]) {
    const fd = create(size, size);
    const p = mmap(0, 3 * P, PROT_READ, PRIV, fd, 0);
    out.push(`${size}:${holdsPattern(p, 3 * P, size, size)}`);
    munmap(p, 3 * P);
    U.close(fd);
  }
  // The content is copied at creation: a later change of the source is not seen.
  const buf = mmap(0, P, RW, ANON);
  U.memset(buf, 0x11, 16);
  const fd = U.refpageCreate(buf, 16);
  U.memset(buf, 0x22, 16);
  const p = mmap(0, P, PROT_READ, PRIV, fd, 0);
  out.push(`snapshot ${load8(p)} ${load8(p + 4095)}`);
  U.close(fd);
  return `contents ${out.join(' ')}`;
}

function sharingAndCow(): string {
  const N = 8;
  const fd = create(1, 0x5a);
  const a = mmap(0, N * P, RW, PRIV, fd, 0);
  const b = mmap(0, N * P, RW, PRIV, fd, 0);
  for (let i = 0; i < N; i++) load8(a + i * P) + load8(b + i * P);
  const ref = pfn(a);
  const allRef = (base: number, except = -1) => Array.from({ length: N }, (_, i) => i).every((i) => i === except || pfn(base + i * P) === ref);
  const other = create(1, 0x5a);
  const c = mmap(0, P, PROT_READ, PRIV, other, 0);
  load8(c);
  const shared = `share ${allRef(a)} ${allRef(b)} rss ${rssKb(a)} ${rssKb(b)} other-fd ${pfn(c) !== ref && pfn(c) !== 0}`;
  // COW after a read: only page 3 gets a frame; the rest of page 3 keeps the pattern.
  store8(a + 3 * P + 100, 7);
  const cow = `cow ${load8(a + 3 * P + 100)} rest ${holdsPattern(a + 3 * P, 100, 1, 0x5a) && holdsPattern(a + 3 * P + 101, P - 101, 1, 0x5a)} own ${pfn(a + 3 * P) !== ref} others ${allRef(a, 3)} ${allRef(b)} rss ${rssKb(a)}`;
  // Write first, with no read before: the page is filled, then written.
  const d = mmap(0, P, RW, PRIV, fd, 0);
  store8(d + 9, 1);
  const first = `write-first ${load8(d + 9)} ${load8(d + 8)} ${load8(d + 10)} ${pfn(d) !== ref}`;
  // MADV_DONTNEED: the page is the reference content again and its frame is gone.
  U.madvise(a, N * P, U.MADV_DONTNEED);
  const dontneed = `dontneed ${load8(a + 3 * P + 100)} ${pfn(a + 3 * P) === ref} rss ${rssKb(a)}`;
  for (const [p, n] of [[a, N], [b, N], [c, 1], [d, 1]]) munmap(p, n * P);
  U.close(other);
  U.close(fd);
  return `${shared}\n${cow}\n${first}\n${dontneed}`;
}

/**
 * A second CPU caches the read-only translation to the reference page; the first writes
 * the page (COW). The copy must be visible to the second CPU: its stale entry was flushed.
 */
function tlbAcrossCpus(): string {
  const fd = create(1, 0x33);
  const p = mmap(0, P, RW, PRIV, fd, 0);
  const flag = mmap(0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS);
  U.storeF64(flag + 8, p);
  const tid = U.threadCreate('reader', flag);
  while (U.load32(flag) !== 1) U.syscall(U.SYS_sched_yield);
  store8(p, 0x44); // COW: the reader's TLB entry for p pointed at the reference page
  U.store32(flag, 2);
  U.threadJoin(tid);
  const seen = U.load32(flag + 4);
  munmap(p, P);
  U.close(fd);
  return `tlb reader saw ${seen.toString(16)}`;
}

/** The thread of tlbAcrossCpus. */
export function reader(flag: number): number {
  const p = U.loadF64(flag + 8);
  U.store32(flag + 4, load8(p)); // cache the translation: 0x33
  U.store32(flag, 1);
  while (U.load32(flag) !== 2) U.syscall(U.SYS_sched_yield);
  U.store32(flag + 4, load8(p));
  return 0;
}

function lifetimeAndProtect(): string {
  const fd = create(1, 0x66);
  const p = mmap(0, 2 * P, RW, PRIV, fd, 0);
  U.close(fd); // the mapping holds the reference page
  const afterClose = load8(p + 5);
  U.mprotect(p, 2 * P, PROT_READ);
  let segv = 'none';
  U.sigaction(U.SIGSEGV, (info) => {
    segv = `${info.code}`;
    U.mprotect(p, 2 * P, RW);
  });
  store8(p + P, 9); // SIGSEGV (SEGV_ACCERR); the handler restores write access, the store retries
  U.sigaction(U.SIGSEGV, 'default');
  const out = `lifetime after-close ${afterClose.toString(16)} protect segv ${segv} then ${load8(p + P)} ${rssKb(p)}`;
  munmap(p, 2 * P);
  return out;
}

function populate(): string {
  const N = 16;
  const fd = create(1, 0x77);
  const w = mmap(0, N * P, RW, PRIV | U.MAP_POPULATE, fd, 0);
  const r = mmap(0, N * P, PROT_READ, PRIV | U.MAP_POPULATE, fd, 0);
  const ref = pfn(r);
  const mapPop = `populate map-rw ${rssKb(w)} ${holdsPattern(w, N * P, 1, 0x77)} map-ro ${rssKb(r)} ${pfn(r + 5 * P) === ref && ref !== 0}`;
  const m = mmap(0, N * P, RW, PRIV, fd, 0);
  U.madvise(m, N * P, U.MADV_POPULATE_READ);
  const read = `${rssKb(m)} ${pfn(m + 7 * P) === ref}`;
  U.madvise(m, N * P, U.MADV_POPULATE_WRITE);
  const write = `${rssKb(m)} ${pfn(m + 7 * P) !== ref} ${holdsPattern(m, N * P, 1, 0x77)}`;
  const ro = code(() => U.madvise(r, N * P, U.MADV_POPULATE_WRITE));
  for (const p of [w, r, m]) munmap(p, N * P);
  U.close(fd);
  return `${mapPop} madv-read ${read} madv-write ${write} write-on-ro ${ro}`;
}

/** Item 14: plain anonymous memory follows the same rules with the zero page. */
function zeroPageParity(): string {
  const N = 4;
  const a = mmap(0, N * P, RW, ANON);
  for (let i = 0; i < N; i++) load8(a + i * P);
  const zero = pfn(a);
  const same = Array.from({ length: N }, (_, i) => pfn(a + i * P) === zero).every(Boolean);
  const rssAfterReads = rssKb(a);
  store8(a + P + 1, 5);
  const cow = `${load8(a + P + 1)} ${load8(a + P)} ${pfn(a + P) !== zero} ${pfn(a + 2 * P) === zero} rss ${rssKb(a)}`;
  U.madvise(a, N * P, U.MADV_DONTNEED);
  const back = `${load8(a + P + 1)} ${pfn(a + P) === zero} rss ${rssKb(a)}`;
  munmap(a, N * P);
  return `zero share ${same} rss-after-reads ${rssAfterReads} cow ${cow} dontneed ${back}`;
}

export default function main(): number {
  print([argumentErrors(), fdProperties(), contents(), sharingAndCow(), tlbAcrossCpus(), lifetimeAndProtect(), populate(), zeroPageParity()].join('\n'));
  return 0;
}
