// The trace file: a versioned JSON header, then each CPU stream's raw-deflated chunks
// (README.md, "Trace format"). Writing needs the machine's streams; reading needs only
// node:fs and node:zlib.

import { readFileSync, writeFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import type { TlbGeometry } from '../../machine/index.ts';

export const TRACE_MAGIC = 'PTLTRACE';
export const TRACE_VERSION = 1;

/** The run a trace was recorded from. */
export interface TraceConfig {
  preset: string;
  policy: 'lru' | 'plru' | 'random';
  /** Seed of random replacement (tlbconfig.ts). */
  seed: number;
  geometry: TlbGeometry;
  /** CR4.PCIDE and CR4.PGE when each CPU started. */
  pcide: boolean;
  pge: boolean;
  memBytes: number;
  nrCpus: number;
  /** Other machine options of the run (swap, zero page, ...). */
  options: Record<string, unknown>;
}

export interface TraceHeader {
  version: number;
  command: string[];
  config: TraceConfig;
  /** One per CPU worker, in the order they started: a thread's whole life on its CPU. */
  streams: { cpu: number; pid: number; tid: number; chunks: number; bytes: number }[];
  /** Processes that ended, with the counters the live run gave them. */
  processes: { pid: number; ppid: number; path: string; exitCode: number | null; signal: number | null; counters: Record<string, number> }[];
}

/** Write a trace: header, then each stream's chunks, each as [u32 length][deflated bytes]. */
export function writeTrace(file: string, header: Omit<TraceHeader, 'streams' | 'version'>,
  streams: readonly { cpu: number; pid: number; tid: number; chunks: Uint8Array[] }[]): number {
  const full: TraceHeader = {
    version: TRACE_VERSION, ...header,
    streams: streams.map((s) => ({ cpu: s.cpu, pid: s.pid, tid: s.tid, chunks: s.chunks.length, bytes: s.chunks.reduce((n, c) => n + c.length, 0) })),
  };
  const json = Buffer.from(JSON.stringify(full));
  const parts: Uint8Array[] = [Buffer.from(TRACE_MAGIC), u32(TRACE_VERSION), u32(json.length), json];
  for (const s of streams) for (const c of s.chunks) parts.push(u32(c.length), c);
  const out = Buffer.concat(parts);
  writeFileSync(file, out);
  return out.length;
}

function u32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** A trace file read into memory: its header and each stream's compressed chunks. */
export interface TraceFile {
  header: TraceHeader;
  /** Per stream (header.streams order), its chunks, still deflated. */
  chunks: Uint8Array[][];
}

export function readTrace(file: string): TraceFile {
  const buf = readFileSync(file);
  if (buf.length < 16 || buf.subarray(0, 8).toString('latin1') !== TRACE_MAGIC) throw new Error(`${file}: not a ptlab trace`);
  const version = buf.readUInt32LE(8);
  if (version !== TRACE_VERSION) throw new Error(`${file}: trace format version ${version}; this ptlab reads version ${TRACE_VERSION}`);
  const len = buf.readUInt32LE(12);
  const header = JSON.parse(buf.subarray(16, 16 + len).toString('utf8')) as TraceHeader;
  let at = 16 + len;
  const chunks = header.streams.map((s) => {
    const out: Uint8Array[] = [];
    for (let i = 0; i < s.chunks; i++) {
      const n = buf.readUInt32LE(at);
      out.push(buf.subarray(at + 4, at + 4 + n));
      at += 4 + n;
    }
    return out;
  });
  return { header, chunks };
}

/**
 * Largest output buffer of one inflate: a recorded chunk inflates to at most 1 MiB and one
 * record (machine/traceformat.ts, CHUNK_BYTES), so a full chunk comes out in one piece
 * instead of zlib's default 16 KiB pieces joined by a copy.
 */
const INFLATE_BUFFER = (1 << 20) + 4096;
const ZLIB_DEFAULT_CHUNK = 16 << 10;

/**
 * One chunk's bytes, inflated. The output buffer is sized from the compressed size (traces
 * deflate to a half or less), so that the many small chunks of short-lived threads do not
 * each take a megabyte; a chunk that inflates to more still inflates, in pieces.
 */
export function inflateChunk(chunk: Uint8Array): Uint8Array {
  return inflateRawSync(chunk, { chunkSize: Math.min(INFLATE_BUFFER, Math.max(ZLIB_DEFAULT_CHUNK, chunk.length * 8)) });
}

/** A stream's bytes, one inflated chunk at a time. */
export function* streamBytes(chunks: readonly Uint8Array[]): Generator<Uint8Array> {
  for (const c of chunks) yield inflateChunk(c);
}
