// copy_from_user and copy_to_user: the kernel reads and writes guest memory by walking the
// process's page tables in software, faulting pages in as the access would (a write to a
// zero-page mapping gets its own frame), and failing with EFAULT where the guest itself
// would get SIGSEGV. The kernel's own accesses set A and D as a CPU's would.

import { _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, X86_PF_USER, X86_PF_WRITE } from '../../machine/index.ts';
import { FAULT_DONE, handleMmFault } from './fault.ts';
import { type Mm } from './mm.ts';
import { EFAULT, EINVAL, ENAMETOOLONG, ENOENT, TASK_SIZE } from '../uapi.ts';
import { type Kmm } from './kmm.ts';

import { markAccessed, leafWord } from './pgtable.ts';

/** The frame behind user page va for a read or write, faulting it in; -1 if not accessible. */
function userFrame(k: Kmm, mm: Mm, va: number, write: boolean, cpu: number): number {
  for (let attempt = 0; attempt < 2; attempt++) {
    const leaf = leafWord(k, mm, va);
    if (leaf !== null) {
      const lo = k.ops.lo(leaf.w);
      const need = _PAGE_PRESENT | _PAGE_USER | (write ? _PAGE_RW : 0);
      if ((lo & need) === need) {
        markAccessed(k, leaf.w, write);
        return leaf.pfn;
      }
    }
    if (handleMmFault(k, mm, va, X86_PF_USER | (write ? X86_PF_WRITE : 0), cpu) !== FAULT_DONE) return -1;
  }
  return -1;
}

function validRange(va: number, len: number): boolean {
  return Number.isInteger(va) && Number.isInteger(len) && va >= 0 && len >= 0 && va + len <= TASK_SIZE;
}

/**
 * copy_from_user as it goes: the bytes of [va, va + len) from va up to the first one that
 * is not readable (all of them, or a short prefix; none if the range leaves user space).
 */
export function copyFromUserPartial(k: Kmm, mm: Mm, va: number, len: number, cpu: number): Uint8Array {
  if (!validRange(va, len)) return new Uint8Array(0);
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const at = va + done;
    const off = at % 4096;
    const n = Math.min(4096 - off, len - done);
    const pfn = userFrame(k, mm, at - off, false, cpu);
    if (pfn < 0) return out.subarray(0, done);
    out.set(k.mem.u8.subarray(pfn * 4096 + off, pfn * 4096 + off + n), done);
    done += n;
    k.work.uaccessBytes += n;
  }
  return out.subarray(0, done);
}

/** Copy len bytes from guest va; -EFAULT if any byte is not readable. */
export function copyFromUser(k: Kmm, mm: Mm, va: number, len: number, cpu: number): Uint8Array | number {
  if (!validRange(va, len)) return -EFAULT;
  const out = copyFromUserPartial(k, mm, va, len, cpu);
  return out.length === len ? out : -EFAULT;
}

/**
 * copy_to_user's count: bytes written to guest va before the first page that is not
 * writable (bytes.length if all were; 0 if the range leaves user space).
 */
export function copyToUserPartial(k: Kmm, mm: Mm, va: number, bytes: Uint8Array, cpu: number): number {
  if (!validRange(va, bytes.length)) return 0;
  let done = 0;
  while (done < bytes.length) {
    const at = va + done;
    const off = at % 4096;
    const n = Math.min(4096 - off, bytes.length - done);
    const pfn = userFrame(k, mm, at - off, true, cpu);
    if (pfn < 0) return done;
    k.mem.u8.set(bytes.subarray(done, done + n), pfn * 4096 + off);
    done += n;
    k.work.uaccessBytes += n;
  }
  return done;
}

/** Copy bytes to guest va; 0 or -EFAULT (bytes before the bad page are written, as in Linux). */
export function copyToUser(k: Kmm, mm: Mm, va: number, bytes: Uint8Array, cpu: number): number {
  if (!validRange(va, bytes.length)) return -EFAULT;
  return copyToUserPartial(k, mm, va, bytes, cpu) === bytes.length ? 0 : -EFAULT;
}

/**
 * Read the JSON object the guest encoded at [va, va + len) (ptlab's spawn and clone
 * descriptors); -EFAULT if unreadable, -EINVAL if it is not JSON or not an object.
 */
export function jsonFromUser(k: Kmm, mm: Mm, va: number, len: number, cpu: number): Record<string, unknown> | number {
  if (!Number.isInteger(len) || len < 0 || len > 1 << 20) return -EFAULT;
  const bytes = copyFromUser(k, mm, va, len, cpu);
  if (typeof bytes === 'number') return bytes;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return -EINVAL;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : -EINVAL;
}

/**
 * strncpy_from_user for a path: the NUL-terminated string at va, at most `max` bytes with
 * the NUL; -EFAULT if unreadable, -ENAMETOOLONG if no NUL within max, -ENOENT if empty.
 */
export function pathFromUser(k: Kmm, mm: Mm, va: number, max: number, cpu: number): string | number {
  if (!Number.isInteger(va) || va < 0 || va >= TASK_SIZE) return -EFAULT;
  const bytes: number[] = [];
  let at = va;
  while (bytes.length < max) {
    if (at >= TASK_SIZE) return -EFAULT;
    const off = at % 4096;
    const pfn = userFrame(k, mm, at - off, false, cpu);
    if (pfn < 0) return -EFAULT;
    const page = k.mem.u8.subarray(pfn * 4096 + off, pfn * 4096 + 4096);
    for (let i = 0; i < page.length && bytes.length < max; i++) {
      if (page[i] === 0) return bytes.length === 0 ? -ENOENT : new TextDecoder().decode(new Uint8Array(bytes));
      bytes.push(page[i]);
    }
    at += page.length;
  }
  return -ENAMETOOLONG;
}
