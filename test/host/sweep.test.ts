// ptlab sweep: grid expansion and sharding (pure), and whole sweeps of a tiny guest
// (test/guests/sweep-point.ts, which reports its page count and fails when told to): records with
// counters and report() values, resume, a failing point, shards merged.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dedupe, expand, parseAxis, parseShard, readResults, runKey, shardOf, toCsv, type Axis, type RunRecord } from '../../host/grid.ts';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const GUEST = fileURLToPath(new URL('../guests/sweep-point.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ptlab-sweep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sweep(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'sweep', ...args], { encoding: 'utf8', timeout: 280_000 });
  return { code: r.status, err: r.stderr };
}
const records = (f: string): RunRecord[] => readResults(f).records;
const keys = (rs: RunRecord[]): string[] => rs.map((r) => runKey(r.point, r.repeat)).sort();

describe('sweep grids', () => {
  it('parses lists and ranges; plain numbers become numbers, anything else stays as typed', () => {
    const a = parseAxis('size=1M, 4M,64') as Axis;
    expect(a.values.map((v) => v.value)).toEqual(['1M', '4M', 64]);
    expect((parseAxis('n=1..4') as Axis).values.map((v) => v.value)).toEqual([1, 2, 3, 4]);
    expect((parseAxis('n=0..1:0.25') as Axis).values.map((v) => v.text)).toEqual(['0', '0.25', '0.5', '0.75', '1']);
    expect((parseAxis('n=1..64*4,100') as Axis).values.map((v) => v.value)).toEqual([1, 4, 16, 64, 100]);
    expect(parseAxis('n=4..1')).toMatch(/bad range/);
    expect(parseAxis('=1')).toMatch(/NAME=V1/);
    expect(parseAxis('n=1,,2')).toMatch(/empty value/);
  });

  it('expands with the first parameter slowest; N shards partition the runs; dedupe keeps ok runs', () => {
    const pts = expand([parseAxis('a=1,2') as Axis, parseAxis('b=x,y,z') as Axis]);
    expect(pts.map((p) => `${p.texts.a}${p.texts.b}`)).toEqual(['1x', '1y', '1z', '2x', '2y', '2z']);
    const runs = pts.map((_, i) => i);
    for (const n of [1, 2, 4, 7]) {
      const shards = Array.from({ length: n }, (_, i) => shardOf(runs, { index: i + 1, count: n }));
      expect(shards.flat().sort((x, y) => x - y)).toEqual(runs); // each run in exactly one shard
    }
    expect(shardOf(runs, { index: 2, count: 4 })).toEqual([1, 5]);
    expect(parseShard('3/2')).toMatch(/I\/N/);
    expect(parseShard('2/8')).toEqual({ index: 2, count: 8 });
    const rec = (status: 'ok' | 'failed', repeat = 0): RunRecord => ({
      point: { b: 'x', a: 1 }, repeat, status, exit: 0, signal: null, error: null, counters: { c: 1 }, values: { v: 2 },
      command: 'ptlab stat x', elapsed_s: 1, env: { ptlab: '0', node: 'v20', host: 'h', preset: 'skylake' },
    });
    expect(dedupe([rec('failed'), { ...rec('ok'), point: { a: 1, b: 'x' } }, rec('failed'), rec('ok', 1)]).map((r) => [r.status, r.repeat])).toEqual([['ok', 0], ['ok', 1]]);
    expect(toCsv([{ ...rec('failed'), error: 'a "quoted",\nline' }])).toBe(
      'b,a,repeat,status,exit,signal,error,elapsed_s,c,v,command\nx,1,0,failed,0,,,1,1,2,ptlab stat x\n'.replace(',,,1,1', ',,"a ""quoted"",\nline",1,1'),
    );
  });
});

describe('ptlab sweep', () => {
  const out = join(dir, 'all.jsonl');

  it('runs a 2x2 grid, 2 at once: 4 records with counters and report() values; run again, only new points run', () => {
    const r = sweep('--no-check', '--mem', '64M', '-j', '2', '-p', 'pages=4,8', '-p', 'preset=skylake,teaching', '-o', out, '--csv', join(dir, 'all.csv'), GUEST, '{pages}');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('4 runs, 0 in');
    expect(r.err.match(/^ptlab sweep: \[\d\/4, .* left\] ok pages=\d preset=\w+ #0 \(/gm)).toHaveLength(4);
    const rs = records(out);
    expect(rs).toHaveLength(4);
    for (const rec of rs) {
      expect(rec.status).toBe('ok');
      expect(rec.counters.dtlb_loads).toBe(rec.point.pages);
      expect(rec.counters.pgfault).toBeGreaterThan(0);
      expect(rec.values).toEqual({ pages: rec.point.pages, sum: rec.point.pages === 4 ? 6 : 28, walks: 0 });
      expect(rec.env.preset).toBe(rec.point.preset);
      expect(rec.command).toBe(`ptlab stat --mem 64M --preset ${rec.point.preset as string} ${GUEST} ${rec.point.pages}`);
    }
    expect(keys(rs)).toEqual(keys(rs.map((x) => ({ ...x })))); // keys are stable
    const csv = readFileSync(join(dir, 'all.csv'), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(5);
    expect(csv[0]).toMatch(/^pages,preset,repeat,status,exit,signal,error,elapsed_s,cycles,dtlb_loads,/);
    // Again with a third page count: the 4 runs in the file are skipped.
    const again = sweep('--no-check', '--mem', '64M', '-j', '2', '-p', 'pages=4,8,16', '-p', 'preset=skylake,teaching', '-o', out, GUEST, '{pages}');
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain('6 runs, 4 in');
    expect(again.err).toContain('2 to run');
    expect(records(out).filter((x) => x.point.pages === 16)).toHaveLength(2);
    expect(records(out)).toHaveLength(6);
  }, 300_000);

  it('a failing point is recorded with its exit status and error; the others complete; a cut-short last line is dropped', () => {
    const f = join(dir, 'fail.jsonl');
    writeFileSync(f, '{"point":{"pag'); // a sweep killed while writing its first record
    const r = sweep('--no-check', '--mem', '64M', '-j', '2', '-p', 'pages=4,8', '-o', f, GUEST, '{pages}', '8');
    expect(r.code).toBe(1);
    const rs = records(f);
    expect(rs).toHaveLength(2);
    const bad = rs.find((x) => x.point.pages === 8)!;
    expect(bad).toMatchObject({ status: 'failed', exit: 1, signal: null });
    expect(bad.error).toContain('failing for 8 pages, as asked');
    expect(rs.find((x) => x.point.pages === 4)).toMatchObject({ status: 'ok', exit: 0, error: null, values: { pages: 4 } });
  }, 300_000);

  it('shards 1/2 and 2/2, merged, hold the same runs as the whole sweep; merging again dedupes', () => {
    const grid = ['--no-check', '--mem', '64M', '-j', '2', '-p', 'pages=4,8', '-p', 'preset=skylake,teaching'];
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    expect(sweep(...grid, '--shard', '1/2', '-o', a, GUEST, '{pages}').code).toBe(0);
    expect(sweep(...grid, '--shard', '2/2', '-o', b, GUEST, '{pages}').code).toBe(0);
    expect(records(a)).toHaveLength(2);
    expect(records(b)).toHaveLength(2);
    const merged = join(dir, 'merged.jsonl');
    const m = sweep('--merge', a, b, a, '-o', merged);
    expect(m.code, m.err).toBe(0);
    expect(m.err).toContain('merged 6 records of 3 files into 4');
    const whole = records(out).filter((x) => x.point.pages !== 16);
    expect(keys(records(merged))).toEqual(keys(whole));
  }, 300_000);

  it('refuses a parameter used nowhere and a {NAME} that names none', () => {
    expect(sweep('-p', 'x=1', '-o', join(dir, 'n.jsonl'), GUEST).err).toContain("parameter 'x' is used nowhere");
    expect(sweep('-o', join(dir, 'n.jsonl'), GUEST, '{y}').err).toContain('{y} names no parameter');
  }, 60_000);
});
