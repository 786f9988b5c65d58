// Analyses over the reader (reader.ts): each a few lines over accesses() or records().

import { deflateRawSync } from 'node:zlib';
import { T_ACCESS, TraceWriter, traceBuffer } from '../../machine/index.ts';
import { RECORD_TYPES, records, accesses, type TraceRecord } from './reader.ts';
import { readTrace, writeTrace, type TraceFile, type TraceHeader } from './file.ts';

/**
 * Reuse distances of each CPU stream's 4 KiB pages: for each access, the number of distinct
 * pages touched since the last access to its page (a Fenwick tree over access times).
 * Returns counts by bucket: 'cold', '0', '1', '2-3', '4-7', ...
 */
export function reuseHistogram(trace: TraceFile): Map<string, number> {
  const hist = new Map<string, number>();
  const add = (k: string, n: number) => hist.set(k, (hist.get(k) ?? 0) + n);
  let stream = -1;
  let last = new Map<number, number>();
  let tree: Int32Array = new Int32Array(1);
  let now = 0;
  let prev = -1;
  const bump = (i: number, d: number) => { for (let x = i + 1; x < tree.length; x += x & -x) tree[x] += d; };
  const sum = (i: number) => { let s = 0; for (let x = i + 1; x > 0; x -= x & -x) s += tree[x]; return s; };
  for (const a of accesses(trace)) {
    const key = a.cpu * 1e6 + a.tid;
    if (key !== stream) {
      stream = key;
      last = new Map();
      tree = new Int32Array(1024);
      now = 0;
      prev = -1;
    }
    if (a.page === prev) {
      add('0', 1);
      continue;
    }
    prev = a.page;
    if (now + 2 >= tree.length) {
      const bigger = new Int32Array(tree.length * 2);
      // A Fenwick tree rebuilt from its live points.
      tree = bigger;
      for (const t of last.values()) bump(t, 1);
    }
    const t = last.get(a.page);
    if (t === undefined) add('cold', 1);
    else {
      const d = sum(now - 1) - sum(t);
      add(d === 0 ? '0' : d === 1 ? '1' : `${2 ** Math.floor(Math.log2(d))}-${2 ** (Math.floor(Math.log2(d)) + 1) - 1}`, 1);
      bump(t, -1);
    }
    last.set(a.page, now);
    bump(now, 1);
    now++;
  }
  return hist;
}

/** Working-set size: distinct 4 KiB pages in each window of `window` accesses, per stream. */
export function* workingSets(trace: TraceFile, window: number): Generator<{ cpu: number; pid: number; tid: number; index: number; accesses: number; pages: number; hugeRegions: number }> {
  let stream = -1;
  let pages = new Set<number>();
  let regions = new Set<number>();
  let n = 0;
  let index = 0;
  let cur = { cpu: 0, pid: 0, tid: 0 };
  const row = () => ({ ...cur, index, accesses: n, pages: pages.size, hugeRegions: regions.size });
  for (const a of accesses(trace)) {
    const key = a.cpu * 1e6 + a.tid;
    if (key !== stream) {
      if (n > 0) yield row();
      stream = key;
      cur = { cpu: a.cpu, pid: a.pid, tid: a.tid };
      index = 0;
      n = 0;
      pages = new Set();
      regions = new Set();
    }
    pages.add(a.page);
    regions.add(Math.floor(a.page / 512));
    if (++n === window) {
      yield row();
      index++;
      n = 0;
      pages = new Set();
      regions = new Set();
    }
  }
  if (n > 0) yield row();
}

const CSV_HEAD = 'stream,cpu,pid,tid,type,param,a,b,c,d';

/** The trace as CSV: its header as a '#' line of JSON, then one line per record. */
export function* toCsvLines(trace: TraceFile): Generator<string> {
  yield `# ${JSON.stringify(trace.header)}`;
  yield CSV_HEAD;
  for (const r of records(trace)) {
    const s = trace.header.streams[r.stream];
    yield [r.stream, s.cpu, s.pid, s.tid, r.type, r.param, r.a, r.b, r.c, r.d].join(',');
  }
}

/** A trace file from toCsvLines' text: the same header and records. Returns its size. */
export function fromCsv(text: string, file: string): number {
  const lines = text.split('\n').filter((l) => l !== '');
  if (!lines[0]?.startsWith('# ') || lines[1] !== CSV_HEAD) throw new Error(`not a ptlab trace CSV (first lines: '# {header}', '${CSV_HEAD}')`);
  const header = JSON.parse(lines[0].slice(2)) as TraceHeader;
  const writers = header.streams.map(() => {
    const w = new TraceWriter(traceBuffer());
    const chunks: Uint8Array[] = [];
    w.onChunk = (b) => chunks.push(deflateRawSync(b));
    return { w, chunks };
  });
  for (const line of lines.slice(2)) {
    const f = line.split(',');
    const r: TraceRecord = { stream: Number(f[0]), type: f[4] as TraceRecord['type'], param: Number(f[5]), a: Number(f[6]), b: Number(f[7]), c: Number(f[8]), d: Number(f[9]) };
    const t = RECORD_TYPES.indexOf(r.type);
    const { w } = writers[r.stream];
    if (t === T_ACCESS) for (let i = 0; i < r.b; i++) w.access(r.a, r.param);
    else w.event(t, r.param, ...fieldsOf(r.type, r));
  }
  const streams = header.streams.map((s, i) => {
    const { w, chunks } = writers[i];
    chunks.push(deflateRawSync(w.finish()));
    return { ...s, chunks };
  });
  return writeTrace(file, { command: header.command, config: header.config, processes: header.processes }, streams);
}

/** The varint fields a record of `type` has (reader.ts). */
function fieldsOf(type: TraceRecord['type'], r: TraceRecord): number[] {
  if (type === 'walk' || type === 'invlpg') return [r.a];
  if (type === 'cr3' || type === 'invpcid') return [r.a, r.b];
  if (type === 'ipi') return [r.a, r.b, r.c, r.d];
  return [];
}

export { readTrace };
