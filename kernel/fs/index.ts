// kernel/fs: files, the public face. Open file descriptions and descriptor tables (file),
// the VFS and its filesystems (vfs, tmpfs in it, hugetlbfs, msharefs, sysfs, anon_inodes),
// pipes (pipe),
// /proc (proc/), the console, and the file system calls.

export { sysRefpageCreate } from './anon_inodes.ts';
export { consoleFile } from './console.ts';
export { sysDup, sysDup2, sysDup3, sysFcntl } from './fcntl.ts';
export { FdTable, File, type FileOps, type UserIo } from './file.ts';
export { sysIoctl } from './ioctl.ts';
export { sysMemfdCreate } from './memfd.ts';
export { sysMkdir, sysMkdirat, sysUnlink, sysUnlinkat } from './namei.ts';
export { sysPipe, sysPipe2 } from './pipe.ts';
export { sysClose, sysFallocate, sysFtruncate, sysOpen, sysOpenat } from './open.ts';
export { type ProcRoot, type ProcTask, procRead, taskComm } from './proc/base.ts';
export { sysGetdents64 } from './readdir.ts';
export { sysLseek, sysPread64, sysPwrite64, sysRead, sysWrite } from './read_write.ts';
export { sysFstat, sysReadlink, sysReadlinkat } from './stat.ts';
export { Vfs } from './vfs.ts';
