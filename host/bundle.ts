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
import { isAbsolute, join, resolve } from 'node:path';
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
  const tmp = `${record}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(r));
  renameSync(tmp, record);
}

/**
 * Bundle the module at `entry` into one ES module file and return its file: URL. Guest code
 * importing 'ptlab/userland' gets this package's userland. An unchanged bundle (every file
 * that went into it as it was) comes from the cache.
 */
export async function bundle(entry: string, name: string): Promise<string> {
  const record = recordPath(entry, name);
  const cached = unchangedBundle(record);
  if (cached !== null) return pathToFileURL(cached).href;
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
    metafile: true,
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
  remember(record, file, Object.keys(out.metafile.inputs));
  return pathToFileURL(file).href;
}
