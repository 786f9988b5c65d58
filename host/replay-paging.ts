// `ptlab replay --paging POLICY --frames N` (host/paging.ts): the faults a fixed number of
// frames takes under a replacement policy, for a reference string (--refs 1,2,3,...: the
// textbook exercise, --show draws its table) or a recorded trace's accesses (pages of
// 4 KiB, per process or all processes sharing the frames).

import { parseArgs } from 'node:util';
import { type PagingResult, type Policy, POLICIES, type ProcessRef, simulate, simulateProcesses } from './paging.ts';
import { accesses } from './trace/reader.ts';

export const PAGING_USAGE = `usage: ptlab replay --paging fifo|lru|clock|opt|linux|all --frames N (--refs 1,2,3,... [--show] | TRACE [--per-process]) [--json]
  --refs LIST      a reference string (page numbers, comma-separated)
  --frames N       frames of memory
  --paging P       the replacement policy, or all to compare them
  --show           the frames after each reference, as textbooks draw them (with --refs)
  --per-process    each process of TRACE has N frames of its own (default: all share N)
  --json           the results as JSON
`;

function fail(msg: string): number {
  process.stderr.write(`ptlab replay: ${msg}\n`);
  return 2;
}

const line = (r: PagingResult): string => `faults: ${r.faults}   hits: ${r.hits}   evictions: ${r.evictions}`;

/** The textbook table: a column per reference, a row per frame, * under a fault. */
function showTable(refs: readonly number[], frames: number, policy: Policy): string {
  const cols: string[][] = [];
  simulate(refs, frames, policy, (i, fault, slots) => {
    cols.push([String(refs[i]), ...slots.map((p) => (p === null ? '' : String(p))), fault ? '*' : '']);
  });
  const w = Math.max(1, ...cols.flat().map((c) => c.length));
  const rows = ['ref', ...Array.from({ length: frames }, (_, f) => `f${f}`), 'fault'];
  return rows.map((name, r) => `${name.padEnd(6)}${cols.map((c) => c[r]!.padStart(w)).join(' ')}`).join('\n') + '\n';
}

export function pagingMain(args: string[]): number {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        refs: { type: 'string' }, frames: { type: 'string' }, paging: { type: 'string' }, show: { type: 'boolean' },
        'per-process': { type: 'boolean' }, json: { type: 'boolean' },
      },
    }));
  } catch (e) {
    return fail(`${e instanceof Error ? e.message : String(e)}\n${PAGING_USAGE}`);
  }
  const frames = Number(values.frames);
  if (!Number.isInteger(frames) || frames < 1) return fail(`--frames takes a positive integer\n${PAGING_USAGE}`);
  const p = values.paging ?? '';
  const policies = p === 'all' ? [...POLICIES] : (POLICIES as readonly string[]).includes(p) ? [p as Policy] : null;
  if (policies === null) return fail(`--paging takes ${POLICIES.join(', ')} or all, not '${p}'`);
  let refs: ProcessRef[];
  let source: string;
  if (values.refs !== undefined) {
    if (positionals.length > 0) return fail('--refs or a TRACE, not both');
    const pages = values.refs.split(',').map((x) => Number(x.trim()));
    if (pages.some((x) => !Number.isSafeInteger(x))) return fail('--refs takes integers separated by commas');
    refs = pages.map((page) => ({ pid: 0, page }));
    source = `${pages.length} references`;
  } else {
    if (positionals.length !== 1) return fail(`a TRACE or --refs\n${PAGING_USAGE}`);
    if (values.show === true) return fail('--show draws a reference string (--refs), not a trace');
    try {
      refs = [];
      // Pages of 4 KiB: a huge page's accesses count as the 4 KiB pages they touch.
      for (const a of accesses(positionals[0]!)) refs.push({ pid: a.pid, page: a.page });
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
    source = `${positionals[0]}: ${refs.length} accesses`;
  }
  const perProcess = values['per-process'] === true;
  const out = policies.map((policy) => ({ policy, ...simulateProcesses(refs, frames, policy, perProcess) }));
  if (values.json === true) {
    const json = out.map((o) => ({ policy: o.policy, frames, perProcess, ...o.total, processes: Object.fromEntries([...o.byPid].map(([pid, r]) => [pid, r])) }));
    process.stdout.write(`${JSON.stringify(policies.length === 1 ? json[0] : json)}\n`);
    return 0;
  }
  process.stdout.write(`${source}, ${frames} frames${perProcess ? ' per process' : ''}\n`);
  const tracePids = values.refs === undefined;
  for (const o of out) {
    if (values.show === true) process.stdout.write(`\n${o.policy}:\n${showTable(refs.map((r) => r.page), frames, o.policy)}`);
    process.stdout.write(`${o.policy.padEnd(6)} ${line(o.total)}\n`);
    if (tracePids && o.byPid.size > 1) for (const [pid, r] of o.byPid) process.stdout.write(`  pid ${pid}: faults: ${r.faults}   hits: ${r.hits}\n`);
  }
  return 0;
}
