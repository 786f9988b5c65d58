// A small VFS: one tree of inodes, tmpfs for every regular file (a page cache of frames,
// mm/filemap.ts AddressSpace), directories, and the character devices /dev/null and
// /dev/zero. /proc is a separate tree (proc/) that lookups hand over to.
//
// There are no symbolic links, so a path is resolved lexically ("." and ".." included) and
// every process's working directory is "/". Every process is root: permission bits are
// kept and shown but never refuse an access (CAP_DAC_OVERRIDE).

import { VbufDevice } from '../drivers/vbuf.ts';
import { AddressSpace, fileMmap, readCache, releaseIfUnused, shmemZeroSetup, truncate, writeCache } from '../mm/filemap.ts';
import { HugetlbMapping, hugetlbfsMmap } from '../mm/hugetlb.ts';
import type { Kmm } from '../mm/kmm.ts';
import { MSHARE_ALIGN, MshareRegion, regionMmap, regionUnmappedArea } from '../mm/mshare.ts';
import * as U from '../uapi.ts';
import { File, type FileOps } from './file.ts';

/** Device numbers of the tmpfs mounted at / (as /proc/PID/maps prints them). */
const TMPFS_DEV = '00:20';

export class Inode {
  readonly ino: number;
  readonly mode: number;
  nlink: number;
  /** Directory entries (directories only). */
  readonly children: Map<string, Inode> | null;
  /** The page cache (regular files only). */
  readonly mapping: AddressSpace | null;
  /** Character devices and special files: which one. */
  readonly device: 'null' | 'zero' | 'vbuf' | 'mshare_info' | null;
  /** Directories: the filesystem their new entries belong to. */
  fs: 'tmpfs' | 'msharefs' | 'hugetlbfs' = 'tmpfs';
  /** An msharefs region file: its region. */
  region: MshareRegion | null = null;
  /** A hugetlbfs file: its huge pages (the link holds one reference on them). */
  hugetlb: HugetlbMapping | null = null;
  /** A sysfs attribute: its text, and what a write does (the bytes taken, or -errno). */
  attr: { show(): string; store?(text: string): number } | null = null;
  /** Open file descriptions. */
  opens = 0;

  constructor(ino: number, mode: number, mapping: AddressSpace | null = null, device: 'null' | 'zero' | 'vbuf' | 'mshare_info' | null = null) {
    this.ino = mapping?.ino ?? ino;
    this.mode = mode;
    this.mapping = mapping;
    this.device = device;
    this.nlink = (mode & U.S_IFMT) === U.S_IFDIR ? 2 : 1;
    this.children = (mode & U.S_IFMT) === U.S_IFDIR ? new Map() : null;
  }

  get isDir(): boolean {
    return (this.mode & U.S_IFMT) === U.S_IFDIR;
  }

  get isReg(): boolean {
    return (this.mode & U.S_IFMT) === U.S_IFREG;
  }
}

/** A file description of an inode (regular, directory or device). */
export class InodeFile extends File {
  readonly inode: Inode;

  constructor(ops: FileOps, flags: number, inode: Inode) {
    super(ops, flags);
    this.inode = inode;
  }
}

/** Split a path into components, resolving "." and ".." lexically; relative paths start at base. */
export function pathParts(path: string, base = '/'): string[] | number {
  const parts: string[] = [];
  for (const c of `${path.startsWith('/') ? '' : base}/${path}`.split('/')) {
    if (c === '' || c === '.') continue;
    if (c.length > U.NAME_MAX) return -U.ENAMETOOLONG;
    if (c === '..') parts.pop();
    else parts.push(c);
  }
  return parts;
}

export class Vfs {
  readonly k: Kmm;
  readonly root: Inode;
  private readonly dirOps: FileOps;
  private readonly nullOps: FileOps;
  private readonly zeroOps: FileOps;
  private readonly regOps: FileOps;
  private readonly vbufOps: FileOps;
  private readonly mshareOps: FileOps;
  private readonly mshareInfoOps: FileOps;
  /** Every msharefs region alive (for owner exits). */
  readonly regions = new Set<MshareRegion>();
  /** The coherent-buffer device behind /dev/vbuf. */
  readonly vbuf: VbufDevice;

  constructor(k: Kmm) {
    this.k = k;
    this.root = this.newInode(U.S_IFDIR | 0o755);
    const release = (f: File): void => {
      const inode = (f as InodeFile).inode;
      inode.opens--;
      if (inode.mapping !== null) {
        inode.mapping.holders--;
        releaseIfUnused(k, inode.mapping);
      }
    };
    this.dirOps = { seekable: true, read: () => -U.EISDIR, release };
    this.nullOps = { seekable: true, read: () => new Uint8Array(0), write: (_f, data) => data.length, release };
    this.zeroOps = {
      seekable: true,
      read: (_f, len) => new Uint8Array(Math.min(len, 1 << 20)),
      write: (_f, data) => data.length,
      // MAP_SHARED of /dev/zero is shared anonymous memory; MAP_PRIVATE is anonymous.
      mmap: (_f, desc) => {
        if (desc.shared) shmemZeroSetup(k, desc);
        return 0;
      },
      release,
    };
    this.regOps = {
      seekable: true,
      read: (f, len, pos) => readCache(k, (f as InodeFile).inode.mapping!, len, pos),
      write: (f, data, pos) => writeCache(k, (f as InodeFile).inode.mapping!, data, pos),
      size: (f) => (f as InodeFile).inode.mapping!.size,
      mmap: (f, desc) => fileMmap((f as InodeFile).inode.mapping!, desc),
      release,
    };
    const dev = this.mkdirIn(this.root, 'dev', 0o755);
    this.mkdirIn(this.root, 'tmp', 0o1777);
    this.mkdirIn(this.root, 'proc', 0o555);
    const sys = this.mkdirIn(this.root, 'sys', 0o555);
    const mshare = this.mkdirIn(this.mkdirIn(sys, 'fs', 0o755), 'mshare', 0o777);
    mshare.fs = 'msharefs';
    mshare.children!.set('mshare_info', this.newInode(U.S_IFREG | 0o444, null, 'mshare_info'));
    // /sys/kernel/mm/transparent_hugepage: the THP policy and the huge zero page switch.
    const thp = this.mkdirIn(this.mkdirIn(this.mkdirIn(sys, 'kernel', 0o755), 'mm', 0o755), 'transparent_hugepage', 0o755);
    const attr = (dir: Inode, name: string, show: () => string, store?: (text: string) => number): void => {
      const inode = this.newInode(U.S_IFREG | (store === undefined ? 0o444 : 0o644));
      inode.attr = store === undefined ? { show } : { show, store };
      dir.children!.set(name, inode);
    };
    const POLICIES = ['always', 'madvise', 'never'] as const;
    attr(thp, 'enabled', () => `${POLICIES.map((p) => (p === k.thp.policy ? `[${p}]` : p)).join(' ')}\n`, (text) => {
      const p = POLICIES.find((x) => x === text.trim());
      if (p === undefined) return -U.EINVAL;
      k.thp.policy = p;
      return text.length;
    });
    attr(thp, 'use_zero_page', () => `${k.thp.useZeroPage ? 1 : 0}\n`, (text) => {
      const v = text.trim();
      if (v !== '0' && v !== '1') return -U.EINVAL;
      k.thp.useZeroPage = v === '1';
      return text.length;
    });
    attr(thp, 'hpage_pmd_size', () => '2097152\n');
    // /sys/kernel/mm/hugepages/hugepages-SIZE: the hugetlb pools.
    const pools = this.mkdirIn(sys.children!.get('kernel')!.children!.get('mm')!, 'hugepages', 0o755);
    for (const h of k.hugetlb.hstates) {
      const dir = this.mkdirIn(pools, h.name, 0o755);
      attr(dir, 'nr_hugepages', () => `${h.persistent}\n`, (text) => {
        const n = Number(text.trim());
        if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n)) return -U.EINVAL;
        h.setNr(k, n);
        return text.length;
      });
      attr(dir, 'free_hugepages', () => `${h.free.length}\n`);
      attr(dir, 'resv_hugepages', () => `${h.resv}\n`);
      attr(dir, 'surplus_hugepages', () => `${h.surplus}\n`);
    }
    dev.children!.set('null', this.newInode(U.S_IFCHR | 0o666, null, 'null'));
    this.mkdirIn(dev, 'hugepages', 0o1777).fs = 'hugetlbfs'; // as distributions mount it
    dev.children!.set('zero', this.newInode(U.S_IFCHR | 0o666, null, 'zero'));
    dev.children!.set('vbuf', this.newInode(U.S_IFCHR | 0o666, null, 'vbuf'));
    this.vbuf = new VbufDevice(k);
    this.vbufOps = { ...this.vbuf.ops, release: (f) => (this.vbuf.ops.release!(f), release(f)) };
    const info = new TextEncoder().encode(`${MSHARE_ALIGN}\n`);
    this.mshareInfoOps = { seekable: true, read: (_f, len, pos) => info.subarray(Math.min(pos, info.length), Math.min(pos + len, info.length)), release };
    this.mshareOps = {
      seekable: true,
      // An msharefs file is a control file: no read or write; mmap maps the region.
      getUnmappedArea: (f, mm, addr, len, flags) => regionUnmappedArea((f as InodeFile).inode.region!, mm, addr, len, flags),
      mmap: (f, desc) => regionMmap((f as InodeFile).inode.region!, desc),
      ioctl: (f, cmd, arg, io) => (f as InodeFile).inode.region!.ioctl(cmd, arg, io, (fd) => {
        const g = io.files?.get(fd);
        return g instanceof InodeFile && g.inode.region !== null;
      }),
      release: (f) => {
        release(f);
        this.evictIfUnused((f as InodeFile).inode);
      },
    };
  }

  /** A new inode with a fresh inode number (or its page cache's). */
  private newInode(mode: number, mapping: AddressSpace | null = null, device: 'null' | 'zero' | 'vbuf' | 'mshare_info' | null = null): Inode {
    return new Inode(mapping?.ino ?? this.k.nextIno(), mode, mapping, device);
  }

  private mkdirIn(dir: Inode, name: string, mode: number): Inode {
    const d = this.newInode(U.S_IFDIR | mode);
    dir.children!.set(name, d);
    dir.nlink++;
    return d;
  }

  /** The directory holding the last component, and that component (which may not exist). */
  private parentOf(parts: string[]): { dir: Inode; name: string } | number {
    let dir = this.root;
    for (const c of parts.slice(0, -1)) {
      const next = dir.children!.get(c);
      if (next === undefined) return -U.ENOENT;
      if (!next.isDir) return -U.ENOTDIR;
      dir = next;
    }
    return { dir, name: parts[parts.length - 1] ?? '' };
  }

  lookup(parts: string[]): Inode | number {
    if (parts.length === 0) return this.root;
    const p = this.parentOf(parts);
    if (typeof p === 'number') return p;
    return p.dir.children!.get(p.name) ?? -U.ENOENT;
  }

  /** open(2) on the VFS (not /proc): O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY. */
  open(parts: string[], flags: number, mode: number, cpu: number, pid = 0): File | number {
    let inode: Inode;
    if (parts.length === 0) {
      inode = this.root;
    } else {
      const p = this.parentOf(parts);
      if (typeof p === 'number') return p;
      const found = p.dir.children!.get(p.name);
      if (found === undefined) {
        if ((flags & U.O_CREAT) === 0) return -U.ENOENT;
        if (p.dir.fs === 'msharefs') {
          // A new mshare region, owned by the creator.
          const region = MshareRegion.create(this.k, pid);
          if (typeof region === 'number') return region;
          inode = this.newInode(U.S_IFREG | (mode & 0o7777));
          inode.region = region;
          region.path = `/${parts.join('/')}`;
          region.ino = inode.ino;
          const created = inode;
          region.onUnused = () => this.evictIfUnused(created);
          this.regions.add(region);
        } else if (p.dir.fs === 'hugetlbfs') {
          // A file of 2 MiB pages (the mount's default page size).
          inode = this.newInode(U.S_IFREG | (mode & 0o7777));
          const m = new HugetlbMapping(this.k.hugetlb.hstates[0], true);
          m.size = 0;
          m.users = 1; // the link
          m.name = `/${parts.join('/')}`;
          inode.hugetlb = m;
        } else {
          const mapping = new AddressSpace(this.k.nextIno(), 0, `/${parts.join('/')}`, TMPFS_DEV);
          inode = this.newInode(U.S_IFREG | (mode & 0o7777), mapping);
          mapping.holders++; // the link
        }
        p.dir.children!.set(p.name, inode);
      } else {
        if ((flags & (U.O_CREAT | U.O_EXCL)) === (U.O_CREAT | U.O_EXCL)) return -U.EEXIST;
        inode = found;
      }
    }
    const acc = flags & U.O_ACCMODE;
    if (inode.isDir && (acc !== U.O_RDONLY || (flags & U.O_CREAT) !== 0)) return -U.EISDIR;
    if (!inode.isDir && (flags & U.O_DIRECTORY) !== 0) return -U.ENOTDIR;
    // O_TRUNC on a file without a page cache (a sysfs attribute, mshare_info) is ignored.
    if (inode.isReg && inode.mapping !== null && (flags & U.O_TRUNC) !== 0 && acc !== U.O_RDONLY) truncate(this.k, inode.mapping, 0, cpu);
    return this.openInode(inode, flags);
  }

  /** A new open file description of inode. */
  openInode(inode: Inode, flags: number): File {
    const ops = inode.attr !== null ? this.attrOps(inode) : inode.hugetlb !== null ? this.hugetlbOps(inode) : inode.isDir ? this.dirOps : inode.device === 'null' ? this.nullOps : inode.device === 'zero' ? this.zeroOps
      : inode.device === 'vbuf' ? this.vbufOps : inode.device === 'mshare_info' ? this.mshareInfoOps
        : inode.region !== null ? this.mshareOps : this.regOps;
    const f = new InodeFile(ops, flags, inode);
    inode.opens++;
    if (inode.mapping !== null) inode.mapping.holders++;
    return f;
  }

  /** A hugetlbfs file's open file: mmap maps its huge pages; no read or write here. */
  private hugetlbOps(inode: Inode): FileOps {
    const m = inode.hugetlb!;
    m.users++;
    return {
      seekable: true,
      size: () => m.size,
      hugetlb: () => m,
      hugePageSize: () => m.h.size,
      mmap: (_f, desc) => hugetlbfsMmap(m, desc),
      release: () => {
        inode.opens--;
        m.release(this.k);
      },
    };
  }

  /** A sysfs attribute's file: reads show its text (as of the read), writes store. */
  private attrOps(inode: Inode): FileOps {
    const attr = inode.attr!;
    return {
      seekable: true,
      read: (_f, len, pos) => {
        const text = new TextEncoder().encode(attr.show());
        return text.subarray(Math.min(pos, text.length), Math.min(pos + len, text.length));
      },
      write: (_f, data) => (attr.store === undefined ? -U.EACCES : attr.store(new TextDecoder().decode(data))),
      release: () => { inode.opens--; },
    };
  }

  /** An msharefs region whose inode has no link and no open file goes (inode eviction). */
  evictIfUnused(inode: Inode): void {
    if (inode.region === null || inode.nlink > 0 || inode.opens > 0 || inode.region.mappers.size > 0 || !this.regions.has(inode.region)) return;
    this.regions.delete(inode.region);
    inode.region.destroy();
  }

  /** A hugetlbfs file with no name (memfd_create with MFD_HUGETLB). */
  createHugetlbUnlinked(m: HugetlbMapping): Inode {
    const inode = this.newInode(U.S_IFREG | 0o777);
    inode.nlink = 0;
    inode.hugetlb = m;
    return inode;
  }

  /** A tmpfs file with no name (memfd_create). */
  createUnlinked(name: string): Inode {
    const mapping = new AddressSpace(this.k.nextIno(), 0, `/${name} (deleted)`, '00:01');
    const inode = this.newInode(U.S_IFREG | 0o777, mapping);
    inode.nlink = 0;
    return inode;
  }

  mkdir(parts: string[], mode: number): number {
    if (parts.length === 0) return -U.EEXIST;
    const p = this.parentOf(parts);
    if (typeof p === 'number') return p;
    if (p.dir.children!.has(p.name)) return -U.EEXIST;
    if (parts[0] === 'proc') return -U.EACCES;
    this.mkdirIn(p.dir, p.name, mode & 0o7777).fs = p.dir.fs;
    return 0;
  }

  /** unlink(2), or rmdir(2) with `dir`. */
  unlink(parts: string[], dir: boolean): number {
    if (parts.length === 0) return dir ? -U.EBUSY : -U.EISDIR;
    const p = this.parentOf(parts);
    if (typeof p === 'number') return p;
    const inode = p.dir.children!.get(p.name);
    if (inode === undefined) return -U.ENOENT;
    if (parts.length === 1 && p.name === 'proc') return -U.EBUSY; // a mount point
    if (dir) {
      if (!inode.isDir) return -U.ENOTDIR;
      if (inode.children!.size > 0) return -U.ENOTEMPTY;
      p.dir.nlink--;
    } else if (inode.isDir) {
      return -U.EISDIR;
    }
    if (inode.device === 'mshare_info' || inode.attr !== null) return -U.EPERM;
    p.dir.children!.delete(p.name);
    inode.nlink = 0;
    if (inode.hugetlb !== null) {
      inode.hugetlb.name += ' (deleted)';
      inode.hugetlb.release(this.k);
    }
    if (inode.region !== null) inode.region.path += ' (deleted)';
    this.evictIfUnused(inode);
    if (inode.mapping !== null) {
      inode.mapping.name += ' (deleted)';
      inode.mapping.holders--;
      releaseIfUnused(this.k, inode.mapping);
    }
    return 0;
  }
}
