// The sending side of TLB-shootdown IPIs: post a flush request to a CPU's mailbox and wait
// for its acknowledgement. The receiving side is Mmu.takeIpis.
//
// Compare arch/x86/mm/tlb.c (flush_tlb_multi, flush_tlb_func) and the APIC IPI: the request
// is taken by the target CPU before its next memory access (the fast path checks
// IPI_PENDING on every access) or at its next kernel entry, so the latency is zero guest
// accesses once the post is visible. A CPU running guest code that makes no memory access
// does not take it: hardware would interrupt it; here the sender keeps waiting.
//
// Protocol (fields in layout.ts): the sender makes IPI_SEQ odd, writes or merges the
// request, makes IPI_SEQ even (advanced by 2 per post), then sets IPI_PENDING. The CPU
// clears IPI_PENDING, reads the request under the sequence number, applies it and stores
// that sequence number in IPI_ACK. A request posted while an earlier one is still unacked
// is merged into it (the union is applied once), so nothing is lost.
// Threading: one sender per mailbox at a time (the kernel thread).
// An idle CPU (CPU_STATE = CPU_IDLE, Mmu.idle) is posted to like any other; the kernel does
// not wait for it, and it takes the request when it wakes (README.md, "Idle CPUs").
//
// Memory ordering. The request fields are plain and IPI_SEQ guards them as a seqlock: the
// CPU loads IPI_SEQ (Atomics), the fields (plain), IPI_SEQ again (Atomics), and starts over
// if it changed or is odd. ECMAScript lets a plain load that races the sender's plain store
// return anything, and lets plain loads move after a later atomic load; the retry covers
// the first, and the second is excluded by the host: x86-64 keeps loads in program order
// (TSO), as the page-table walker also assumes (pgtable.ts). The CPU clears IPI_PENDING
// before it reads IPI_SEQ, and the sender sets it after IPI_SEQ, so a request posted during
// a take leaves IPI_PENDING set and is taken at the next access: none is missed. The ack
// (Atomics.store in Mmu.takeIpis) is a full fence: every guest access the CPU made through
// an old translation completes before the sender's Atomics.load sees the ack, which is
// what lets the kernel reuse a frame after waitFlushAcked.

import {
  type ControlBlock, cpuF64Base, cpuI32Base, FLUSH_ALL, FLUSH_NONE, FLUSH_NONGLOBAL, FLUSH_PCID,
  FLUSH_RANGE, IPI_ACK, IPI_END, IPI_KIND, IPI_PCID, IPI_PENDING, IPI_SEQ, IPI_START,
  IPI_STRIDE_SHIFT,
} from './layout.ts';

export interface FlushRequest {
  kind: number;
  pcid: number;
  start: number;
  end: number;
  strideShift: number;
}

/**
 * Two ranged requests merge into their hull only while it stays within this many steps;
 * a wider hull becomes a PCID flush. Linux's tlb_single_page_flush_ceiling (33) makes the
 * same trade: past it, invalidating page by page costs more than refilling.
 */
export const FLUSH_MERGE_CEILING = 33;

/**
 * A request that covers both `a` (pending) and `b` (new). FLUSH_RANGE for one PCID and
 * stride widens to the hull (up to FLUSH_MERGE_CEILING steps); otherwise it escalates along
 * RANGE < PCID < NONGLOBAL < ALL, every step a superset of the one before.
 */
export function mergeFlush(a: FlushRequest, b: FlushRequest): FlushRequest {
  if (a.kind === FLUSH_NONE) return b;
  if (a.kind === FLUSH_ALL || b.kind === FLUSH_ALL) return { ...b, kind: FLUSH_ALL };
  if (a.kind === FLUSH_NONGLOBAL || b.kind === FLUSH_NONGLOBAL || a.pcid !== b.pcid) {
    return { ...b, kind: FLUSH_NONGLOBAL };
  }
  if (a.kind === FLUSH_RANGE && b.kind === FLUSH_RANGE && a.strideShift === b.strideShift) {
    const start = Math.min(a.start, b.start);
    const end = Math.max(a.end, b.end);
    if ((end - start) / 2 ** b.strideShift <= FLUSH_MERGE_CEILING) return { ...b, start, end };
  }
  return { ...b, kind: FLUSH_PCID };
}

/**
 * Post `req` to CPU `cpu` and return the sequence number to wait for (flushAcked).
 * `req.kind` must be one of FLUSH_RANGE..FLUSH_ALL.
 */
export function postFlush(control: ControlBlock, cpu: number, req: FlushRequest): number {
  if (req.kind < FLUSH_RANGE || req.kind > FLUSH_ALL) throw new RangeError(`postFlush: bad kind ${req.kind}`);
  const ctl = control.i32;
  const f64 = control.f64;
  const b = cpuI32Base(cpu);
  const fb = cpuF64Base(cpu);
  // There is one sender (the kernel thread), which never leaves IPI_SEQ odd: an odd value
  // is a corrupt word (the CPU's worker can write its slot), stepped over, not trusted.
  let seq = Atomics.load(ctl, b + IPI_SEQ);
  if ((seq & 1) !== 0) seq = (seq + 1) | 0;
  Atomics.store(ctl, b + IPI_SEQ, (seq + 1) | 0);
  let out = req;
  if (Atomics.load(ctl, b + IPI_ACK) !== seq) {
    out = mergeFlush({
      kind: ctl[b + IPI_KIND], pcid: ctl[b + IPI_PCID], strideShift: ctl[b + IPI_STRIDE_SHIFT],
      start: f64[fb + IPI_START], end: f64[fb + IPI_END],
    }, req);
  }
  ctl[b + IPI_KIND] = out.kind;
  ctl[b + IPI_PCID] = out.pcid;
  ctl[b + IPI_STRIDE_SHIFT] = out.strideShift;
  f64[fb + IPI_START] = out.start;
  f64[fb + IPI_END] = out.end;
  const done = (seq + 2) | 0;
  Atomics.store(ctl, b + IPI_SEQ, done);
  Atomics.store(ctl, b + IPI_PENDING, 1);
  return done;
}

/** True once CPU `cpu` has applied the request posted as `seq` (or a later one). */
export function flushAcked(control: ControlBlock, cpu: number, seq: number): boolean {
  return ((Atomics.load(control.i32, cpuI32Base(cpu) + IPI_ACK) - seq) | 0) >= 0;
}

/**
 * Block until CPU `cpu` acknowledges `seq`, spinning `spin` times before sleeping on the
 * ack word. Returns false if `timeoutMs` passed first.
 */
export function waitFlushAcked(control: ControlBlock, cpu: number, seq: number, timeoutMs = Infinity, spin = 2000): boolean {
  const idx = cpuI32Base(cpu) + IPI_ACK;
  for (let i = 0; i < spin; i++) if (flushAcked(control, cpu, seq)) return true;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ack = Atomics.load(control.i32, idx);
    if (((ack - seq) | 0) >= 0) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(control.i32, idx, ack, Math.min(left, 50));
  }
}
