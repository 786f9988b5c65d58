// Names of anonymous memory: prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name), and
// prctl's PR_SET_NAME / PR_GET_NAME. The project's host kernel (6.18.44-fc) is built without
// CONFIG_ANON_VMA_NAME (every PR_SET_VMA call there is EINVAL, which the last case checks
// with the option off), so the expectations below come from Linux 6.18's source:
// kernel/sys.c prctl_set_vma and is_valid_name_char, mm/madvise.c madvise_set_anon_name,
// madvise_walk_vmas and madvise_vma_behavior, mm/vma.c is_mergeable_vma (anon_vma_name_eq),
// fs/proc/task_mmu.c get_vma_name; and tools/testing/selftests/prctl/set-anon-vma-name-test.c.
import { describe, expect, it } from 'vitest';
import { procMaps } from '../../../kernel/fs/proc/task_mmu.ts';
import { procRead } from '../../../kernel/fs/index.ts';
import { copyFromUser, copyToUser } from '../../../kernel/mm/uaccess.ts';
import type { Thread } from '../../../kernel/task/task.ts';
import * as U from '../../../kernel/uapi.ts';
import { KernelHarness } from '../../harness/kernel.ts';

const P = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

function world(options: { anonVmaName?: boolean } = {}) {
  const h = new KernelHarness({ memBytes: 16 << 20, ...options });
  const t = h.spawn();
  const mm = t.proc.mm;
  // A page for the names passed in, and a hole of 32 pages to work in.
  const strings = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
  const base = h.call(t, U.SYS_mmap, 0, 32 * P, U.PROT_NONE, ANON, -1, 0);
  h.call(t, U.SYS_munmap, base, 32 * P);
  let next = strings;
  /** A NUL-terminated copy of `bytes` in guest memory. */
  const str = (text: string | number[]): number => {
    const bytes = typeof text === 'string' ? [...text].map((c) => c.charCodeAt(0)) : text;
    const at = next;
    copyToUser(h.k, mm, at, new Uint8Array([...bytes, 0]), -1);
    next += bytes.length + 1;
    return at;
  };
  const map = (page: number, pages: number, prot = RW, flags = ANON): number => h.call(t, U.SYS_mmap, base + page * P, pages * P, prot, flags | U.MAP_FIXED, -1, 0);
  const name = (page: number, len: number, text: string | null, th: Thread = t): number => h.call(th, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, base + page * P, len, text === null ? 0 : str(text));
  /** The maps lines inside the hole, addresses relative to it in pages: "FROM-TO PERMS NAME". */
  const lines = (th: Thread = t): string[] => procMaps(th.proc.mm).split('\n').flatMap((l) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+ *(.*)$/.exec(l);
    if (m === null) return [];
    const s = parseInt(m[1], 16);
    if (s < base || s >= base + 32 * P) return [];
    return [`${(s - base) / P}-${(parseInt(m[2], 16) - base) / P} ${m[3]} ${m[4]}`.trimEnd()];
  });
  return { h, t, mm, base, str, map, name, lines };
}

describe('prctl(PR_SET_VMA_ANON_NAME)', () => {
  it('names a range of anonymous memory: [anon:NAME] in maps and smaps, the VMA split where the range ends inside it', () => {
    const { h, t, map, name, lines } = world();
    map(0, 8);
    expect(name(2, 3 * P, 'goodname')).toBe(0);
    expect(lines()).toEqual(['0-2 rw-p', '2-5 rw-p [anon:goodname]', '5-8 rw-p']);
    expect(procRead(h.kernel, t.proc, 'smaps')).toMatch(/^[0-9a-f]+-[0-9a-f]+ rw-p 00000000 00:00 0 {26}\[anon:goodname\]$/m);
    // The same name again changes nothing; a length that is not a page multiple is rounded up.
    expect(name(2, 3 * P, 'goodname')).toBe(0);
    expect(name(5, 1, 'odd')).toBe(0);
    expect(lines()).toEqual(['0-2 rw-p', '2-5 rw-p [anon:goodname]', '5-6 rw-p [anon:odd]', '6-8 rw-p']);
    // A NULL name clears it, and the VMAs merge back into one.
    expect(name(0, 8 * P, null)).toBe(0);
    expect(lines()).toEqual(['0-8 rw-p']);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('takes names of up to 79 characters of printable ASCII but \\ ` $ [ ]; other names are EINVAL, an unreadable one EFAULT', () => {
    const { h, t, map, name, lines } = world();
    map(0, 1);
    expect(name(0, P, 'a'.repeat(79))).toBe(0);
    expect(lines()).toEqual([`0-1 rw-p [anon:${'a'.repeat(79)}]`]);
    expect(name(0, P, 'a'.repeat(80))).toBe(-U.EINVAL); // ANON_VMA_NAME_MAX_LEN is 80 with the NUL
    for (const bad of ['a[', ']', 'a\\b', '$x', '`', 'tab\t', '\x7f', '\x1f', 'badname\x01', '\x80', '\xa0', '\xff']) {
      expect(name(0, P, bad), JSON.stringify(bad)).toBe(-U.EINVAL);
    }
    expect(name(0, P, ' ~!@#%^&*(){}|;:\'",.<>/?-_=+')).toBe(0);
    expect(lines()).toEqual(['0-1 rw-p [anon: ~!@#%^&*(){}|;:\'",.<>/?-_=+]']);
    expect(name(0, P, '')).toBe(0); // an empty name is a name
    expect(lines()).toEqual(['0-1 rw-p [anon:]']);
    // The name pointer: unmapped, or past the user address space.
    const hole = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    h.call(t, U.SYS_munmap, hole, P);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, 0, P, hole)).toBe(-U.EFAULT);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, 0, P, 2 ** 47)).toBe(-U.EFAULT);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('checks the range as madvise does: unaligned start or wrap EINVAL, length 0 does nothing, a hole is ENOMEM after naming the rest', () => {
    const { h, t, base, map, name, lines, str } = world();
    map(0, 8);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, base + 1, P, str('x'))).toBe(-U.EINVAL);
    // The selftest's "non-anonymous" mapping failed to map: MAP_FAILED, an unaligned address.
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, 2 ** 64 - 1, 1024, str('goodname'))).toBe(-U.EINVAL);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, base, 2 ** 64 - P, str('x'))).toBe(-U.EINVAL);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, base, -1, str('x'))).toBe(-U.EINVAL);
    expect(name(20, 0, 'x')).toBe(0); // unmapped, but length 0
    // Other PR_SET_VMA sub-options, and prctl options ptlab does not have.
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, 1, base, P, str('x'))).toBe(-U.EINVAL);
    expect(h.call(t, U.SYS_prctl, 4 /* PR_SET_DUMPABLE */, 1)).toBe(-U.EINVAL);
    expect(lines()).toEqual(['0-8 rw-p']);
    h.call(t, U.SYS_munmap, base + 4 * P, P);
    expect(name(3, 3 * P, 'hole')).toBe(-U.ENOMEM);
    expect(lines()).toEqual(['0-3 rw-p', '3-4 rw-p [anon:hole]', '5-6 rw-p [anon:hole]', '6-8 rw-p']);
    expect(name(4, P, 'h2')).toBe(-U.ENOMEM); // nothing mapped at all
    expect(name(8, 4 * P, 'h2')).toBe(-U.ENOMEM);
    expect(lines()).toEqual(['0-3 rw-p', '3-4 rw-p [anon:hole]', '5-6 rw-p [anon:hole]', '6-8 rw-p']);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('refuses file mappings (EBADF, stopping the walk there) but names shared anonymous memory [anon_shmem:NAME]', () => {
    const { h, t, base, map, name, lines, str } = world();
    const fd = h.call(t, U.SYS_memfd_create, str('mf'), 0);
    expect(h.call(t, U.SYS_ftruncate, fd, 4 * P)).toBe(0);
    expect(h.call(t, U.SYS_mmap, base + 2 * P, P, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0)).toBe(base + 2 * P);
    expect(h.call(t, U.SYS_mmap, base + 3 * P, P, RW, U.MAP_PRIVATE | U.MAP_FIXED, fd, 0)).toBe(base + 3 * P);
    map(0, 2);
    map(4, 1);
    expect(name(2, P, 'f')).toBe(-U.EBADF);
    expect(name(3, P, 'f')).toBe(-U.EBADF);
    // The anonymous VMA before the file is named; the walk stops at the file.
    expect(name(0, 5 * P, 'af')).toBe(-U.EBADF);
    expect(lines()).toEqual(['0-2 rw-p [anon:af]', '2-3 rw-s /memfd:mf (deleted)', '3-4 rw-p /memfd:mf (deleted)', '4-5 rw-p']);
    map(8, 2, RW, U.MAP_SHARED | U.MAP_ANONYMOUS);
    const before = procMaps(t.proc.mm).split('\n').find((l) => l.startsWith((base + 8 * P).toString(16)))!;
    expect(name(8, 2 * P, 'sh')).toBe(0);
    const after = procMaps(t.proc.mm).split('\n').find((l) => l.startsWith((base + 8 * P).toString(16)))!;
    // The device, inode and offset stay the file's; the name replaces "/dev/zero (deleted)".
    expect(before).toMatch(/\/dev\/zero \(deleted\)$/);
    expect(after).toBe(before.replace('/dev/zero (deleted)', '[anon_shmem:sh]'));
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('merges only VMAs of equal names; splits, mprotect, mremap and fork keep the name', () => {
    const { h, t, base, map, name, lines } = world();
    map(0, 8);
    expect(name(0, 2 * P, 'same')).toBe(0);
    expect(name(2, 2 * P, 'same')).toBe(0);
    expect(name(5, P, 'x')).toBe(0);
    expect(name(6, P, 'y')).toBe(0);
    expect(lines()).toEqual(['0-4 rw-p [anon:same]', '4-5 rw-p', '5-6 rw-p [anon:x]', '6-7 rw-p [anon:y]', '7-8 rw-p']);
    expect(h.call(t, U.SYS_mprotect, base + P, P, U.PROT_READ)).toBe(0);
    expect(lines().slice(0, 3)).toEqual(['0-1 rw-p [anon:same]', '1-2 r--p [anon:same]', '2-4 rw-p [anon:same]']);
    expect(h.call(t, U.SYS_mprotect, base + P, P, RW)).toBe(0);
    expect(name(6, P, 'x')).toBe(0);
    expect(lines()).toEqual(['0-4 rw-p [anon:same]', '4-5 rw-p', '5-7 rw-p [anon:x]', '7-8 rw-p']);
    // A new mapping beside a named one does not merge with it (it has no name).
    map(10, 1);
    expect(name(10, P, 'n')).toBe(0);
    map(11, 1);
    expect(lines().slice(-2)).toEqual(['10-11 rw-p [anon:n]', '11-12 rw-p']);
    // mremap moves the name with the VMA, and the moved VMA merges with one of the same name.
    map(20, 1);
    expect(name(20, P, 'n')).toBe(0);
    expect(h.call(t, U.SYS_mremap, base + 10 * P, P, P, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, base + 21 * P)).toBe(base + 21 * P);
    expect(lines().slice(-2)).toEqual(['11-12 rw-p', '20-22 rw-p [anon:n]']);
    // fork: the child's VMAs have the parent's names.
    const child = h.call(t, U.SYS_clone, U.FORK_FLAGS, ...forkDesc(h, t));
    expect(child).toBeGreaterThan(0);
    const ct = h.kernel.tasks.procs.get(child)!.threads.get(child)!;
    expect(lines(ct)).toEqual(lines());
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('leaves the heap [heap] and the stack [stack]; a split at vm.max_map_count is EAGAIN', () => {
    const { h, t, map, name, str } = world();
    const heap0 = h.call(t, U.SYS_brk, 0);
    expect(h.call(t, U.SYS_brk, heap0 + 2 * P)).toBe(heap0 + 2 * P);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, heap0, P, str('hp'))).toBe(0);
    const heapLines = procMaps(t.proc.mm).split('\n').filter((l) => l.includes('[heap]'));
    expect(heapLines).toHaveLength(2); // split by the name, both still the heap
    // The stack too: the part holding start_stack stays [stack], the rest shows its name.
    const top = U.TASK_SIZE;
    expect(h.call(t, U.SYS_prctl, U.PR_SET_VMA, U.PR_SET_VMA_ANON_NAME, top - 132 * 1024, 132 * 1024 - P, str('st'))).toBe(0);
    expect(procMaps(t.proc.mm).split('\n').filter((l) => /\[stack\]|anon:st/.test(l)).map((l) => l.slice(0, 25) + l.slice(72))).toEqual([
      `${(top - 132 * 1024).toString(16)}-${(top - P).toString(16)} [anon:st]`,
      `${(top - P).toString(16)}-${top.toString(16)} [stack]`,
    ]);
    map(0, 3);
    h.k.vm.maxMapCount = t.proc.mm.vmas.count;
    expect(name(1, P, 'x')).toBe(-U.EAGAIN);
    expect(name(0, 3 * P, 'whole')).toBe(0); // no split needed
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });

  it('is EINVAL on a kernel built without CONFIG_ANON_VMA_NAME (as the host kernel answers)', () => {
    const { h, map, name, lines } = world({ anonVmaName: false });
    map(0, 2);
    expect(name(0, P, 'x')).toBe(-U.EINVAL);
    expect(name(0, P, null)).toBe(-U.EINVAL);
    expect(lines()).toEqual(['0-2 rw-p']);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});

describe('prctl(PR_SET_NAME) and prctl(PR_GET_NAME)', () => {
  it('set the thread name from up to 15 bytes, read it NUL-padded to 16; the group leader\'s is status\'s Name', () => {
    const { h, t, str } = world();
    const buf = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
    const get = (): string => {
      expect(h.call(t, U.SYS_prctl, U.PR_GET_NAME, buf)).toBe(0);
      const b = copyFromUser(h.k, t.proc.mm, buf, 17, -1) as Uint8Array;
      expect(b[16]).toBe(0xaa); // exactly TASK_COMM_LEN bytes written
      return [...b.subarray(0, 16)].map((c) => String.fromCharCode(c)).join('');
    };
    copyToUser(h.k, t.proc.mm, buf, new Uint8Array(17).fill(0xaa), -1);
    expect(get()).toBe(`guest${'\0'.repeat(11)}`);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_NAME, str('a-very-long-thread-name'))).toBe(0);
    expect(get()).toBe('a-very-long-thr\0');
    expect(procRead(h.kernel, t.proc, 'status')).toMatch(/^Name:\ta-very-long-thr$/m);
    expect(h.call(t, U.SYS_prctl, U.PR_SET_NAME, 2 ** 47)).toBe(-U.EFAULT);
    expect(h.call(t, U.SYS_prctl, U.PR_GET_NAME, 2 ** 47)).toBe(-U.EFAULT);
    h.killAll();
    expect(h.leakedFrames()).toBe(0);
  });
});

/** clone's descriptor arguments (pointer, length) for a child running `default` of /guest.ts. */
function forkDesc(h: KernelHarness, t: Thread): [number, number] {
  const bytes = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName: 'default', arg: null }));
  const at = h.call(t, U.SYS_mmap, 0, P, RW, ANON, -1, 0);
  copyToUser(h.k, t.proc.mm, at, bytes, -1);
  return [at, bytes.length];
}
