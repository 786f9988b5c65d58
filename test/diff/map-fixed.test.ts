// examples/map-fixed.ts's "Linux 6.18" column is what the host's Linux does: the same calls
// in C (test/diff/map-fixed.c), compiled and run here, give the same words. Skipped without
// a C compiler, without mseal (Linux before 6.10), or with 2 MiB pages in the host's pool.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SOURCE = fileURLToPath(new URL('./map-fixed.c', import.meta.url));
const EXAMPLE = readFileSync(fileURLToPath(new URL('../../examples/map-fixed.ts', import.meta.url)), 'utf8');
const POOL = '/proc/sys/vm/nr_hugepages';

const usable = process.platform === 'linux' && spawnSync('cc', ['--version']).status === 0
  && existsSync(POOL) && readFileSync(POOL, 'utf8').trim() === '0';

it.skipIf(!usable)('the failing MAP_FIXED cases give on the host Linux what the example says Linux gives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'map-fixed-'));
  try {
    const bin = join(dir, 'map-fixed');
    execFileSync('cc', ['-O1', '-o', bin, SOURCE]);
    const run = spawnSync(bin, { encoding: 'utf8' });
    if (run.status === 2) return; // no mseal on this kernel
    expect(run.status).toBe(0);
    // rows.push(['case', 'ERRNO', 'AFTER', ...]) in the example, in order.
    const said = [...EXAMPLE.matchAll(/rows\.push\(\['[^']+', '([^']+)', '([^']+)'/g)].map((m) => `${m[1]}, ${m[2]}`);
    expect(said).toHaveLength(4);
    expect(run.stdout.trim().split('\n')).toEqual(said);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
