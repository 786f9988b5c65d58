// Capabilities (kernel/capability.c): capget and capset with the three header versions. A
// process starts as root with every capability and may drop them (CAP_IPC_LOCK gone makes
// RLIMIT_MEMLOCK bind).

import type { Kernel } from '../kernel.ts';
import { copyFromUser, copyToUser } from '../mm/index.ts';
import * as U from '../uapi.ts';
import { ALL_CAPS, type Thread } from './task.ts';

/** capget(2): the header's version is checked (and the preferred one written back if wrong). */
export function sysCapget(kn: Kernel, t: Thread, hdr: number, data: number): number {
  const v = capHeader(kn, t, hdr);
  if (typeof v === 'number') return data === 0 && v === -U.EINVAL ? 0 : v;
  if (data === 0) return 0;
  if (v.pid < 0) return -U.EINVAL;
  const target = v.pid === 0 ? t.proc : kn.tasks.procs.get(v.pid);
  if (target === undefined || target.state === 'zombie') return -U.ESRCH;
  const words = v.version === U._LINUX_CAPABILITY_VERSION_1 ? 1 : 2;
  const out = new Uint8Array(12 * words);
  const dv = new DataView(out.buffer);
  const { effective, permitted, inheritable } = target.caps;
  for (let i = 0; i < words; i++) {
    const word = (x: bigint) => Number((x >> BigInt(32 * i)) & 0xffff_ffffn);
    dv.setUint32(12 * i, word(effective), true);
    dv.setUint32(12 * i + 4, word(permitted), true);
    dv.setUint32(12 * i + 8, word(inheritable), true);
  }
  return copyToUser(kn.k, t.proc.mm, data, out, t.cpu);
}

/** capset(2): only on itself, and no set may grow beyond what it had (cap_capset). */
export function sysCapset(kn: Kernel, t: Thread, hdr: number, data: number): number {
  const v = capHeader(kn, t, hdr);
  if (typeof v === 'number') return v;
  if (v.pid !== 0 && v.pid !== t.proc.pid) return -U.EPERM;
  const words = v.version === U._LINUX_CAPABILITY_VERSION_1 ? 1 : 2;
  const bytes = copyFromUser(kn.k, t.proc.mm, data, 12 * words, t.cpu);
  if (typeof bytes === 'number') return bytes;
  const dv = new DataView(bytes.buffer);
  const set = (field: number) => {
    let x = 0n;
    for (let i = 0; i < words; i++) x |= BigInt(dv.getUint32(12 * i + field, true)) << BigInt(32 * i);
    return x & ALL_CAPS;
  };
  const [effective, permitted, inheritable] = [set(0), set(4), set(8)];
  const old = t.proc.caps;
  if ((permitted & ~old.permitted) !== 0n || (effective & ~permitted) !== 0n) return -U.EPERM;
  if ((inheritable & ~(old.inheritable | old.permitted)) !== 0n) return -U.EPERM;
  Object.assign(t.proc.caps, { effective, permitted, inheritable });
  t.proc.mm.capIpcLock = t.proc.capable(U.CAP_IPC_LOCK);
  return 0;
}

/** The capability header: {version, pid}, or -errno (EINVAL writes the preferred version). */
function capHeader(kn: Kernel, t: Thread, hdr: number): { version: number; pid: number } | number {
  const bytes = copyFromUser(kn.k, t.proc.mm, hdr, 8, t.cpu);
  if (typeof bytes === 'number') return bytes;
  const dv = new DataView(bytes.buffer);
  const version = dv.getUint32(0, true);
  if (version !== U._LINUX_CAPABILITY_VERSION_1 && version !== U._LINUX_CAPABILITY_VERSION_2 && version !== U._LINUX_CAPABILITY_VERSION_3) {
    const fix = new Uint8Array(4);
    new DataView(fix.buffer).setUint32(0, U._LINUX_CAPABILITY_VERSION_3, true);
    const r = copyToUser(kn.k, t.proc.mm, hdr, fix, t.cpu);
    return r < 0 ? r : -U.EINVAL;
  }
  return { version, pid: dv.getInt32(4, true) };
}
