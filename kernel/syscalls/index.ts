// kernel/syscalls: the system call table, the public face.

export { type Syscall, type SyscallHandler, SYSCALLS, syscallsByNumber } from './table.ts';
