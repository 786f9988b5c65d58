// mshare (the 2025 v3 msharefs API): regions, their sizing and the ioctls on the host mm.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FdTable } from '../../../kernel/fs/file.ts';
import { FAULT_DONE, FAULT_SEGV_MAPERR, handleMmFault } from '../../../kernel/mm/fault.ts';
import { MSHARE_BASE } from '../../../kernel/mm/mshare.ts';
import { folioReferenced, rmapWalk } from '../../../kernel/mm/rmap.ts';
import { entryWord, ptePfn, X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';

import { type InodeFile, Vfs } from '../../../kernel/fs/vfs.ts';
import { pteWord } from '../../../kernel/mm/memory.ts';
import { dupMmap, sysMmap } from '../../../kernel/mm/mmap.ts';
import type { Mm } from '../../../kernel/mm/mm.ts';
import { exitMmap } from '../../../kernel/mm/exit_mmap.ts';
import { sysMunmap } from '../../../kernel/mm/munmap.ts';
import { PG_PGTABLE } from '../../../kernel/mm/page_alloc.ts';
import { validateMm } from '../../../kernel/mm/validate.ts';
import * as U from '../../../kernel/uapi.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';
import { bootTest } from '../../harness/machine.ts';

const G512 = 2 ** 39;
const RW = U.PROT_READ | U.PROT_WRITE;

/** A kernel with one sized mshare region (its file at `fd` in `fds`) and a 4 KiB object at offset 0. */
function regionWorld(nrCpus = 2, flush: 'all' | 'attached' = 'all') {
  const k = memoryWorld(64 << 20, nrCpus).k;
  const bootFree = k.pages.nrFree;
  k.mshare.flushPolicy = flush;
  const vfs = new Vfs(k);
  const fds = new FdTable();
  const f = vfs.open(['sys', 'fs', 'mshare', 'r'], U.O_CREAT | U.O_RDWR, 0o600, -1, 1) as InodeFile;
  const fd = fds.install(f, false, 100);
  const region = f.inode.region!;
  expect(region.setSize(G512)).toBe(0);
  const create = (off: number, size: number) => region.createMapping(off, size, 0, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, -1, fds, () => false);
  const attach = (at: number) => {
    const mm = newMm(k);
    expect(sysMmap(k, mm, at, G512, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0, -1, fds)).toBe(at);
    return mm;
  };
  return { k, vfs, fds, fd, bootFree, region, create, attach };
}

describe('msharefs', () => {
  it('mshare_info, sizing once in 512 GiB steps, and the CREATE_MAPPING and UNMAP checks', async () => {
    const t = await bootTest();
    const r = await t.run(['msharefs']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    expect(r.text.trim().split('\n')).toEqual([
      'info 549755813888',
      'fresh size 0 create EINVAL', // not sized yet
      'sizes EINVAL ok EINVAL size 1', // 1 GiB is not a multiple of 512 GiB; only once
      'fallocate EOPNOTSUPP EINVAL ok',
      // anonymous ok; offset past the end; no MAP_FIXED; MAP_PRIVATE; a memfd object ok;
      // an msharefs file (no nesting); a bad fd; running past the end
      'create ok EINVAL EINVAL EINVAL ok EINVAL EBADF EINVAL',
      'ioctl ENOTTY unmap ok EINVAL EINVAL',
      'read EINVAL unlink info EPERM',
      'subdir region EINVAL',
    ]);
    await t.finish(); // unlinked and closed: each host mm and its pages are gone
  });
});

describe('mshare between processes', () => {
  it('shares the host tables: one linking fault, writes both ways, EINVAL for parts, SIGSEGV after the owner unmaps', async () => {
    const t = await bootTest();
    const r = await t.run(['mshare-share']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    const all = [...t.out.values()].join('');
    // The child's own page tables: a PDPT for its control page and scratch (the region's
    // tables are the host's, linked by one PML4 entry).
    expect(all).toMatch(/child at 3 reads 4242 with 1 fault\(s\), VmPTE \d+ kB, partial EINVAL EINVAL/);
    expect(r.text).toContain('owner at a 512 GiB boundary sees 777');
    expect(r.text).toMatch(/^[0-9a-f]+-[0-9a-f]+ rw-s 00000000 00:2f \d+ +\/sys\/fs\/mshare\/sga$/m);
    expect(all).toContain('child SIGSEGV code 1 at offset 8');
    expect(r.text).toContain('child exit 0');
    await t.finish();
  });
});

describe('mshare tables and lifetime (kernel driven directly)', () => {
  function world() {
    const w = regionWorld();
    const attach = (at: number) => {
      const mm = w.attach(at);
      const touch = (off: number, write: boolean) => {
        for (let i = 0; i < 3; i++) {
          const r = handleMmFault(w.k, mm, at + off, X86_PF_USER | (write ? X86_PF_WRITE : 0), -1);
          if (r !== FAULT_DONE) return r;
          const pw = pteWord(w.k, mm, at + off, false);
          if (pw >= 0 && (w.k.ops.lo(pw) & 1) !== 0) return FAULT_DONE;
        }
        return -1;
      };
      return { mm, touch };
    };
    return { ...w, attach };
  }

  it('the host PDPT outlives an UNMAP of everything while linked, and new objects appear without relinking', () => {
    const { k, region, attach, create } = world();
    expect(create(0, 2 << 20)).toBe(0);
    const a = attach(3 * G512);
    expect(a.touch(0, true)).toBe(FAULT_DONE);
    const pdpt = [...k.mshare.sharedTables.keys()];
    expect(pdpt).toHaveLength(1);
    expect(region.unmap(0, 2 << 20, -1)).toBe(0);
    expect(k.mshare.sharedTables.get(pdpt[0])).toBe(1); // still linked, still there
    expect(a.touch(0, false)).toBe(FAULT_SEGV_MAPERR);
    expect(create(G512 / 2, 4096)).toBe(0);
    expect(a.touch(G512 / 2, true)).toBe(FAULT_DONE);
    validateMm(k, a.mm);
  });

  it('unlink while mapped keeps the region alive; the last munmap after the last close frees it all', () => {
    const { k, vfs, fds, fd, bootFree, region, attach, create } = world();
    expect(create(0, 2 << 20)).toBe(0);
    const a = attach(3 * G512);
    const b = attach(5 * G512);
    expect(a.touch(4096, true)).toBe(FAULT_DONE);
    const word = pteWord(k, a.mm, 3 * G512 + 4096, false);
    k.mem.i32[ptePfn(k.ops.lo(word), k.ops.hi(word)) * 1024] = 4242;
    expect(vfs.unlink(['sys', 'fs', 'mshare', 'r'], false)).toBe(0);
    expect(fds.close(fd)).toBe(0);
    // No name and no descriptor, but two mappings: the memory is still there for b.
    expect(b.touch(4096, false)).toBe(FAULT_DONE);
    const wb = pteWord(k, b.mm, 5 * G512 + 4096, false);
    expect(k.mem.i32[ptePfn(k.ops.lo(wb), k.ops.hi(wb)) * 1024]).toBe(4242);
    // A whole munmap in one process unlinks that process only: b still reads the data.
    expect(sysMunmap(k, a.mm, 3 * G512, G512, -1)).toBe(0);
    expect(k.mshare.sharedTables.size).toBe(1);
    expect(b.touch(4096, false)).toBe(FAULT_DONE);
    expect(k.mem.i32[ptePfn(k.ops.lo(wb), k.ops.hi(wb)) * 1024]).toBe(4242);
    expect(b.touch(8192, true)).toBe(FAULT_DONE);
    expect(sysMunmap(k, b.mm, 5 * G512, G512, -1)).toBe(0);
    // The last mapping went: the inode is evicted with the host mm, its pages and tables.
    expect(region.mappers.size).toBe(0);
    expect(k.mshare.sharedTables.size).toBe(0);
    for (const mm of [a.mm, b.mm]) {
      validateMm(k, mm);
      exitMmap(k, mm);
    }
    expect(k.pages.nrFree).toBe(bootFree);
  });

  it('PageTables counts the region tables once however many attach; no VmPTE includes them', () => {
    const { k, region, attach, create } = world();
    expect(create(0, 64 << 20)).toBe(0);
    const procs = Array.from({ length: 8 }, (_, i) => attach((2 + i) * G512));
    for (const p of procs) for (let off = 0; off < 64 << 20; off += 2 << 20) expect(p.touch(off, false)).toBe(FAULT_DONE);
    let tables = 0;
    for (let pfn = 0; pfn < k.pages.nrFrames; pfn++) if ((k.pages.flags[pfn] & PG_PGTABLE) !== 0) tables++;
    // The host: PML4, PDPT, PD and 32 PTE tables; each process: its PML4 only.
    expect(region.hostMm.ptePages).toBe(1 + 1 + 32);
    expect(procs.map((p) => p.mm.ptePages)).toEqual(Array(8).fill(0));
    expect(tables).toBe(1 + region.hostMm.ptePages + 8);
    // Every process's PML4 entry for its 512 GiB slot holds the host's PDPT, counted 8 times.
    const pdptOf = (pml4: number, slot: number) => ptePfn(k.ops.lo(entryWord(pml4, slot)), k.ops.hi(entryWord(pml4, slot)));
    const hostPdpt = pdptOf(region.hostMm.pml4, MSHARE_BASE / G512);
    expect(procs.map((p, i) => pdptOf(p.mm.pml4, 2 + i))).toEqual(Array(8).fill(hostPdpt));
    expect(k.mshare.sharedTables.get(hostPdpt)).toBe(8);
    for (const p of procs) validateMm(k, p.mm);
  });

  it('fork copies the region\'s VMA but not its link: the child links the same tables on its first fault', () => {
    const { k, region, attach, create } = world();
    expect(create(0, 2 << 20)).toBe(0);
    const a = attach(3 * G512);
    expect(a.touch(4096, true)).toBe(FAULT_DONE);
    const child = dupMmap(k, a.mm, -1) as Mm;
    expect(region.mappers.size).toBe(2);
    expect(k.ops.lo(entryWord(child.pml4, 3))).toBe(0);
    expect(child.ptePages).toBe(0);
    expect(handleMmFault(k, child, 3 * G512 + 4096, X86_PF_USER, -1)).toBe(FAULT_DONE);
    expect(k.ops.lo(entryWord(child.pml4, 3))).toBe(k.ops.lo(entryWord(a.mm.pml4, 3)));
    expect(k.mshare.sharedTables.size).toBe(1);
    expect([...k.mshare.sharedTables.values()]).toEqual([2]);
    validateMm(k, child);
    exitMmap(k, child);
    expect(region.mappers.size).toBe(1);
    expect([...k.mshare.sharedTables.values()]).toEqual([1]);
  });

  it('the owner exiting unmaps the region: the others fault with SIGSEGV', () => {
    const { region, attach, create } = world();
    expect(create(0, 4096)).toBe(0);
    const b = attach(4 * G512);
    expect(b.touch(0, true)).toBe(FAULT_DONE);
    region.ownerExit(-1);
    expect(b.touch(0, false)).toBe(FAULT_SEGV_MAPERR);
  });
});

describe('mshare flush policies', () => {
  it("'all' flushes every CPU on a change of the region; 'attached' only those of mapping processes", () => {
    const sent: Record<string, number> = {};
    for (const policy of ['all', 'attached'] as const) {
      const { k, region, create, attach } = regionWorld(8, policy);
      expect(create(0, 4096)).toBe(0);
      for (const cpu of [2, 5]) attach(3 * G512).cpus.add(cpu);
      expect(handleMmFault(k, region.hostMm, G512, X86_PF_USER | X86_PF_WRITE, -1)).toBe(FAULT_DONE);
      const before = k.events.mshareFlushCpus;
      expect(region.unmap(0, 4096, -1)).toBe(0);
      sent[policy] = k.events.mshareFlushCpus - before;
    }
    expect(sent).toEqual({ all: 8, attached: 2 });
  });
});

describe('mshare and the reverse map', () => {
  it('a region page is mapped once, by the host mm, however many processes touch it', () => {
    const { k, region, create, attach } = regionWorld();
    expect(create(0, 4096)).toBe(0);
    for (let i = 0; i < 3; i++) {
      const at = (2 + i) * G512;
      const mm = attach(at);
      for (let tries = 0; tries < 3; tries++) handleMmFault(k, mm, at, X86_PF_USER | X86_PF_WRITE, -1);
    }
    const w = pteWord(k, region.hostMm, G512, false);
    const pfn = ptePfn(k.ops.lo(w), k.ops.hi(w));
    expect(k.pages.mapcount[pfn]).toBe(1);
    const seen: number[] = [];
    rmapWalk(k, pfn, (mm, _w, va) => seen.push(mm === region.hostMm ? va : -1));
    expect(seen).toEqual([G512]);
    expect(folioReferenced(k, pfn).referenced).toBe(1);
  });
});

describe("the series' selftests (tools/testing/selftests/mshare), ported", () => {
  const SELFTESTS = fileURLToPath(new URL('../../guests/mshare-selftests.ts', import.meta.url));
  async function run(argv: string[]) {
    const t = await bootTest({ validate: true });
    const r = await t.m.run(SELFTESTS, argv);
    const text = t.out.get(r.pid) ?? '';
    expect(r.exitCode, text).toBe(0);
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('1..20');
    const results = new Map(lines.slice(1).map((l) => {
      const m = /^(ok|not ok) \d+ (\S+)(?: # (.*))?$/.exec(l);
      return [m?.[2], m === null ? l : `${m[1]}${m[3] === undefined ? '' : ` # ${m[3]}`}`] as const;
    }));
    await t.finish();
    return results;
  }
  const TESTS = ['ioctl', 'process_mmap_munmap', 'process_share', 'thp'];

  it('basic.c and memory.c: every variant passes with a 2 MiB pool; swap is skipped (no swap, no memory cgroups)', async () => {
    const results = await run([]);
    for (const v of ['anon_4k', 'anon_8k', 'hugetlb_2m', 'hugetlb_4m']) {
      for (const test of TESTS) expect(results.get(`mshare.${v}.${test}`), `${v}.${test}`).toBe('ok');
      expect(results.get(`mshare.${v}.swap`)).toBe('ok # SKIP ptlab has no swap device and no memory cgroups');
    }
  });

  it('without a hugetlb pool the hugetlb variants skip, as the C tests do', async () => {
    const results = await run(['nopool']);
    for (const test of TESTS) expect(results.get(`mshare.anon_4k.${test}`)).toBe('ok');
    for (const v of ['hugetlb_2m', 'hugetlb_4m']) {
      for (const test of TESTS) expect(results.get(`mshare.${v}.${test}`)).toBe('ok # SKIP no hugetlb pages for the object (ENOMEM)');
    }
  });
});
