// host/bundle.ts: a bundle whose files are all unchanged comes from the cache without
// esbuild; a change to any file that went into it bundles again; code reached only by a
// dynamic import() is a chunk of its own, parsed when the import runs.
import * as esbuild from 'esbuild';
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bundle } from '../../host/bundle.ts';

vi.mock('esbuild', async (original) => {
  const m = await original<typeof import('esbuild')>();
  return { ...m, build: vi.fn(m.build) };
});

describe('bundle', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('runs esbuild again only when a file that went into the bundle changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-bundle-'));
    dirs.push(dir);
    const entry = join(dir, 'entry.ts');
    const dep = join(dir, 'dep.ts');
    writeFileSync(entry, "import { answer } from './dep.ts';\nexport default (): number => answer;\n");
    writeFileSync(dep, 'export const answer = 41;\n');
    const build = vi.mocked(esbuild.build);
    build.mockClear();
    const first = await bundle(entry, 'guest');
    expect(build).toHaveBeenCalledTimes(1);
    expect(readFileSync(fileURLToPath(first), 'utf8')).toContain('41');
    // Unchanged: the same file, no build.
    expect(await bundle(entry, 'guest')).toBe(first);
    expect(build).toHaveBeenCalledTimes(1);
    // A file it imports changed: bundled again, with the new content.
    writeFileSync(dep, 'export const answer = 42;\n');
    const second = await bundle(entry, 'guest');
    expect(build).toHaveBeenCalledTimes(2);
    expect(second).not.toBe(first);
    expect(readFileSync(fileURLToPath(second), 'utf8')).toContain('42');
    // The bundle file gone from the cache: bundled again (the same content, the same name).
    unlinkSync(fileURLToPath(second));
    expect(await bundle(entry, 'guest')).toBe(second);
    expect(build).toHaveBeenCalledTimes(3);
    expect(readFileSync(fileURLToPath(second), 'utf8')).toContain('42');
  });

  it('leaves a dynamically imported module out of the entry, and loads it when the import runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-bundle-'));
    dirs.push(dir);
    const entry = join(dir, 'entry.ts');
    writeFileSync(entry, "export const small = 'entry-text';\nexport async function later(): Promise<string> { return (await import('./big.ts')).big; }\n");
    writeFileSync(join(dir, 'big.ts'), "export const big = 'big-text-' + 'x'.repeat(3);\n");
    const url = await bundle(entry, 'guest');
    const file = fileURLToPath(url);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('entry-text');
    expect(text).not.toContain('big-text-');
    const chunks = readdirSync(dirname(file)).filter((f) => f.endsWith('.mjs') && f !== 'guest.mjs');
    expect(chunks.filter((f) => readFileSync(join(dirname(file), f), 'utf8').includes('big-text-'))).toHaveLength(1);
    const m = (await import(url)) as { later(): Promise<string> };
    expect(await m.later()).toBe('big-text-xxx');
  });
});
