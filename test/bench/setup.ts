// vitest globalSetup: gives this run's bench files one file to record their rows in (see
// report.ts) and, after the last bench file, prints the table of every row recorded. A test
// run (`vitest run`) records no rows and prints nothing.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatTable, ROWS_ENV, type Row } from './report.ts';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'ptlab-bench-'));
  const file = join(dir, 'rows.jsonl');
  process.env[ROWS_ENV] = file;
  const started = new Date();
  return () => {
    const rows = existsSync(file)
      ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Row)
      : [];
    rmSync(dir, { recursive: true, force: true });
    if (rows.length === 0) return;
    const when = `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    const argv = process.argv.slice(2).join(' ');
    console.log(`\nptlab speed, DESIGN.md section 8 (one run: vitest ${argv}, ${when}, Node ${process.versions.node}):\n\n${formatTable(rows)}\n`);
  };
}
