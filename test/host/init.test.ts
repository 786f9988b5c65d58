// From a packed and installed ptlab in an empty directory: the tarball holds the product and
// nothing else; ptlab init, then the template's own npm test passes (its test boots a machine
// from 'ptlab/host' and runs its guest); ptlab check finds its files clean; the installed
// CLI runs that guest and a shipped example. Needs the package registry (or npm's cache) for the
// dependencies, as npm ci does.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const npm = (cwd: string, ...args: string[]): string => execFileSync('npm', [...args, '--no-audit', '--no-fund'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

it('ptlab init in an empty directory with ptlab installed from its tarball: the template type-checks and its npm test passes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ptlab-init-'));
  try {
    npm(ROOT, 'pack', '--pack-destination', dir);
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    const listed = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const tops = new Set(listed.map((f) => f.split('/')[1]));
    expect([...tops].sort()).toEqual(['README.md', 'bin', 'examples', 'host', 'kernel', 'machine', 'package.json', 'tsconfig.json', 'userland']);
    expect(listed).toContain('package/bin/ptlab.mjs');
    expect(listed).not.toContain('package/bin/fuzz.mjs');
    const project = join(dir, 'project');
    execFileSync('mkdir', [project]);
    npm(project, 'init', '-y');
    npm(project, 'install', tarball);
    const said = execFileSync('npx', ['ptlab', 'init', '.'], { cwd: project, encoding: 'utf8' });
    expect(said).toContain('wrote package.json (updated), tsconfig.json, main.ts, main.test.ts');
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string> };
    expect(pkg.scripts.test).toBe('vitest run');
    expect(pkg.dependencies.ptlab).toContain('.tgz'); // the install's spec is kept
    npm(project, 'install');
    expect(npm(project, 'test')).toMatch(/1 passed/);
    execFileSync('npx', ['ptlab', 'check', 'main.ts', 'main.test.ts'], { cwd: project, encoding: 'utf8' });
    execFileSync('npx', ['ptlab', 'run', 'main.ts'], { cwd: project, encoding: 'utf8' }); // exit 0, or it throws
    const example = execFileSync('npx', ['ptlab', 'run', 'node_modules/ptlab/examples/first.ts'], { cwd: project, encoding: 'utf8' });
    expect(example).toMatch(/random pages +loads 200000, L1 dTLB misses \d+, page walks \d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
