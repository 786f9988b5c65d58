// A guest killed by its own access names its own file and line: `ptlab run`'s stderr has
// the kernel log's "segfault at" line (Linux's show_signal_msg, the guest's source place
// for ip) and the death's report with the guest's frames under it; the same for SIGBUS and
// for a fault in a second thread, and for a kernel bug met in a guest's system call (lkdtm's
// BUG, on a machine run with --lkdtm): the report names the line of the call. Each case's line is the one of test/guests/dies.ts marked
// "dies: CASE".
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const DIES = fileURLToPath(new URL('../guests/dies.ts', import.meta.url));

/** "dies.ts:LINE:COL" of the call of `fn` on the line marked "dies: how". */
function place(how: string, fn: string): string {
  const lines = readFileSync(DIES, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.endsWith(`// dies: ${how}`));
  return `${DIES}:${i + 1}:${lines[i].indexOf(`${fn}(`) + 1}`;
}

function run(how: string, ...options: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'run', '--no-check', '--mem', '64M', ...options, DIES, how], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, err: r.stderr };
}

describe('a guest killed by its own access', () => {
  it('SIGSEGV: the kernel log says where (ip is the guest\'s line) and the report lists the guest\'s frames', () => {
    const r = run('segv');
    expect(r.code).toBe(128 + 11);
    const at = place('segv', 'store32');
    // store32(0x10, ...): a user-mode write to a page not present (error code 6).
    expect(r.err).toMatch(new RegExp(`^\\[kernel\\] dies\\[\\d+\\]: segfault at 10 ip ${esc(at)} error 6\\n`));
    expect(r.err).toContain(`ptlab: Segmentation fault at 0x10 (SEGV_MAPERR)\n    at storeUnmapped (${at})\n    at main (${DIES}:`);
  }, 150_000);

  it('SIGBUS: the report names the load past the end of the truncated file', () => {
    const r = run('bus');
    expect(r.code).toBe(128 + 7);
    expect(r.err).toMatch(/^ptlab: Bus error at 0x[0-9a-f]+ \(BUS_ADRERR\)\n/);
    expect(r.err).toContain(`\n    at loadTruncated (${place('bus', 'load32')})\n    at main (${DIES}:`);
    expect(r.err).not.toContain('segfault');
  }, 150_000);

  it('in a second thread: the report is that thread\'s, from the thread function down', () => {
    const r = run('thread');
    expect(r.code).toBe(128 + 11);
    const at = place('segv', 'store32');
    expect(r.err).toMatch(new RegExp(`^\\[kernel\\] dies\\[\\d+\\]: segfault at 10 ip ${esc(at)} error 6\\n`));
    expect(r.err).toContain(`\n    at storeUnmapped (${at})\n    at thread (${DIES}:`);
  }, 150_000);

  it('a kernel bug in its system call (an oops): the report names the guest\'s line of the call', () => {
    const r = run('oops', '--lkdtm');
    expect(r.code).toBe(128 + 9);
    expect(r.err).toMatch(/^ptlab: Killed by a kernel bug \(oops\): KernelBug: lkdtm_BUG: BUG\(\) provoked through \/sys\/kernel\/debug\/provoke-crash\/DIRECT; the machine's state validated, the machine goes on\n/);
    // ptlab's userland wrappers (writeFile, write, ...) first, then the guest's call.
    expect(r.err).toContain(`\n    at provokeBug (${place('oops', 'writeFile')})\n    at main (${DIES}:`);
  }, 150_000);
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
