// A small VFS: one tree of inodes, tmpfs for every regular file (a page cache of frames,
// mm/filemap.ts AddressSpace), directories, the character devices /dev/null, /dev/zero
// and /dev/vbuf, and the mounts whose files are special: msharefs at /sys/fs/mshare
// (msharefs.ts), hugetlbfs at /dev/hugepages (hugetlbfs.ts), sysfs attributes (sysfs.ts).
// /proc is a separate tree (proc/) that lookups hand over to.
//
// Each kind of inode opens with its own FileOps (f_op); ftruncate, fallocate and fstat
// reach the file's truncate, fallocate and getattr operations.
//
// The VFS has no symbolic links (the only ones are /proc's, which namei.ts follows), so a
// path is resolved lexically ("." and ".." included) and every process's working directory
// is "/". Each inode remembers where it is linked (Inode.path, its d_path). Every process is root: permission bits are
// kept and shown but never refuse an access (CAP_DAC_OVERRIDE).

import { VbufDevice } from '../drivers/index.ts';
import {
  AddressSpace, checkSealsFallocate, checkSealsResize, fallocatePages, fileMmap, finish, type MaybeSliced, punchHoleSliced, readCache,
  releaseIfUnused, shmemZeroSetup, truncateSliced, writeCache, type HugetlbMapping, type Kmm, type MappedFile, type MshareRegion,
} from '../mm/index.ts';
import * as U from '../uapi.ts';
import { type Dirent, type DirList, File, type FileOps, type Kstat } from './file.ts';
import { hugetlbfsCreate, hugetlbfsFileOps } from './hugetlbfs.ts';
import { msharefsCreate, msharefsFileOps, mshareInfoOps } from './msharefs.ts';
import { PipeFs } from './pipe.ts';
import { populateSysfs, sysfsAttrOps } from './sysfs.ts';

/** Device numbers of the tmpfs mounted at / (as /proc/PID/maps prints them). */
const TMPFS_DEV = '00:20';

export type Device = 'null' | 'zero' | 'vbuf' | 'mshare_info';

export class Inode {
  readonly ino: number;
  readonly mode: number;
  nlink: number;
  /** Directory entries (directories only). */
  readonly children: Map<string, Inode> | null;
  /** The page cache (tmpfs regular files only). */
  readonly mapping: AddressSpace | null;
  /** Character devices and special files: which one. */
  readonly device: Device | null;
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
  /**
   * Where it is linked, as d_path prints it ("/tmp/x"; "/" for the root), with " (deleted)"
   * once unlinked: what /proc/PID/fd/N links to. Set by Vfs.linkIn.
   */
  path = '/';

  constructor(ino: number, mode: number, mapping: AddressSpace | null = null, device: Device | null = null) {
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

  /** fstat's view: type and mode, inode number, links; size and 512-byte blocks as given. */
  stat(size = 0, blocks = 0): Kstat {
    return { mode: this.mode, ino: this.ino, nlink: this.nlink, size, blocks };
  }
}

/** A file description of an inode (regular, directory or device). */
export class InodeFile extends File {
  readonly inode: Inode;
  /** What the VMAs mapped through this description name (made at the first mmap). */
  private mapped: MappedFile | null = null;

  constructor(ops: FileOps, flags: number, inode: Inode) {
    super(ops, flags);
    this.inode = inode;
  }

  /**
   * The vm_file of a VMA mapped through this open file: one object per description, since
   * Linux's VMA holds the struct file (is_mergeable_vma compares it), naming the inode's
   * page cache (its name follows an unlink) or the device.
   */
  mappedFile(): MappedFile {
    if (this.mapped === null) {
      const m = this.inode.mapping;
      this.mapped = m !== null
        ? { get name() { return m.name; }, dev: m.dev, ino: m.ino }
        : { name: `/dev/${this.inode.device ?? ''}`, dev: TMPFS_DEV, ino: this.inode.ino };
    }
    return this.mapped;
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
  /** pipefs: pipe inode numbers, pipe pages accounted, the pipe sysctls. */
  readonly pipefs = new PipeFs();

  /** `lkdtm`: with /sys/kernel/debug/provoke-crash (KernelOptions.lkdtm). */
  constructor(k: Kmm, lkdtm = false) {
    this.k = k;
    this.root = this.newInode(U.S_IFDIR | 0o755);
    const release = (f: File): void => this.released((f as InodeFile).inode);
    const mappingOf = (f: File) => (f as InodeFile).inode.mapping!;
    const inodeStat = (f: File) => (f as InodeFile).inode.stat();
    this.dirOps = {
      seekable: true, read: () => -U.EISDIR, fallocate: () => -U.EISDIR, getattr: inodeStat, release,
      iterate: (f) => this.dirList((f as InodeFile).inode),
    };
    this.nullOps = { seekable: true, read: () => new Uint8Array(0), write: (_f, data) => data.length, getattr: inodeStat, release };
    this.zeroOps = {
      seekable: true,
      read: (_f, len) => new Uint8Array(Math.min(len, 1 << 20)),
      write: (_f, data) => data.length,
      // MAP_SHARED of /dev/zero is shared anonymous memory; MAP_PRIVATE is anonymous memory
      // that keeps its file and offset (mmap_zero_private_success: vma_set_anonymous leaves
      // vm_file), so maps names /dev/zero and only mappings of one open file merge.
      mmap: (f, desc) => {
        if (desc.shared) {
          shmemZeroSetup(k, desc);
        } else {
          desc.file = (f as InodeFile).mappedFile();
          desc.pgoff = desc.off / 4096;
        }
        return 0;
      },
      getattr: inodeStat,
      release,
    };
    this.regOps = {
      seekable: true,
      shortWrite: true,
      read: (f, len, pos) => readCache(k, mappingOf(f), len, pos),
      write: (f, data, pos) => writeCache(k, mappingOf(f), data, pos),
      size: (f) => mappingOf(f).size,
      mmap: (f, desc) => fileMmap(mappingOf(f), desc, (f as InodeFile).mappedFile()),
      truncate: (f, len, cpu) => {
        const m = mappingOf(f);
        if (len > U.MAX_LFS_FILESIZE) return -U.EFBIG;
        const sealed = checkSealsResize(m.seals, m.size, len);
        return sealed < 0 ? sealed : truncateSliced(k, m, len, cpu);
      },
      seals: mappingOf,
      fallocate: (f, mode, off, len, cpu) => tmpfsFallocate(k, mappingOf(f), mode, off, len, cpu),
      getattr: (f) => (f as InodeFile).inode.stat(mappingOf(f).size, mappingOf(f).pages.size * 8),
      release,
    };
    const dev = this.mkdirIn(this.root, 'dev', 0o755);
    this.mkdirIn(this.root, 'tmp', 0o1777);
    this.mkdirIn(this.root, 'proc', 0o555);
    const sys = this.mkdirIn(this.root, 'sys', 0o555);
    const mshare = this.mkdirIn(this.mkdirIn(sys, 'fs', 0o755), 'mshare', 0o777);
    mshare.fs = 'msharefs';
    this.linkIn(mshare, 'mshare_info', this.newInode(U.S_IFREG | 0o444, null, 'mshare_info'));
    populateSysfs(this, sys, lkdtm);
    this.linkIn(dev, 'null', this.newInode(U.S_IFCHR | 0o666, null, 'null'));
    this.mkdirIn(dev, 'hugepages', 0o1777).fs = 'hugetlbfs'; // as distributions mount it
    this.linkIn(dev, 'zero', this.newInode(U.S_IFCHR | 0o666, null, 'zero'));
    this.linkIn(dev, 'vbuf', this.newInode(U.S_IFCHR | 0o666, null, 'vbuf'));
    this.vbuf = new VbufDevice(k);
    this.vbufOps = { ...this.vbuf.ops, getattr: inodeStat, release: (f) => (this.vbuf.ops.release!(f), release(f)) };
    this.mshareInfoOps = mshareInfoOps(release, inodeStat);
    this.mshareOps = msharefsFileOps(this, release);
  }

  /** A new inode with a fresh inode number (or its page cache's). */
  newInode(mode: number, mapping: AddressSpace | null = null, device: Device | null = null): Inode {
    return new Inode(mapping?.ino ?? this.k.nextIno(), mode, mapping, device);
  }

  /** Link inode into dir as `name` (d_add): its d_path becomes dir's and the name. */
  linkIn(dir: Inode, name: string, inode: Inode): Inode {
    dir.children!.set(name, inode);
    inode.path = dir.path === '/' ? `/${name}` : `${dir.path}/${name}`;
    return inode;
  }

  /**
   * A directory's listing for getdents64: ".", "..", then its entries newest first, as
   * tmpfs lists them (its simple_offset directories). Positions are 0 and 1 for the dots,
   * then one per entry; the end is INT_MAX, as tmpfs's. (tmpfs's positions are the entries'
   * creation cookies; ptlab's are their places in the listing.)
   */
  dirList(dir: Inode): DirList {
    const up = pathParts(`${dir.path}/..`);
    const parent = typeof up === 'number' ? dir : this.lookup(up);
    const entries: Dirent[] = [
      { name: '.', ino: dir.ino, type: U.DT_DIR, pos: 0 },
      { name: '..', ino: typeof parent === 'number' ? dir.ino : parent.ino, type: U.DT_DIR, pos: 1 },
    ];
    let pos = 2;
    for (const [name, inode] of [...dir.children!].reverse()) entries.push({ name, ino: inode.ino, type: dtType(inode.mode), pos: pos++ });
    return { entries, end: 0x7fff_ffff };
  }

  /** A new directory `name` in dir. */
  mkdirIn(dir: Inode, name: string, mode: number): Inode {
    const d = this.linkIn(dir, name, this.newInode(U.S_IFDIR | mode));
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
    if (parts.length === 0) return this.openFound(this.root, flags, cpu);
    const p = this.parentOf(parts);
    if (typeof p === 'number') return p;
    const found = p.dir.children!.get(p.name);
    if (found !== undefined) return this.openExisting(found, flags, cpu);
    if ((flags & U.O_CREAT) === 0) return -U.ENOENT;
    const created = this.create(p.dir, `/${parts.join('/')}`, mode, pid);
    if (typeof created === 'number') return created;
    return this.openFound(this.linkIn(p.dir, p.name, created), flags, cpu);
  }

  /**
   * open(2) of an inode that exists, found by its path or through /proc/PID/fd/N (which
   * reopens the file it names): O_CREAT|O_EXCL fails (EEXIST), then as openFound.
   */
  openExisting(inode: Inode, flags: number, cpu: number): File | number {
    if ((flags & (U.O_CREAT | U.O_EXCL)) === (U.O_CREAT | U.O_EXCL)) return -U.EEXIST;
    return this.openFound(inode, flags, cpu);
  }

  /** do_open's checks (a directory is opened read-only, O_DIRECTORY wants one), O_TRUNC, then a new open file. */
  private openFound(inode: Inode, flags: number, cpu: number): File | number {
    const acc = flags & U.O_ACCMODE;
    if (inode.isDir && (acc !== U.O_RDONLY || (flags & U.O_CREAT) !== 0)) return -U.EISDIR;
    if (!inode.isDir && (flags & U.O_DIRECTORY) !== 0) return -U.ENOTDIR;
    // O_TRUNC on a file without a page cache (a sysfs attribute, mshare_info) is ignored.
    if (inode.isReg && inode.mapping !== null && (flags & U.O_TRUNC) !== 0 && acc !== U.O_RDONLY) finish(this.k, truncateSliced(this.k, inode.mapping, 0, cpu));
    return this.openInode(inode, flags);
  }

  /** A new regular file at `path` in dir, of dir's filesystem; -errno (ENOMEM) if none. */
  private create(dir: Inode, path: string, mode: number, pid: number): Inode | number {
    if (dir.fs === 'msharefs') return msharefsCreate(this, path, mode, pid);
    if (dir.fs === 'hugetlbfs') return hugetlbfsCreate(this, path, mode);
    const mapping = new AddressSpace(this.k.nextIno(), 0, path, TMPFS_DEV);
    mapping.holders++; // the link
    return this.newInode(U.S_IFREG | (mode & 0o7777), mapping);
  }

  /** A new open file description of inode. */
  openInode(inode: Inode, flags: number): File {
    const f = new InodeFile(this.fileOps(inode), flags, inode);
    inode.opens++;
    if (inode.mapping !== null) inode.mapping.holders++;
    return f;
  }

  /** The file operations an open file of inode gets (the inode's i_fop). */
  private fileOps(inode: Inode): FileOps {
    if (inode.attr !== null) return sysfsAttrOps(inode);
    if (inode.hugetlb !== null) return hugetlbfsFileOps(this, inode);
    if (inode.isDir) return this.dirOps;
    switch (inode.device) {
      case 'null': return this.nullOps;
      case 'zero': return this.zeroOps;
      case 'vbuf': return this.vbufOps;
      case 'mshare_info': return this.mshareInfoOps;
      default: return inode.region !== null ? this.mshareOps : this.regOps;
    }
  }

  /** An open file of inode was released: its page cache loses a holder. */
  private released(inode: Inode): void {
    inode.opens--;
    if (inode.mapping !== null) {
      inode.mapping.holders--;
      releaseIfUnused(this.k, inode.mapping);
    }
  }

  /** An msharefs region whose inode has no link and no open file goes (inode eviction). */
  evictIfUnused(inode: Inode): void {
    if (inode.region === null || inode.nlink > 0 || inode.opens > 0 || inode.region.mappers.size > 0 || !this.regions.has(inode.region)) return;
    this.regions.delete(inode.region);
    inode.region.destroy();
  }

  /** A tmpfs file with no name (memfd_create), of permission bits `mode`. */
  createUnlinked(name: string, mode: number): Inode {
    const mapping = new AddressSpace(this.k.nextIno(), 0, `/${name} (deleted)`, '00:01');
    const inode = this.newInode(U.S_IFREG | mode, mapping);
    inode.nlink = 0;
    inode.path = mapping.name;
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
    inode.path += ' (deleted)';
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

/** The d_type of an inode's mode (S_DT). */
export function dtType(mode: number): number {
  return (mode & U.S_IFMT) >>> 12;
}

/** fallocate(2) of a tmpfs file: PUNCH_HOLE|KEEP_SIZE frees, mode 0 and KEEP_SIZE allocate; both in slices (mm/truncate.ts). */
function tmpfsFallocate(k: Kmm, m: AddressSpace, mode: number, off: number, len: number, cpu: number): MaybeSliced {
  // vfs_fallocate: past s_maxbytes, or past 2^63 (loff_t overflows; MAX_LFS_FILESIZE is 2^63 as a double).
  if (off + len >= U.MAX_LFS_FILESIZE) return -U.EFBIG;
  const punch = (mode & U.FALLOC_FL_PUNCH_HOLE) !== 0;
  const sealed = checkSealsFallocate(m.seals, punch, off + len, m.size);
  if (sealed < 0) return sealed;
  if (punch) return punchHoleSliced(k, m, off, off + len, cpu);
  return fallocateThenSize(k, m, off, len, (mode & U.FALLOC_FL_KEEP_SIZE) === 0);
}

/** The pages of [off, off + len) allocated in slices, then (unless KEEP_SIZE) the size raised to off + len: 0 or -ENOSPC. */
function* fallocateThenSize(k: Kmm, m: AddressSpace, off: number, len: number, grow: boolean): Generator<void, number, void> {
  const r = yield* fallocatePages(k, m, Math.floor(off / 4096), Math.ceil((off + len) / 4096));
  if (r === 0 && grow && off + len > m.size) m.size = off + len;
  return r;
}
