// The control ring: a single-producer single-consumer queue of msgpackr-encoded messages in
// a SharedArrayBuffer, between the host thread and the kernel thread (one ring each way).
//
// Layout: Int32 header [HEAD, TAIL, 0, 0] then `capacity` data bytes (a power of two).
// HEAD is the byte count ever written (the producer's), TAIL the byte count ever read (the
// consumer's); both wrap at 2^31 and are compared by difference. A message is a 4-byte
// little-endian length then its bytes, wrapping around the end of the data area.
// The producer stores HEAD with Atomics after writing the bytes and notifies on it; the
// consumer stores TAIL after reading and notifies on it (a full ring waits for that).

import { Packr } from 'msgpackr';

const HEAD = 0;
const TAIL = 1;
const HEADER_BYTES = 16;

const packr = /* @__PURE__ */ new Packr({ useRecords: false, moreTypes: true });

export class MessageRing {
  readonly buffer: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;
  private readonly mask: number;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.ctl = new Int32Array(buffer, 0, 4);
    this.data = new Uint8Array(buffer, HEADER_BYTES);
    this.mask = this.data.length - 1;
  }

  static create(capacity = 1 << 20): MessageRing {
    if (capacity < 64 || (capacity & (capacity - 1)) !== 0) throw new RangeError('ring capacity must be a power of two >= 64');
    return new MessageRing(new SharedArrayBuffer(HEADER_BYTES + capacity));
  }

  static fromBuffer(buffer: SharedArrayBuffer): MessageRing {
    return new MessageRing(buffer);
  }

  /** Bytes free for the producer. */
  private free(): number {
    return this.data.length - ((Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) | 0);
  }

  /**
   * Append a message. If the ring is full, block (Atomics.wait) until the consumer makes
   * room; `blocking` false returns false instead. Throws if the message can never fit.
   */
  send(message: unknown, blocking = true): boolean {
    const bytes = packr.pack(message);
    const need = bytes.length + 4;
    if (need > this.data.length) throw new RangeError(`message of ${bytes.length} bytes exceeds the ring`);
    while (this.free() < need) {
      if (!blocking) return false;
      Atomics.wait(this.ctl, TAIL, Atomics.load(this.ctl, TAIL), 50);
    }
    const head = Atomics.load(this.ctl, HEAD);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, bytes.length, true);
    this.copyIn(head, len);
    this.copyIn(head + 4, bytes);
    Atomics.store(this.ctl, HEAD, (head + need) | 0);
    Atomics.notify(this.ctl, HEAD);
    return true;
  }

  /** Remove and return the next message, or undefined if the ring is empty. */
  receive(): unknown {
    const tail = Atomics.load(this.ctl, TAIL);
    if (tail === Atomics.load(this.ctl, HEAD)) return undefined;
    const len = this.copyOut(tail, 4);
    const n = new DataView(len.buffer).getUint32(0, true);
    const message = packr.unpack(this.copyOut(tail + 4, n));
    Atomics.store(this.ctl, TAIL, (tail + 4 + n) | 0);
    Atomics.notify(this.ctl, TAIL);
    return message;
  }

  /** True if a message is waiting. */
  pending(): boolean {
    return Atomics.load(this.ctl, TAIL) !== Atomics.load(this.ctl, HEAD);
  }

  /** Resolve when a message may be waiting (the consumer's async wait; host side). */
  async waitAsync(timeoutMs = 1000): Promise<void> {
    const head = Atomics.load(this.ctl, HEAD);
    if (head !== Atomics.load(this.ctl, TAIL)) return;
    const r = Atomics.waitAsync(this.ctl, HEAD, head, timeoutMs);
    if (r.async) await r.value;
  }

  private copyIn(pos: number, bytes: Uint8Array): void {
    const at = pos & this.mask;
    const first = Math.min(bytes.length, this.data.length - at);
    this.data.set(bytes.subarray(0, first), at);
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0);
  }

  private copyOut(pos: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    const at = pos & this.mask;
    const first = Math.min(n, this.data.length - at);
    out.set(this.data.subarray(at, at + first), 0);
    if (first < n) out.set(this.data.subarray(0, n - first), first);
    return out;
  }
}
