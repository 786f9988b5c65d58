// The byte stream of one CPU's translation trace (README.md, "Trace format"), and its
// writer. A CPU worker writes its stream into a shared buffer (so that what it wrote
// survives the worker's termination) and hands full chunks to the host, which compresses
// them and writes the file (host/trace/file.ts).
//
// Records: a tag byte (type in bits 0..3, a parameter in bits 4..7), then unsigned LEB128
// varints. Page numbers (va >> 12) of accesses are deltas from the previous access record's
// page, zigzag-coded; repeats of one page and kind are one record with a count.

export const T_ACCESS = 0;
export const T_WALK = 1;
export const T_CR3 = 2;
export const T_CR4 = 3;
export const T_INVLPG = 4;
export const T_INVPCID = 5;
export const T_IPI = 6;
export const T_SPLIT = 7;
export const T_GP = 8;

/** T_ACCESS parameter bit: a count (minus 2) follows the page delta. */
export const ACCESS_RUN = 8;

/** The 3-bit kind code of an ACC_* access (walker.ts): bit 0 write, bit 1 supervisor, bit 2 fetch. */
export function kindOf(access: number): number {
  return ((access & 2) !== 0 ? 1 : 0) | ((access & 4) !== 0 ? 0 : 2) | ((access & 16) !== 0 ? 4 : 0);
}

/** The ACC_* access of a kind code. */
export function accessOf(kind: number): number {
  return ((kind & 1) !== 0 ? 2 : 0) | ((kind & 2) !== 0 ? 0 : 4) | ((kind & 4) !== 0 ? 16 : 0);
}

/**
 * A walk record's packed value: bit 0 translated; then the leaf's page size (SIZE_*) or the
 * fault level (3 bits), its rights (PERM_*) or the error code (5 bits), accessed bits set
 * (3 bits), dirty bits set (1 bit), and from bit 13 the walk's retries.
 */
export function packWalk(ok: boolean, sizeOrLevel: number, permsOrCode: number, aSets: number, dSets: number, retries: number): number {
  return (ok ? 1 : 0) + sizeOrLevel * 2 + (permsOrCode & 31) * 16 + aSets * 512 + dSets * 4096 + retries * 8192;
}

/** Data bytes of the shared buffer before a chunk goes to the host. */
export const CHUNK_BYTES = 1 << 20;
/**
 * Header of the shared buffer: int32 [bytes used, run kind, run count, pad], float64 [run
 * page, last page, translation attempts recorded].
 */
const HEADER_BYTES = 48;
const SLACK = 256;

/** The shared buffer a CPU's TraceWriter writes into. */
export function traceBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + CHUNK_BYTES + SLACK);
}

/**
 * Writes one stream into a traceBuffer(). `onChunk` receives each full chunk (a copy);
 * finish() returns what is left. Access runs are kept in the buffer's header, so that a
 * writer made later over the same buffer (the host's, after the worker ended) can finish.
 */
export class TraceWriter {
  private readonly h: Int32Array;
  private readonly p: Float64Array;
  private readonly data: Uint8Array;
  private pos: number;
  onChunk: ((bytes: Uint8Array) => void) | null = null;

  constructor(buffer: SharedArrayBuffer) {
    this.h = new Int32Array(buffer, 0, 4);
    this.p = new Float64Array(buffer, 16, 3);
    this.data = new Uint8Array(buffer, HEADER_BYTES);
    this.pos = this.h[0];
  }

  /** One translation attempt of 4 KiB page `page` of kind `kind` (kindOf). */
  access(page: number, kind: number): void {
    const h = this.h;
    this.p[2]++;
    if (page === this.p[0] && kind === h[1] && h[2] !== 0) {
      h[2]++;
      return;
    }
    this.flushRun();
    this.p[0] = page;
    h[1] = kind;
    h[2] = 1;
  }

  /** A record of `type` with parameter `param` and varint fields. */
  event(type: number, param: number, a = -1, b = -1, c = -1, d = -1): void {
    this.flushRun();
    this.data[this.pos++] = type | (param << 4);
    if (a >= 0) this.varint(a);
    if (b >= 0) this.varint(b);
    if (c >= 0) this.varint(c);
    if (d >= 0) this.varint(d);
    this.commit();
  }

  /**
   * event(), placed before the last access recorded (which must be the last record): for
   * what a CPU does after it recorded an access and before it translates it.
   */
  eventBeforeLastAccess(type: number, param: number, a = -1, b = -1, c = -1, d = -1): void {
    const n = this.h[2];
    if (n === 0) throw new Error('trace: no access to place an event before');
    this.h[2] = n - 1;
    this.event(type, param, a, b, c, d);
    this.h[2] = 1;
  }

  /** A translation attempt of a non-canonical address (kind: kindOf). */
  gp(kind: number): void {
    this.p[2]++;
    this.event(T_GP, kind);
  }

  /**
   * The bytes not yet handed over, pending run included; the buffer is empty after. A CPU
   * records an attempt just before it makes it: if it was stopped in between (a thread
   * terminated), `attempts` (the CPU's count, emu.lookups) is one less than recorded, and
   * that last access, still in the pending run, is dropped.
   */
  finish(attempts = Infinity): Uint8Array {
    const extra = this.p[2] - attempts;
    if (extra > 0 && this.h[2] >= extra) {
      this.h[2] -= extra;
      this.p[2] -= extra;
    }
    this.flushRun();
    const out = this.data.slice(0, this.pos);
    this.pos = 0;
    this.h[0] = 0;
    return out;
  }

  private flushRun(): void {
    const h = this.h;
    const n = h[2];
    if (n === 0) return;
    const page = this.p[0];
    const delta = page - this.p[1];
    this.p[1] = page;
    h[2] = 0;
    this.data[this.pos++] = T_ACCESS | ((h[1] | (n > 1 ? ACCESS_RUN : 0)) << 4);
    this.varint(delta >= 0 ? delta * 2 : -delta * 2 - 1);
    if (n > 1) this.varint(n - 2);
    this.commit();
  }

  private varint(v: number): void {
    const d = this.data;
    let x = v;
    while (x >= 128) {
      d[this.pos++] = (x % 128) | 128;
      x = Math.floor(x / 128);
    }
    d[this.pos++] = x;
  }

  private commit(): void {
    if (this.pos >= CHUNK_BYTES && this.onChunk !== null) {
      this.onChunk(this.data.slice(0, this.pos));
      this.pos = 0;
    }
    this.h[0] = this.pos;
  }
}
