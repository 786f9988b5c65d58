// The fuzzer's bookkeeping guests. snapshot() records, at boot, the machine-wide state a
// fuzz call can change and that outlives its process: the /proc/sys/vm and sysfs knobs and
// the hugetlb pools, and the entries of the directories where files can be made (tmpfs,
// hugetlbfs, msharefs). cleanup() puts it back after the run (removing what the fuzz
// created, whose pages would otherwise count as leaked frames), so that the leak check
// compares like with like.

import {
  close, getdents64, open, O_DIRECTORY, O_RDONLY, readFile, rmdir, unlink, writeFile, writeString,
} from '../../userland/index.ts';

export const KNOBS = [
  '/proc/sys/vm/min_free_kbytes', '/proc/sys/vm/watermark_scale_factor', '/proc/sys/vm/swappiness', '/proc/sys/vm/page-cluster',
  '/proc/sys/vm/memfd_noexec', '/sys/kernel/mm/transparent_hugepage/enabled', '/sys/kernel/mm/transparent_hugepage/use_zero_page',
  '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages', '/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages',
];
const DIRS = ['/', '/tmp', '/dev', '/dev/hugepages', '/sys/fs/mshare'];

export interface Snapshot {
  knobs: Record<string, string>;
  dirs: Record<string, string[]>;
}

function list(dir: string): { name: string; type: number }[] {
  let fd: number;
  try {
    fd = open(dir, O_RDONLY | O_DIRECTORY);
  } catch {
    return [];
  }
  const out: { name: string; type: number }[] = [];
  try {
    for (let batch = getdents64(fd); batch.length > 0; batch = getdents64(fd)) {
      for (const e of batch) if (e.name !== '.' && e.name !== '..') out.push({ name: e.name, type: e.type });
    }
  } finally {
    close(fd);
  }
  return out;
}

/** A knob's value as written back ("always [madvise] never" is written "madvise"). */
function knobValue(text: string): string {
  const chosen = /\[(\w+)\]/.exec(text);
  return chosen !== null ? chosen[1] : text.trim();
}

export function snapshot(): number {
  const s: Snapshot = { knobs: {}, dirs: {} };
  for (const k of KNOBS) s.knobs[k] = knobValue(readFile(k));
  for (const d of DIRS) s.dirs[d] = list(d).map((e) => e.name);
  writeString(1, `\x01SNAP ${JSON.stringify(s)}\n`);
  return 0;
}

function removeTree(path: string, type: number): void {
  if (type === 4 /* DT_DIR */) {
    for (const e of list(path)) removeTree(`${path}/${e.name}`, e.type);
    rmdir(path);
  } else {
    unlink(path);
  }
}

/** Remove what the fuzz made and restore the knobs; 0, or 1 with the failures on stderr. */
export function cleanup(s: Snapshot): number {
  const failed: string[] = [];
  const attempt = (what: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      failed.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  for (const d of DIRS) {
    for (const e of list(d)) {
      const path = `${d === '/' ? '' : d}/${e.name}`;
      if (!s.dirs[d].includes(e.name)) attempt(`remove ${path}`, () => removeTree(path, e.type));
    }
  }
  for (const [k, v] of Object.entries(s.knobs)) attempt(`restore ${k}`, () => writeFile(k, v));
  if (failed.length > 0) writeString(2, `cleanup: ${failed.join('; ')}\n`);
  return failed.length === 0 ? 0 : 1;
}
