// Reading ptlab trace files (format: README.md, "Trace format"). Needs node:fs, node:zlib
// and the record constants of machine/traceformat.ts (through machine/index.ts): to read
// traces elsewhere, copy it with file.ts and traceformat.ts.
//
// Two levels: StreamDecoder walks one stream's records without allocating, records() yields
// them as objects, accesses() yields the accesses alone. The replayer (replay.ts) decodes
// the same format in its own loop.

import * as format from '../../machine/index.ts';
import { readTrace, streamBytes, type TraceFile } from './file.ts';

// Imported values are copied into module-local consts (under tsx each read of an imported
// binding is a getter call).
const { accessOf, ACCESS_RUN, T_ACCESS, T_CR3, T_CR4, T_GP, T_INVLPG, T_INVPCID, T_IPI, T_SPLIT, T_WALK } = format;

/** One recorded translation attempt. */
export interface TraceAccess {
  cpu: number;
  pid: number;
  tid: number;
  /** Virtual address >> 12. */
  page: number;
  /** Page size of the translation as log2 bytes: 12, 21 or 30. */
  shift: number;
  write: boolean;
}

export const RECORD_TYPES = ['access', 'walk', 'cr3', 'cr4', 'invlpg', 'invpcid', 'ipi', 'split', 'gp'] as const;
export type RecordType = typeof RECORD_TYPES[number];
/**
 * How many of a..d each record type has (by type number); the others read 0. An access's
 * count (b) is a varint only with ACCESS_RUN; every other field is one varint.
 */
export const RECORD_FIELDS: readonly number[] = [2, 1, 2, 0, 1, 2, 4, 0, 0];

/**
 * A record as an object. `a`..`d` are its fields by type: access: a = page, b = count,
 * param = kind code; walk: a = packed outcome; cr3: a = PML4 frame, b = PCID, param = no-flush;
 * cr4: param = PCIDE | PGE << 1; invlpg: a = page; invpcid: param = type, a = PCID, b = page;
 * ipi: param = flush kind, a = PCID, b = start, c = end, d = stride shift; gp: param = kind.
 */
export interface TraceRecord {
  stream: number;
  type: RecordType;
  param: number;
  a: number;
  b: number;
  c: number;
  d: number;
}

/** Decodes one stream's records in place: call next() until it returns false. */
export class StreamDecoder {
  type = 0;
  param = 0;
  a = 0;
  b = 0;
  c = 0;
  d = 0;
  private readonly chunks: Iterator<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private page = 0;

  private readonly onChunk: (() => void) | undefined;

  /** `onChunk` hears of each chunk as it is inflated (progress). */
  constructor(chunks: readonly Uint8Array[], onChunk?: () => void) {
    this.chunks = streamBytes(chunks);
    this.onChunk = onChunk;
  }

  next(): boolean {
    while (this.pos >= this.buf.length) {
      const n = this.chunks.next();
      if (n.done === true) return false;
      this.buf = n.value;
      this.pos = 0;
      this.onChunk?.();
    }
    const tag = this.buf[this.pos++];
    const type = tag & 15;
    const param = tag >>> 4;
    this.type = type;
    this.param = param;
    if (type === T_ACCESS) {
      const z = this.varint();
      // Zigzag, without % (a modulus of a number V8 cannot prove int32 is a call to fmod).
      const h = Math.floor(z / 2);
      this.page += h * 2 === z ? h : -h - 1;
      this.a = this.page;
      this.b = (param & ACCESS_RUN) !== 0 ? this.varint() + 2 : 1;
      this.param = param & 7;
    } else if (type === T_WALK || type === T_INVLPG) {
      this.a = this.varint();
    } else if (type === T_CR3 || type === T_INVPCID) {
      this.a = this.varint();
      this.b = this.varint();
    } else if (type === T_IPI) {
      this.a = this.varint();
      this.b = this.varint();
      this.c = this.varint();
      this.d = this.varint();
    } else if (type !== T_CR4 && type !== T_SPLIT && type !== T_GP) {
      throw new Error(`trace: unknown record type ${type}`);
    }
    return true;
  }

  private varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++];
    if (b < 128) return b;
    let v = b & 127;
    let scale = 128;
    for (;;) {
      b = buf[this.pos++];
      v += (b & 127) * scale;
      if (b < 128) return v;
      scale *= 128;
    }
  }
}

/** The records of a trace (a file name or one read with readTrace), stream by stream. */
export function* records(trace: string | TraceFile): Generator<TraceRecord> {
  const t = typeof trace === 'string' ? readTrace(trace) : trace;
  for (let s = 0; s < t.chunks.length; s++) {
    const d = new StreamDecoder(t.chunks[s]);
    while (d.next()) {
      const n = RECORD_FIELDS[d.type];
      yield { stream: s, type: RECORD_TYPES[d.type], param: d.param, a: n > 0 ? d.a : 0, b: n > 1 ? d.b : 0, c: n > 2 ? d.c : 0, d: n > 3 ? d.d : 0 };
    }
  }
}

/** Page size (log2 bytes) of a walk record's translation, or 0 for a walk that faulted. */
function walkShift(packed: number): number {
  return packed % 2 === 1 ? 12 + 9 * (Math.floor(packed / 2) & 7) : 0;
}

/**
 * The accesses of a trace file, in record order (each CPU's stream in turn; a run of n
 * repeats yields n accesses; a faulting attempt and its retry are two). An access's page
 * size is that of the last walk in its stream that translated a page holding it (huge
 * pages known per 2 MiB and 1 GiB region), 12 if none did.
 */
export function* accesses(file: string | TraceFile): Generator<TraceAccess> {
  const t = typeof file === 'string' ? readTrace(file) : file;
  for (let s = 0; s < t.chunks.length; s++) {
    const { cpu, pid, tid } = t.header.streams[s];
    const d = new StreamDecoder(t.chunks[s]);
    const huge = new Map<number, number>();
    const sizeOf = (page: number) => huge.get(Math.floor(page / 2 ** 18) * -1 - 1) ?? huge.get(Math.floor(page / 512)) ?? 12;
    // An access waits for the record after it: a walk there translated it.
    let held: TraceAccess | null = null;
    let heldCount = 0;
    const flush = function* (): Generator<TraceAccess> {
      if (held === null) return;
      for (let i = 0; i < heldCount; i++) yield { ...(held as TraceAccess), shift: sizeOf((held as TraceAccess).page) };
      held = null;
    };
    while (d.next()) {
      if (d.type === T_WALK && held !== null) {
        const shift = walkShift(d.a);
        const p = held.page;
        if (shift === 12) {
          huge.delete(Math.floor(p / 512));
          huge.delete(-Math.floor(p / 2 ** 18) - 1);
        } else if (shift === 21) huge.set(Math.floor(p / 512), 21);
        else if (shift === 30) huge.set(-Math.floor(p / 2 ** 18) - 1, 30);
      }
      yield* flush();
      if (d.type === T_ACCESS) {
        held = { cpu, pid, tid, page: d.a, shift: 12, write: (accessOf(d.param) & 2) !== 0 };
        heldCount = d.b;
      }
    }
    yield* flush();
  }
}
