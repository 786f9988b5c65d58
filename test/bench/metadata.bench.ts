// Kernel metadata per 4 KiB frame (DESIGN.md section 8: <= 24 bytes, anonymous and
// page-cache frames alike), for the table printed at the end (report.ts): the page
// allocator's per-frame arrays, plus the growth of the JS heap (after a full GC) when
// 131,072 frames (512 MiB) are faulted in, divided by the frames: private anonymous memory, and a
// shared mapping of a tmpfs file (page cache). Kernel code driven directly, without threads.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { bench, describe } from 'vitest';
import { ControlBlock, PhysMem, X86_PF_USER, X86_PF_WRITE } from '../../machine/index.ts';
import { handleMmFault } from '../../kernel/mm/fault.ts';
import { FdTable } from '../../kernel/fs/file.ts';
import { sysMmap } from '../../kernel/mm/mmap.ts';
import { sysMunmap } from '../../kernel/mm/munmap.ts';
import * as U from '../../kernel/uapi.ts';
import { type InodeFile, Vfs } from '../../kernel/fs/vfs.ts';
import { newMm } from '../harness/kernel.ts';
import { Kmm } from '../../kernel/mm/kmm.ts';
import { truncate } from '../../kernel/mm/filemap.ts';
import { firstCallOnly, ONCE, recordRow } from './report.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const PAGES = 131_072;
const BASE = 0x4000_0000;
const ROUNDS = 3;

/** JS heap bytes after a full collection. */
function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Metadata bytes per frame when PAGES frames are faulted into a fresh mapping of kind. */
function perFrame(kind: 'anon' | 'file'): number {
  const k = new Kmm(PhysMem.create((PAGES * 4096) + (64 << 20)), ControlBlock.create(1));
  const mm = newMm(k);
  const fds = new FdTable();
  let fd = -1;
  if (kind === 'file') {
    const file = new Vfs(k).open(['tmp', 'f'], U.O_CREAT | U.O_RDWR, 0o600, -1) as InodeFile;
    truncate(k, file.inode.mapping!, PAGES * 4096, -1);
    fd = fds.install(file, false, 10);
  }
  const flags = kind === 'file' ? U.MAP_SHARED | U.MAP_FIXED : U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED;
  if (sysMmap(k, mm, BASE, PAGES * 4096, U.PROT_READ | U.PROT_WRITE, flags, fd, 0, -1, fds) !== BASE) throw new Error('mmap');
  handleMmFault(k, mm, BASE, X86_PF_USER | X86_PF_WRITE, -1); // the page tables exist
  const before = heapUsed();
  for (let i = 1; i < PAGES; i++) handleMmFault(k, mm, BASE + i * 4096, X86_PF_USER | X86_PF_WRITE, -1);
  const grown = heapUsed() - before;
  const bytes = k.pages.metadataBytesPerFrame + grown / (PAGES - 1);
  sysMunmap(k, mm, BASE, PAGES * 4096, -1);
  return bytes;
}

describe('kernel metadata per frame', () => {
  bench(`allocator arrays + heap growth over ${PAGES} faults, anonymous and page cache`, firstCallOnly(async () => {
    for (const [order, kind, what] of [[70, 'anon', 'anonymous'], [71, 'file', 'page cache (tmpfs, MAP_SHARED)']] as const) {
      const measured = Array.from({ length: ROUNDS }, () => perFrame(kind));
      const arrays = new Kmm(PhysMem.create(16 << 20), ControlBlock.create(1)).pages.metadataBytesPerFrame;
      recordRow({ order, what: `kernel metadata per 4 KiB frame, ${what}: allocator arrays ${arrays} B + JS heap growth`, refName: '', unit: 'bytes', measured, reference: [], target: 24 });
    }
  }), ONCE);
});
