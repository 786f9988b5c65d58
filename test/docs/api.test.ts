// The API reference (npm run docs, TypeDoc over the package's three entry points) builds
// from the code without a warning, so it cannot go stale unnoticed.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application } from 'typedoc';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

it('the API reference builds from userland, host and machine without a warning, every userland export in it', async () => {
  const out = mkdtempSync(join(tmpdir(), 'ptlab-docs-'));
  try {
    const app = await Application.bootstrapWithPlugins({ options: join(ROOT, 'typedoc.json'), out });
    const project = await app.convert();
    expect(project).toBeDefined();
    app.validate(project!);
    expect(app.logger.hasErrors()).toBe(false);
    expect(app.logger.hasWarnings()).toBe(false);
    await app.generateDocs(project!, out);
    const userland = project!.children?.find((c) => c.name === 'userland/index' || c.name === 'userland');
    const names = new Set((userland?.children ?? []).map((c) => c.name));
    const exported = Object.keys(await import('../../userland/index.ts'));
    expect(exported.filter((n) => !names.has(n))).toEqual([]);
    expect(readdirSync(out)).toContain('index.html');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
