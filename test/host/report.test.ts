// host/report.ts without a browser: what a set's section holds, and the page the command
// writes (everything inline; test/host/report.browser.test.ts opens it in Chromium).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { setReport } from '../../host/report.ts';
import { parseResults, readResults } from '../../host/results.ts';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

describe('ptlab report', () => {
  it('charts the reported values against the parameter of most values, coloured by the next', () => {
    const r = setReport(readResults(fixture('sga.jsonl')), {});
    expect(r.charts.map((c) => c.y)).toEqual(['faults', 'pte_kib']);
    expect(JSON.stringify(r.charts[0].spec)).toContain('"color":{"field":"color","type":"nominal","title":"way"}');
    expect(r.table.params).toEqual(['clients', 'way']);
    expect(r.table.rows[0]).toMatchObject({ point: { clients: 1, way: 'memfd' }, n: 2, ys: [{ mean: 128.5, min: 128, max: 129 }, { mean: 16 }] });
    expect(r.presets).toEqual([{ name: 'skylake', description: expect.stringContaining('Intel Skylake') }]);
    expect(r.machines).toEqual(['--mem 512M']);
  });

  it('takes the machine options before the program only; lists failed runs; without values charts the default counters', () => {
    const run = (cmd: string, n: number, status = 'ok') => JSON.stringify({ point: { n }, status, counters: { page_faults: n }, command: cmd });
    const r = setReport(parseResults([
      run('ptlab stat --mem 2G --preset haswell --json a.ts --mem 9', 1), run('ptlab run --swap=64M --policy random b.ts', 2),
      run('ptlab run b.ts', 3), run('ptlab run b.ts', 4, 'failed'),
    ].join('\n'), 'r'), {});
    expect(r.machines).toEqual(['--mem 2G', '--swap=64M --policy random', '(defaults: --mem 1G, no swap, --policy lru)']);
    expect(r.presets).toEqual([{ name: '?', description: '(not recorded in the results)' }]);
    expect(r.charts.map((c) => c.y)).toEqual(['page_faults']);
    expect(r.failed.map((f) => f.point.n)).toEqual([4]);
    expect(() => setReport(parseResults(run('ptlab run b.ts', 1), 'r'), { y: ['walks'] })).toThrow("no 'walks' in the results");
  });

  it('writes one page with its scripts and data inline and nothing to fetch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-report-'));
    try {
      const out = join(dir, 'r.html');
      const r = spawnSync(process.execPath, [BIN, 'report', fixture('reach.jsonl'), fixture('sga.jsonl'), '-o', out], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^ptlab report: wrote ${out} \\(\\d+ KiB\\): 2 sets, 3 charts, 40 runs\\n$`));
      const html = readFileSync(out, 'utf8');
      // No element outside the inline scripts loads anything (the scripts' own strings may name tags).
      const outside = html.replace(/<script>[\s\S]*?<\/script>/g, '');
      expect(outside).not.toMatch(/ src=|<link|<img|<iframe|@import|url\(/);
      expect(html.match(/<script>/g)).toHaveLength(4);
      expect(html).toContain("default-src 'none'");
      expect(html).toContain('ptlab stat --preset haswell --json test/guests/reach.ts --size 67108864');
      expect(html).toContain('killed by the OOM killer');
      expect(html).toContain(`Node ${process.version}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
