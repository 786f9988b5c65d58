// Bundling TypeScript for worker threads with esbuild (DESIGN section 10: Node 20 does not
// give workers the parent's TypeScript loader, and a bundled entry starts as fast as a bare
// worker). Bundles are written once per content hash to a cache directory.

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(tmpdir(), `ptlab-bundles-${process.getuid?.() ?? 0}`);
const USERLAND = join(ROOT, 'userland', 'index.ts');

/** Path of a file of this package. */
export function rootPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/**
 * Bundle the module at `entry` into one ES module file and return its file: URL. Guest code
 * importing 'ptlab/userland' gets this package's userland.
 */
export async function bundle(entry: string, name: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
    alias: { 'ptlab/userland': USERLAND },
    // Bundled CommonJS dependencies (msgpackr's optional parts) may call require().
    banner: { js: "import { createRequire as __ptlabRequire } from 'node:module'; const require = __ptlabRequire(import.meta.url);" },
  });
  const text = out.outputFiles[0].text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  mkdirSync(CACHE, { recursive: true });
  const file = join(CACHE, `${name}-${hash}.mjs`);
  if (!existsSync(file)) writeFileSync(file, text);
  return pathToFileURL(file).href;
}
