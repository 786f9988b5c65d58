// Differential test: Linux is the oracle. The same seeded random scripts of mmap, munmap,
// mprotect and madvise run natively on the host kernel (a C helper compiled here with the
// system compiler) and on ptlab's kernel code; every result, errno and the resulting
// /proc/self/maps lines of the range must be identical. DIFF_SCRIPTS sets how many.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { randomScript, runOnPtlab, scriptText } from './scripts.ts';

const SCRIPTS = Number(process.env.DIFF_SCRIPTS ?? 2000);
const SEED = Number(process.env.DIFF_SEED ?? 1000);
const SOURCE = fileURLToPath(new URL('./helper.c', import.meta.url));

function compile(): string | null {
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (cc.status !== 0) return null;
  const out = join(mkdtempSync(join(tmpdir(), 'ptlab-diff-')), 'helper');
  execFileSync('cc', ['-O2', '-o', out, SOURCE]);
  return out;
}

const helper = process.platform === 'linux' ? compile() : null;
if (helper === null) console.warn('differential test skipped: no C compiler (cc) or not Linux');

describe.skipIf(helper === null)('ptlab against the host Linux kernel', () => {
  it(`gives the same results, errnos and maps for ${SCRIPTS} random scripts`, () => {
    const scripts = Array.from({ length: SCRIPTS }, (_, i) => randomScript(SEED + i));
    const native = execFileSync(helper!, { input: scripts.map(scriptText).join(''), encoding: 'utf8', maxBuffer: 1 << 28 })
      .split('end\n').slice(0, -1).map((s) => `${s}end\n`);
    expect(native).toHaveLength(SCRIPTS);
    let ops = 0;
    for (let i = 0; i < SCRIPTS; i++) {
      ops += scripts[i].length;
      const mine = runOnPtlab(scripts[i]);
      if (mine !== native[i]) {
        expect(mine, `script seed ${SEED + i}:\n${scriptText(scripts[i])}`).toBe(native[i]);
      }
    }
    console.log(`differential: ${SCRIPTS} scripts, ${ops} operations, identical to Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}`);
  }, 120_000);
});
