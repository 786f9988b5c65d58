import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { StatReport } from '../../host/cli.ts';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const GUEST = fileURLToPath(new URL('../guests/scenarios.ts', import.meta.url));
const OOM_GUEST = fileURLToPath(new URL('../guests/oom.ts', import.meta.url));

function ptlab(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('the ptlab command', () => {
  it('type-checks the program first: tsc\'s errors at the guest\'s own line, exit 2; check alone exits 1; --no-check runs it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-check-'));
    try {
      const bad = join(dir, 'bad.ts');
      // A unique line each run, so that no cached verdict answers.
      writeFileSync(bad, `// ${dir}\nexport default function main(): number {\n  const n: number = 'seven';\n  return n;\n}\n`);
      const run = ptlab('run', '--mem', '64M', bad);
      expect(run.code).toBe(2);
      expect(run.err).toBe(`${bad}:3:9 - error TS2322: Type 'string' is not assignable to type 'number'.\nptlab: 1 type error (--no-check runs it anyway)\n`);
      const check = ptlab('check', bad);
      expect(check.code).toBe(1);
      expect(check.err).toContain(`${bad}:3:9 - error TS2322`);
      expect(ptlab('run', '--no-check', '--mem', '64M', bad).code).toBe(0);
      expect(ptlab('check', GUEST).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a module without a default export exits 127 with the reason; argv is the arguments after PROGRAM, without its name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-127-'));
    try {
      const nodef = join(dir, 'nodef.ts');
      writeFileSync(nodef, 'export function main(): number {\n  return 0;\n}\n');
      const r = ptlab('run', '--no-check', '--mem', '64M', nodef);
      expect(r.code).toBe(127);
      expect(r.err).toContain(`ptlab: ${nodef}: no default export`);
      const args = join(dir, 'args.ts');
      writeFileSync(args, "import { print } from 'ptlab/userland';\nexport default function main(argv: string[]): number {\n  print(JSON.stringify(argv));\n  return argv.length;\n}\n");
      const a = ptlab('run', '--no-check', '--mem', '64M', args, 'one', '--two');
      expect(a.out).toBe('["one","--two"]\n');
      expect(a.code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('run: exit code is the program status, 128+signal for a signal death, with a report line', () => {
    const ok = ptlab('run', '--mem', '64M', GUEST, 'exit3');
    expect(ok.code).toBe(3);
    const segv = ptlab('run', '--mem', '64M', GUEST, 'touchAndUnmapThenTouch');
    expect(segv.code).toBe(128 + 11);
    const addr = Number(/ADDR (\d+)/.exec(segv.out)?.[1]);
    // The kernel log's segfault line (error 4: a user-mode read of a page not present), then
    // the report and the guest's frames under it (test/host/reports.test.ts has the detail).
    expect(segv.err).toMatch(new RegExp(`^\\[kernel\\] scenarios\\[\\d+\\]: segfault at ${addr.toString(16)} ip \\S+scenarios\\.ts:\\d+:\\d+ error 4\\nptlab: Segmentation fault at 0x${addr.toString(16)} \\(SEGV_MAPERR\\)\\n    at `));
    expect(segv.err).toContain('\n    at touchAndUnmapThenTouch (');
    expect(ptlab('run').code).toBe(2);
    expect(ptlab('run', '--bogus', GUEST, 'exit3').code).toBe(2);
    // Everything after PROGRAM is the program's, options included.
    expect(ptlab('run', '--mem', '64M', GUEST, 'exit3', '--mem', '-x').code).toBe(3);
    // Physical memory is one typed array: at most 4 GiB.
    const big = ptlab('run', '--mem', '5G', GUEST, 'exit3');
    expect(big.code).toBe(2);
    expect(big.err).toContain('--mem 5G: physical memory is from 4K to 4G');
    // A child killed by a signal is reported as it dies; the program itself goes on.
    const child = ptlab('run', '--mem', '64M', GUEST, 'shared-file');
    expect(child.code).toBe(0);
    expect(child.err).toMatch(/^ptlab: pid \d+ \(.*scenarios\.ts\): Bus error at 0x[0-9a-f]+ \(BUS_ADRERR\)$/m);
  }, 180_000);

  it('an example refuses an option it does not know, listing the ones it does; --help prints them', () => {
    const refpage = fileURLToPath(new URL('../../examples/refpage.ts', import.meta.url));
    const bad = ptlab('run', '--mem', '64M', refpage, '--bogus', '1');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("Unknown option '--bogus'");
    expect(bad.err).toContain('valid options: --iterations, --pages, --json, --plot, --help');
    const help = ptlab('run', '--mem', '64M', refpage, '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('--iterations VALUE');
    expect(help.out).toContain('--plot VALUE');
    expect(ptlab('run', '--mem', '64M', refpage, '--iterations', 'many').code).toBe(2);
  }, 180_000);

  it('output into a closed pipe ends ptlab with 128+SIGPIPE, not an unhandled EPIPE', async () => {
    const first = fileURLToPath(new URL('../../examples/first.ts', import.meta.url));
    const child = spawn(process.execPath, [BIN, 'run', '--mem', '64M', first, '64'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.destroy(); // closed before the program writes its first line
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(128 + 13);
    expect(err).not.toContain('EPIPE');
  }, 180_000);

  it('stat --json: per-process and machine counters in the documented shape', () => {
    const r = ptlab('stat', '--json', '--preset', 'teaching', '--mem', '64M', GUEST, 'threads');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.err) as StatReport;
    expect(report.command).toEqual([GUEST, 'threads']);
    expect(report.processes).toHaveLength(1);
    const p = report.processes[0];
    expect(p).toMatchObject({ pid: 1, ppid: 0, exitCode: 0, signal: null, threads: 3 });
    expect(p.counters.dtlb_loads).toBe(100); // exactly the two threads' 2 x 50 load32 calls
    expect(report.machine.counters.dtlb_loads).toBe(p.counters.dtlb_loads);
    expect(report.machine.kernel.syscalls).toBeGreaterThan(5);
    // The syscall table's names: the two threads' clone and join, and every call counted once.
    expect(p.syscalls.clone).toEqual({ calls: 2, errors: 0 });
    expect(p.syscalls.ptlab_thread_join).toEqual({ calls: 2, errors: 0 });
    expect(Object.values(report.machine.syscalls).reduce((n, c) => n + c.calls, 0)).toBe(report.machine.kernel.syscalls);
    expect(report.elapsedSeconds).toBeGreaterThan(0);
    const text = ptlab('stat', '--mem', '64M', GUEST, 'ids');
    expect(text.err).toMatch(/Performance counter stats for pid 1 .*\n[\s\S]*dtlb_loads +# dTLB-loads/);
    expect(text.err).toMatch(/System calls \(as strace -c counts them\):\n\n +calls +errors  syscall\n(?: +[\d,]+ +[\d,]+  \w+\n)*? +1 +0  getppid\n/);
  }, 180_000);

  it('prints the kernel log on stderr as [kernel] lines; stat --json carries it in kernelLog', () => {
    const r = ptlab('run', '--mem', '64M', OOM_GUEST, 'hog', '36', '40');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^\[kernel\] oom invoked oom-killer: gfp_mask=0x140cca\(GFP_HIGHUSER_MOVABLE\|__GFP_COMP\), order=0, oom_score_adj=0$/m);
    expect(r.err).toMatch(/^\[kernel\] Out of memory: Killed process 2 \(oom\) total-vm:\d+kB, anon-rss:\d+kB, file-rss:0kB, shmem-rss:4kB, UID:0 pgtables:\d+kB oom_score_adj:0$/m);
    // The victim, a child, is reported as it dies.
    expect(r.err).toMatch(/^ptlab: pid 2 \(.*oom\.ts\): Killed by the OOM killer \(out of memory\): total-vm:/m);
    const json = ptlab('stat', '--json', '--mem', '64M', OOM_GUEST, 'hog', '36', '40');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.err) as StatReport;
    expect(report.kernelLog).toContain('Tasks state (memory values in pages):');
    expect(report.processes.find((p) => p.pid === 2)?.report).toMatch(/^Killed by the OOM killer/);
  }, 180_000);
});
