// Bundling TypeScript for worker threads with esbuild (DESIGN section 10: Node 20 does not
// give workers the parent's TypeScript loader, and a bundled entry starts as fast as a bare
// worker). Bundles are written once per content hash to a cache directory, with a record
// of every file that went into each: a bundle whose files are all unchanged is taken from
// the cache without running esbuild (each ptlab command bundles the kernel and the CPU
// runtime, which took about a second of every sweep point).

import { build, version as esbuildVersion, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
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

const sha = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/**
 * The record of the last bundle of `entry` as `name`: its file and the hash of every file
 * that went into it. Its name hashes this module's source and esbuild's version too, so
 * that changed bundling options or another esbuild never take an older bundle.
 */
function recordPath(entry: string, name: string): string {
  const self = readFileSync(fileURLToPath(import.meta.url));
  return join(CACHE, `inputs-${name}-${sha(`${resolve(entry)}\0${esbuildVersion}\0${sha(self)}`)}.json`);
}

interface BundleRecord { file: string; inputs: Record<string, string> }

/** The bundle `record` names if it is there and none of its inputs changed since; null otherwise. */
function unchangedBundle(record: string): string | null {
  try {
    const r = JSON.parse(readFileSync(record, 'utf8')) as BundleRecord;
    if (!existsSync(r.file) || Object.keys(r.inputs).length === 0) return null;
    return Object.entries(r.inputs).every(([f, h]) => existsSync(f) && sha(readFileSync(f)) === h) ? r.file : null;
  } catch {
    return null;
  }
}

/**
 * Remember that `file` was bundled from `inputs` (esbuild's metafile paths, relative to the
 * working directory): written whole or not at all (a rename), so that two processes bundling
 * at once never read half a record. Inputs that are no file (a plugin's) leave no record.
 */
function remember(record: string, file: string, inputs: string[]): void {
  const paths = inputs.map((p) => (isAbsolute(p) ? p : resolve(p)));
  if (!paths.every((p) => existsSync(p))) return;
  const r: BundleRecord = { file, inputs: Object.fromEntries(paths.map((p) => [p, sha(readFileSync(p))])) };
  writeWhole(record, JSON.stringify(r));
}

/**
 * Bundle the module at `entry` into ES module files and return the entry's file: URL. Code
 * reached only through a dynamic import() goes to chunks of its own, loaded when that
 * import runs: a guest that plots only when asked does not parse the plotting libraries
 * (about 1.9 MB) in every process it starts. Guest code importing 'ptlab/userland' gets
 * this package's userland. An unchanged bundle (every file that went into it as it was)
 * comes from the cache.
 */
export async function bundle(entry: string, name: string): Promise<string> {
  const record = recordPath(entry, name);
  const cached = unchangedBundle(record);
  if (cached !== null) return pathToFileURL(cached).href;
  const out = await build({
    entryPoints: { [name]: entry },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    // Maps in files of their own: Node reads them only with source maps enabled, where an
    // inline map is source text every worker holds (about 0.6 MiB for the CPU runtime).
    sourcemap: 'external',
    // Written to a directory beside this one (below), so the maps' relative source paths hold.
    outdir: join(CACHE, name),
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    logLevel: 'silent',
    metafile: true,
    alias: { 'ptlab/userland': USERLAND },
    plugins: [unusedMsgpackrDropped],
    // Bundled CommonJS dependencies (msgpackr's optional parts) may call require().
    banner: { js: "import { createRequire as __ptlabRequire } from 'node:module'; const require = __ptlabRequire(import.meta.url);" },
  });
  const files = out.outputFiles.map((f) => ({ base: basename(f.path), text: f.text }));
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.base).update('\0').update(f.text);
  const dir = join(CACHE, `${name}-${hash.digest('hex').slice(0, 16)}`);
  mkdirSync(dir, { recursive: true });
  // The entry last: an entry in place means its chunks are too. Each file whole or not at
  // all (a rename), as another process may be importing the same bundle.
  const entryFile = `${name}.mjs`;
  for (const f of [...files.filter((g) => g.base !== entryFile), ...files.filter((g) => g.base === entryFile)]) {
    const file = join(dir, f.base);
    if (existsSync(file)) continue;
    const text = f.base.endsWith('.mjs') ? `${f.text}//# sourceMappingURL=${f.base}.map\n` : f.text;
    writeWhole(file, text);
  }
  const file = join(dir, entryFile);
  remember(record, file, Object.keys(out.metafile.inputs));
  return pathToFileURL(file).href;
}

function writeWhole(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
