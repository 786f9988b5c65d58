// Differential test: Linux is the oracle. The same seeded random scripts of mmap, munmap,
// mprotect, madvise, mseal, mlock, mincore and mremap run natively on the host kernel (a C
// helper compiled here with the system compiler) and as a ptlab guest process (guest.ts);
// every result and errno, the /proc/self/maps lines of the range and the smaps figures of
// its VMAs must be identical. The ptlab machine checks the address space (validateMm) after
// every syscall and fault. DIFF_SCRIPTS sets how many scripts, DIFF_SEED the first seed.
//
// Host kernels differ in one policy that smaps shows: upstream Linux maps the shared zero
// page on a read fault of private anonymous memory (not in Rss), while some builds (this
// project's CI host, 6.18.44-fc, among them) allocate a page as a write fault would. The
// test asks the host which it does and boots ptlab with the same policy (its zeroPage
// option); the zero-page behaviour itself is tested against the reference elsewhere. The
// same for soft-dirty tracking and for names of anonymous memory (prctl PR_SET_VMA), which
// that host's kernel is built without (there every vmaname operation is EINVAL, and
// test/kernel/mm/anon_name.test.ts holds the expectations from Linux's source).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Machine } from '../../host/machine.ts';
import { CASES } from './cases.ts';
import { parseScript, randomScript, scriptText } from './scripts.ts';

const SCRIPTS = Number(process.env.DIFF_SCRIPTS ?? 2000);
const SEED = Number(process.env.DIFF_SEED ?? 1000);
const SOURCE = fileURLToPath(new URL('./helper.c', import.meta.url));
const GUEST = fileURLToPath(new URL('./guest.ts', import.meta.url));

function compile(): string | null {
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (cc.status !== 0) return null;
  const out = join(mkdtempSync(join(tmpdir(), 'ptlab-diff-')), 'helper');
  execFileSync('cc', ['-O2', '-o', out, SOURCE]);
  return out;
}

const helper = process.platform === 'linux' ? compile() : null;
if (helper === null) console.warn('differential test skipped: no C compiler (cc) or not Linux');

/** Output split into one text per script. */
const perScript = (text: string) => text.split('end\n').slice(0, -1).map((s) => `${s}end\n`);

describe.skipIf(helper === null)('ptlab against the host Linux kernel', () => {
  const zeroPage = helper !== null && execFileSync(helper, ['zeropage'], { encoding: 'utf8' }).trim() === '1';
  const softDirty = helper !== null && execFileSync(helper, ['softdirty'], { encoding: 'utf8' }).trim() === '1';
  const anonVmaName = helper !== null && execFileSync(helper, ['anonname'], { encoding: 'utf8' }).trim() === '1';

  it(`gives the same results, maps and smaps for the ${Object.keys(CASES).length} hand-written check-order cases`, async () => {
    const names = Object.keys(CASES);
    const scripts = Object.values(CASES).map(parseScript);
    const native = perScript(execFileSync(helper!, { input: scripts.map(scriptText).join(''), encoding: 'utf8' }));
    expect(native).toHaveLength(names.length);
    let text = '';
    const m = await Machine.boot({ memBytes: 256 << 20, nrCpus: 4, validate: true, zeroPage, softDirty, anonVmaName, output: (_pid, _fd, d) => { text += new TextDecoder().decode(d); } });
    try {
      const e = await m.run(GUEST, ['cases']);
      expect(e.report).toBe('');
    } finally {
      await m.shutdown();
    }
    const mine = perScript(text);
    for (let i = 0; i < names.length; i++) expect(mine[i], `${names[i]}:\n${scriptText(scripts[i])}`).toBe(native[i]);
  }, 60_000);

  it(`gives the same results, errnos, maps and smaps for ${SCRIPTS} random scripts`, async () => {
    // In chunks, each a fresh process on both sides: mappings sealed by one script stay for
    // the rest of the process, and reading /proc costs more with each.
    const CHUNK = 100;
    let text = '';
    const m = await Machine.boot({ memBytes: 256 << 20, nrCpus: 4, validate: true, zeroPage, softDirty, anonVmaName, output: (_pid, _fd, d) => { text += new TextDecoder().decode(d); } });
    let ops = 0;
    try {
      for (let first = 0; first < SCRIPTS; first += CHUNK) {
        const n = Math.min(CHUNK, SCRIPTS - first);
        const scripts = Array.from({ length: n }, (_, i) => randomScript(SEED + first + i));
        const native = perScript(execFileSync(helper!, { input: scripts.map(scriptText).join(''), encoding: 'utf8', maxBuffer: 1 << 28 }));
        expect(native).toHaveLength(n);
        text = '';
        const e = await m.run(GUEST, [String(SEED + first), String(n)]);
        expect(e.report).toBe('');
        expect(e.exitCode).toBe(0);
        const mine = perScript(text);
        expect(mine).toHaveLength(n);
        for (let i = 0; i < n; i++) {
          ops += scripts[i].length;
          if (mine[i] !== native[i]) expect(mine[i], `script seed ${SEED + first + i}:\n${scriptText(scripts[i])}`).toBe(native[i]);
        }
      }
    } finally {
      await m.shutdown();
    }
    console.log(`differential: ${SCRIPTS} scripts, ${ops} operations, identical to Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()} (${zeroPage ? 'zero page on read faults' : 'no zero page: pages allocated on read faults'})`);
  }, 600_000);
});
