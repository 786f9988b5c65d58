// Helpers shared by the guest programs of the tests.
import type { SyscallError } from 'ptlab/userland';

/** Run f: 'ok', or the errno name of the syscall that failed in it (EINVAL, ...). */
export function code(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as SyscallError).code;
  }
}
