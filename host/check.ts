// Type-checking guest programs before they run (ptlab run, stat and check): the project's
// TypeScript and compiler options (tsconfig.json, module resolution as the bundler does
// it), the guest's own files as roots, errors printed as tsc prints them (file:line:column). A program that checked clean is remembered
// by the content of every file it read, in the bundle cache, so an unchanged guest is not
// checked again.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { CACHE, rootPath, USERLAND } from './bundle.ts';

export interface CheckResult {
  /** Errors found (0: the program type-checks). */
  errors: number;
  /** The diagnostics as tsc prints them, one per line block ('' when there are none). */
  text: string;
  /** True if the answer came from the cache (nothing was compiled). */
  cached: boolean;
}

const sha = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The cache record for these roots: every file the check read, with its content's hash. */
function recordPath(files: string[]): string {
  return join(CACHE, `check-${sha(files.join('\0'))}.json`);
}

function cleanInCache(files: string[]): boolean {
  const path = recordPath(files);
  if (!existsSync(path)) return false;
  try {
    const seen = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    return Object.entries(seen).every(([f, h]) => existsSync(f) && sha(readFileSync(f)) === h);
  } catch {
    return false;
  }
}

/** Type-check the programs at `paths` (with what they import) against the project's options. */
export async function typeCheck(paths: string[]): Promise<CheckResult> {
  const files = paths.map((p) => resolve(p));
  if (cleanInCache(files)) return { errors: 0, text: '', cached: true };
  const ts = (await import('typescript')).default;
  const config = ts.getParsedCommandLineOfConfigFile(rootPath('tsconfig.json'), {}, {
    ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined,
  });
  // Checked as the bundler builds it (host/bundle.ts): an ES module wherever it lies, with
  // 'ptlab/userland' this package's userland, and Node's types from where they are installed.
  const types = dirname(dirname(createRequire(import.meta.url).resolve('@types/node/package.json')));
  const options = {
    ...(config?.options ?? {}), noEmit: true, module: ts.ModuleKind.Preserve, moduleResolution: ts.ModuleResolutionKind.Bundler,
    paths: { 'ptlab/userland': [USERLAND] }, typeRoots: [types],
  };
  const program = ts.createProgram(files, options);
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  const text = diagnostics.map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file === undefined || d.start === undefined) return `error TS${d.code}: ${message}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}:${character + 1} - error TS${d.code}: ${message}`;
  }).join('\n');
  if (diagnostics.length === 0) {
    // Remember the files of the program that are not TypeScript's own or installed ones.
    const seen: Record<string, string> = {};
    for (const sf of program.getSourceFiles()) {
      if (sf.fileName.includes('/node_modules/')) continue;
      seen[sf.fileName] = sha(readFileSync(sf.fileName));
    }
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(recordPath(files), JSON.stringify(seen));
  }
  return { errors: diagnostics.length, text: text === '' ? '' : `${text}\n`, cached: false };
}
