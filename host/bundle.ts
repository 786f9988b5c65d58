// Bundling TypeScript for worker threads with esbuild (DESIGN section 10: Node 20 does not
// give workers the parent's TypeScript loader, and a bundled entry starts as fast as a bare
// worker). Bundles are written once per content hash to a cache directory.

import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where bundles (and the type checker's verdicts, host/check.ts) are kept, by content hash. */
export const CACHE = join(tmpdir(), `ptlab-bundles-${process.getuid?.() ?? 0}`);
/** The module 'ptlab/userland' names in a guest. */
export const USERLAND = join(ROOT, 'userland', 'index.ts');

/** Path of a file of this package. */
export function rootPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/**
 * msgpackr (the control ring's encoding) has no side effects a bundle relies on: marked so,
 * a bundle that never uses the ring (the CPU runtime, guests) leaves it out instead of
 * loading it, and its probe for a native addon, in every CPU worker.
 */
const unusedMsgpackrDropped: Plugin = {
  name: 'ptlab-msgpackr-side-effect-free',
  setup(b) {
    b.onResolve({ filter: /^msgpackr$/ }, async (args) => {
      if (args.pluginData === 'ptlab-msgpackr') return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'ptlab-msgpackr' });
      return { ...r, sideEffects: false };
    });
  },
};

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
    // The map in a file of its own: Node reads it only with --enable-source-maps, where an
    // inline map is source text every worker holds (about 0.6 MiB for the CPU runtime).
    sourcemap: 'external',
    outfile: join(CACHE, `${name}.mjs`),
    logLevel: 'silent',
    alias: { 'ptlab/userland': USERLAND },
    plugins: [unusedMsgpackrDropped],
    // Bundled CommonJS dependencies (msgpackr's optional parts) may call require().
    banner: { js: "import { createRequire as __ptlabRequire } from 'node:module'; const require = __ptlabRequire(import.meta.url);" },
  });
  const code = out.outputFiles.find((f) => f.path.endsWith('.mjs'))!.text;
  const map = out.outputFiles.find((f) => f.path.endsWith('.map'))!.text;
  const hash = createHash('sha256').update(code).update(map).digest('hex').slice(0, 16);
  mkdirSync(CACHE, { recursive: true });
  const file = join(CACHE, `${name}-${hash}.mjs`);
  if (!existsSync(file)) {
    writeFileSync(`${file}.map`, map);
    writeFileSync(file, `${code}//# sourceMappingURL=${name}-${hash}.mjs.map\n`);
  }
  return pathToFileURL(file).href;
}
