// ptlab init DIR: a project of one's own that starts typed and tested. It writes a first
// guest (main.ts), a vitest test that runs it on a machine (main.test.ts), a tsconfig.json,
// and a package.json depending on ptlab and vitest with test, start and check scripts (an
// existing package.json keeps what it has and gains what is missing). Files already there
// are left alone.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

const PKG = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string; devDependencies: Record<string, string>;
};

const MAIN = `// A first guest: map a page, write a word, read it back, and count the TLB misses.
// Run it: npx ptlab run main.ts
import { accessors, counters, MAP_ANONYMOUS, MAP_PRIVATE, mmap, print, PROT_READ, PROT_WRITE } from 'ptlab/userland';

export default function main(argv: string[]): number {
  const pages = Number(argv[0] ?? 64);
  const { store32, load32 } = accessors();
  const base = mmap(0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const before = counters();
  for (let i = 0; i < pages; i++) store32(base + i * 4096, i);
  let sum = 0;
  for (let i = 0; i < pages; i++) sum += load32(base + i * 4096);
  const after = counters();
  print(\`sum \${sum}, page walks \${after['dtlb_load_misses.walk_completed'] + after['dtlb_store_misses.walk_completed'] - before['dtlb_load_misses.walk_completed'] - before['dtlb_store_misses.walk_completed']}\`);
  return sum === (pages * (pages - 1)) / 2 ? 0 : 1;
}
`;

const TEST = `// Runs main.ts on a fresh machine and checks what it printed and how it ended.
import { fileURLToPath } from 'node:url';
import { Machine } from 'ptlab/host';
import { expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

it('main writes and reads back every page', async () => {
  let out = '';
  const machine = await Machine.boot({ memBytes: 64 << 20, output: (_pid, _fd, data) => { out += new TextDecoder().decode(data); } });
  try {
    const exit = await machine.run(MAIN, ['16']);
    expect(exit.exitCode).toBe(0);
    expect(out).toMatch(/^sum 120, page walks \\d+\\n$/);
  } finally {
    await machine.shutdown();
  }
}, 60_000);
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], strict: true, noEmit: true,
    allowImportingTsExtensions: true, verbatimModuleSyntax: true, skipLibCheck: true,
  },
  include: ['*.ts'],
};

/** Write the project into dir; the files written, in order. */
export function init(dir: string): string[] {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const written: string[] = [];
  const put = (name: string, text: string): void => {
    if (existsSync(join(root, name))) return;
    writeFileSync(join(root, name), text);
    written.push(name);
  };
  const pkgPath = join(root, 'package.json');
  const had = existsSync(pkgPath);
  const pkg = had ? JSON.parse(readFileSync(pkgPath, 'utf8')) as Record<string, unknown> : { name: basename(root), private: true };
  pkg.type = 'module';
  const scripts = (pkg.scripts ?? {}) as Record<string, string>;
  if (scripts.test === undefined || /no test specified/.test(scripts.test)) scripts.test = 'vitest run';
  scripts.start ??= 'ptlab run main.ts';
  scripts.check ??= 'ptlab check main.ts';
  pkg.scripts = scripts;
  const deps = (pkg.dependencies ?? {}) as Record<string, string>;
  deps.ptlab ??= `^${PKG.version}`;
  pkg.dependencies = deps;
  const dev = (pkg.devDependencies ?? {}) as Record<string, string>;
  dev.vitest ??= PKG.devDependencies.vitest;
  pkg.devDependencies = dev;
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
  written.push(had ? 'package.json (updated)' : 'package.json');
  put('tsconfig.json', `${JSON.stringify(TSCONFIG, null, 2)}\n`);
  put('main.ts', MAIN);
  put('main.test.ts', TEST);
  return written;
}
