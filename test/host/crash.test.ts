// After a kernel crash in the middle of a spawn storm (workers starting and exiting at that
// moment), every worker is terminated: the host process exits by itself, promptly.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./crash-storm.ts', import.meta.url));

it('a crash during a spawn storm leaves no worker behind: the host exits on its own, each of several times', () => {
  for (const ms of [150, 400, 900]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, String(ms)], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal, `after ${ms} ms: ${r.stderr}`).toBeNull(); // not killed by the timeout
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('crashed: true\ndown\n');
  }
}, 200_000);
