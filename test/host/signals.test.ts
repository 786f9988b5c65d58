// SIGINT and SIGTERM sent to the ptlab host in the middle of a spawn storm (workers starting
// and exiting at that moment), at several delays: the host process ends by that signal, as
// a Unix command that does not handle it does (a shell shows 130 and 143), and nothing is
// left running. A hang would show as the generous deadline below killing it instead.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const STORM = fileURLToPath(new URL('../guests/storm.ts', import.meta.url));

/** Run the storm under `ptlab run`; `ms` after it says "storming", send `sig`. How the host ended. */
function stormThenSignal(sig: NodeJS.Signals, ms: number): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string; hung: boolean }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, 'run', '--no-check', '--mem', '64M', STORM, 'announce'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let hung = false;
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.stdout.setEncoding('utf8').once('data', () => setTimeout(() => c.kill(sig), ms));
    // Not a timing assertion: only a host that never exits meets this.
    const deadline = setTimeout(() => {
      hung = true;
      c.kill('SIGKILL');
    }, 120_000);
    c.once('exit', (code, signal) => {
      clearTimeout(deadline);
      resolve({ signal, code, stderr, hung });
    });
  });
}

it('SIGINT and SIGTERM during a spawn storm end the host by that signal, each at several delays', async () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    for (const ms of [0, 40, 300]) {
      const r = await stormThenSignal(sig, ms);
      expect(r.hung, `${sig} after ${ms} ms: ${r.stderr}`).toBe(false);
      expect({ signal: r.signal, code: r.code }, r.stderr).toEqual({ signal: sig, code: null });
    }
  }
}, 900_000);
