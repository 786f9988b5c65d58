// /proc text files: formats (checked against lines the Linux 6.18 host prints), the numbers
// behind them, and the file syscalls a guest reads them with.
import { describe, expect, it } from 'vitest';
import { FAULT_DONE, handleMmFault } from '../../../kernel/mm/fault.ts';
import { X86_PF_USER, X86_PF_WRITE } from '../../../machine/index.ts';

import { FdTable } from '../../../kernel/fs/file.ts';
import { procStatus, type ProcRoot, type ProcTask } from '../../../kernel/fs/proc/base.ts';
import { OomState, oomTotalPages } from '../../../kernel/mm/oom_kill.ts';
import { procMeminfo } from '../../../kernel/fs/proc/meminfo.ts';
import { procMaps, procSmaps, procSmapsRollup } from '../../../kernel/fs/proc/task_mmu.ts';
import { sysMadvise } from '../../../kernel/mm/madvise.ts';
import { sysMlock } from '../../../kernel/mm/mlock.ts';
import { VM_LOCKED } from '../../../kernel/mm/mm_types.ts';
import { sysBrk, sysMmap } from '../../../kernel/mm/mmap.ts';
import { sysMremap } from '../../../kernel/mm/mremap.ts';
import { sysMseal } from '../../../kernel/mm/mseal.ts';
import { sysMunmap } from '../../../kernel/mm/munmap.ts';
import * as U from '../../../kernel/uapi.ts';
import { memoryWorld, newMm } from '../../harness/kernel.ts';
import { bootTest } from '../../harness/machine.ts';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const P = 4096;

function world() {
  const k = memoryWorld(32 << 20, 1).k;
  const mm = newMm(k);
  const task: ProcTask = {
    pid: 7, ppid: 1, path: '/x/prog.ts', comm: 'prog', mm, threads: new Map([[7, null]]), state: 'live', fds: new FdTable(),
    caps: { effective: 0x1ffffffffffn, permitted: 0x1ffffffffffn, inheritable: 0n }, oomScoreAdj: 0, oomScoreAdjMin: 0, vforkDone: null,
  };
  const root: ProcRoot = {
    k, taskByPid: (pid) => (pid === 7 ? task : undefined), liveTasks: () => [task],
    oomState: new OomState(), oomTotalPages: () => oomTotalPages(k, 0), printk: () => undefined,
  };
  const touch = (va: number, write: boolean) => expect(handleMmFault(k, mm, va, X86_PF_USER | (write ? X86_PF_WRITE : 0), -1)).toBe(FAULT_DONE);
  return { k, mm, task, root, touch };
}

/** The smaps record of the VMA starting at va, as name -> value (kB) plus VmFlags. */
function smapsOf(text: string, va: number): Record<string, string> {
  const records = text.split(/\n(?=[0-9a-f]+-)/);
  const rec = records.find((r) => r.startsWith(va.toString(16)));
  if (rec === undefined) throw new Error(`no smaps record at ${va.toString(16)}`);
  const out: Record<string, string> = {};
  for (const line of rec.split('\n').slice(1)) {
    const m = /^(\w+):\s*(.*?)(?: kB)?$/.exec(line);
    if (m !== null) out[m[1]] = m[2];
  }
  return out;
}

const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1]);

describe('/proc/PID/maps', () => {
  it('prints Linux lines: trailing space without a name, names at column 73, shmem offsets and inodes', () => {
    const { k, mm } = world();
    const a = sysMmap(k, mm, 0x7f00_0000_0000, 2 * P, RW, ANON | U.MAP_FIXED, -1, 0, -1);
    const s = sysMmap(k, mm, 0x7f00_0001_0000, 4 * P, U.PROT_READ, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0, -1);
    expect(sysMunmap(k, mm, s, P, -1)).toBe(0); // the rest starts at pgoff 1
    const lines = procMaps(mm).split('\n');
    // Copied from the host's /proc/self/maps formats (6.18), addresses substituted.
    expect(lines[0]).toBe('7f0000000000-7f0000002000 rw-p 00000000 00:00 0 ');
    expect(lines[1]).toMatch(/^7f0000011000-7f0000014000 r--s 00001000 00:01 \d+ +\/dev\/zero \(deleted\)$/);
    expect(lines[1].indexOf('/dev/zero')).toBe(73);
    expect(a).toBe(0x7f00_0000_0000);
  });

  it('names the VMA that overlaps [start_brk, brk) [heap], and none while the heap is empty', () => {
    const { k, mm } = world();
    expect(procMaps(mm)).toBe('');
    sysBrk(k, mm, mm.startBrk + 3 * P + 5, -1);
    expect(procMaps(mm)).toMatch(/^555555600000-555555604000 rw-p 00000000 00:00 0 {26}\[heap\]\n$/);
  });
});

describe('/proc/PID/smaps and smaps_rollup', () => {
  it('counts written pages, not read-faulted zero-page mappings; Pss, dirty, referenced, anonymous', () => {
    const { k, mm, touch } = world();
    const a = sysMmap(k, mm, 0, 8 * P, RW, ANON, -1, 0, -1);
    for (let i = 0; i < 3; i++) touch(a + i * P, true);
    for (let i = 3; i < 8; i++) touch(a + i * P, false);
    const r = smapsOf(procSmaps(k, mm), a);
    expect([r.Size, r.Rss, r.Pss, r.Pss_Dirty, r.Private_Dirty, r.Private_Clean, r.Anonymous, r.Referenced]).toEqual(['32', '12', '12', '12', '12', '0', '12', '12']);
    expect(r.KernelPageSize).toBe('4');
    expect(r.THPeligible).toBe('0');
    expect(r.VmFlags).toBe('rd wr mr mw me ac sd '); // a new mapping is soft-dirty
  });

  it('splits shmem pages mapped twice into Shared and halves their Pss; a page seen dirty stays dirty', () => {
    const { k, mm, touch } = world();
    const s = sysMmap(k, mm, 0, 2 * P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0, -1);
    touch(s, true);
    touch(s + P, false);
    // A second mapping of the same object: mremap with old_len 0 duplicates a shared mapping.
    const d = sysMremap(k, mm, s, 0, 2 * P, U.MREMAP_MAYMOVE, 0, -1);
    expect(d).toBeGreaterThan(0);
    touch(d, false);
    const r = smapsOf(procSmaps(k, mm), s);
    // The read fault in the second mapping maps both cached pages (fault-around): page 0
    // is mapped twice and dirty through the first mapping, page 1 twice and clean.
    expect([r.Rss, r.Pss, r.Shared_Dirty, r.Shared_Clean, r.Anonymous]).toEqual(['8', '4', '4', '4', '0']);
    expect(r.VmFlags).toBe('rd wr sh mr mw me ms sd ');
    // Unmapping the writer leaves the page dirty (folio dirty), so the other mapping shows it.
    expect(sysMunmap(k, mm, s, 2 * P, -1)).toBe(0);
    const r2 = smapsOf(procSmaps(k, mm), d);
    expect([r2.Rss, r2.Pss, r2.Private_Dirty, r2.Private_Clean]).toEqual(['8', '8', '4', '4']);
  });

  it('Locked follows VM_LOCKED; mseal shows sl, MADV_FREE clears dirty and referenced', () => {
    const { k, mm, touch } = world();
    const a = sysMmap(k, mm, 0, 4 * P, RW, ANON, -1, 0, -1);
    expect(sysMlock(k, mm, a, 2 * P, VM_LOCKED, -1)).toBe(0);
    expect(sysMseal(k, mm, a, 2 * P, 0)).toBe(0);
    const r = smapsOf(procSmaps(k, mm), a);
    expect([r.Size, r.Rss, r.Locked]).toEqual(['8', '8', '8']);
    expect(r.VmFlags).toBe('rd wr mr mw me lo ac sd sl ');
    touch(a + 2 * P, true);
    expect(sysMadvise(k, mm, a + 2 * P, 2 * P, U.MADV_FREE, -1)).toBe(0);
    const f = smapsOf(procSmaps(k, mm), a + 2 * P);
    expect([f.Rss, f.Private_Dirty, f.Private_Clean, f.Referenced]).toEqual(['4', '0', '4', '0']);
  });

  it('rolls up every VMA under a [rollup] header with Pss_Anon and Pss_Shmem', () => {
    const { k, mm, touch } = world();
    const a = sysMmap(k, mm, 0, 2 * P, RW, ANON, -1, 0, -1);
    const s = sysMmap(k, mm, 0, P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0, -1);
    touch(a, true);
    touch(s, true);
    const text = procSmapsRollup(k, mm);
    const first = Math.min(a, s);
    const last = Math.max(a + 2 * P, s + P);
    expect(text.split('\n')[0]).toBe(`${first.toString(16)}-${last.toString(16)} ---p 00000000 00:00 0                          [rollup]`);
    expect([field(text, 'Rss'), field(text, 'Pss_Anon'), field(text, 'Pss_Shmem'), field(text, 'Anonymous')]).toEqual([8, 4, 4, 4]);
    expect(text).not.toMatch(/VmFlags|THPeligible/);
  });
});

describe('/proc/PID/status and /proc/meminfo', () => {
  it('VmSize, VmPeak after an unmap, VmRSS by kind, VmPTE, VmLck, VmData', () => {
    const { k, mm, task, touch } = world();
    const a = sysMmap(k, mm, 0, 100 * P, RW, ANON, -1, 0, -1);
    for (let i = 0; i < 10; i++) touch(a + i * P, true);
    const s = sysMmap(k, mm, 0, 4 * P, U.PROT_READ, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_LOCKED, -1, 0, -1);
    expect(s).toBeGreaterThan(0);
    let st = procStatus(task);
    expect([field(st, 'VmSize'), field(st, 'VmRSS'), field(st, 'RssAnon'), field(st, 'RssShmem'), field(st, 'VmLck'), field(st, 'VmData')]).toEqual([416, 56, 40, 16, 16, 400]);
    expect(field(st, 'VmPTE')).toBe(mm.ptePages * 4);
    expect(st).toMatch(/^VmPTE:\t {6}12 kB$/m);
    expect(sysMunmap(k, mm, a, 100 * P, -1)).toBe(0);
    st = procStatus(task);
    expect([field(st, 'VmPeak'), field(st, 'VmSize'), field(st, 'VmHWM'), field(st, 'VmRSS')]).toEqual([416, 16, 56, 16]);
    expect(st).toMatch(/^Name:\tprog\n/);
  });

  it('meminfo counts anonymous, shmem and page-table pages machine-wide', () => {
    const { k, mm, root, touch } = world();
    const before = procMeminfo(root);
    const a = sysMmap(k, mm, 0, 600 * P, RW, ANON, -1, 0, -1);
    for (let i = 0; i < 600; i++) touch(a + i * P, i % 2 === 0);
    const s = sysMmap(k, mm, 0, 3 * P, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0, -1);
    touch(s, false);
    const after = procMeminfo(root);
    const d = (name: string) => field(after, name) - field(before, name);
    expect(d('AnonPages')).toBe(300 * 4);
    expect(d('Shmem')).toBe(4);
    expect(d('PageTables')).toBe(mm.ptePages * 4);
    expect(d('MemFree')).toBe(-(300 + 1 + mm.ptePages) * 4);
    expect(after).toMatch(/^MemTotal: +\d+ kB\nMemFree:/);
    expect(after).toMatch(/^HugePages_Total: {7}0\n/m);
  });
});

describe('guests read /proc with open and read', () => {
  it('open, read in pieces, pread, lseek, close, and the errors', async () => {
    const t = await bootTest();
    const r = await t.run(['proc-files']);
    expect(r.exitCode, r.text).toBe(0);
    const lines = Object.fromEntries(r.text.trim().split('\n').map((l) => l.split(': ')));
    expect(lines.pieces).toBe('same');
    expect(lines.pread).toBe('same');
    expect(lines.heap).toBe('[heap]');
    expect(lines.status).toMatch(/^VmRSS:\t +\d+ kB$/);
    expect(lines.errors).toBe([
      'ENOENT', 'ENOENT', 'EISDIR', 'EISDIR', 'ENOTDIR', 'EACCES', 'EEXIST', 'EBADF', 'EINVAL', 'EBADF', 'ESPIPE', 'EFAULT', 'ENAMETOOLONG',
    ].join(' '));
    expect(lines.fds).toBe('3 4 5 3'); // the lowest free descriptor
    expect(lines.other).toMatch(/^rw-p/);
    await t.finish();
  });
});

describe('/proc/PID/pagemap and clear_refs from a guest', () => {
  it('EINVAL for reads not in whole entries, PFNs hidden without CAP_SYS_ADMIN, clear_refs 5 and a bad value', async () => {
    const t = await bootTest();
    const r = await t.run(['pagemap']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    expect(r.text.trim().split('\n')).toEqual([
      'unaligned EINVAL odd EINVAL',
      'root true 103', // present, exclusive, soft-dirty (a new mapping); a PFN
      'unprivileged 0 103',
      'hwm dropped true',
      'bad value EINVAL',
    ]);
    await t.finish();
  });
});

describe('soft-dirty (T13)', () => {
  it('clear_refs 4 clears it; a write fault sets it again; new mappings have it; a shared mapping is write-notified', async () => {
    const t = await bootTest();
    const r = await t.run(['soft-dirty']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    expect(r.text.trim().split('\n')).toEqual([
      'new 1111', // a new VMA is VM_SOFTDIRTY: every page, mapped or not
      'cleared 0000',
      'written 1000', // the write faulted on the write-protected PTE, which set D and soft-dirty
      'new mapping 11',
      // Fault-around mapped the neighbours read-only (write-notified under tracking), so the
      // write to page 2 faulted and set its soft-dirty bit.
      'shared 0010 dirty kB 4',
    ]);
    await t.finish();
  });
});

