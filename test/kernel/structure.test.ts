// The kernel's shape, checked on its source with the TypeScript compiler's parser: no
// import cycle at run time, folders reached only through their index, no state in module
// variables, no file over 500 lines, no function over 80, and no call that spreads a list
// whose length a guest chooses.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KERNEL = join(ROOT, 'kernel');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const files = sources(KERNEL).map((path) => ({
  path,
  name: relative(ROOT, path),
  ast: ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true),
}));

/** The kernel files a file imports, all of them or only those it imports for values
 * (type-only imports are erased at run time). */
function imports(f: (typeof files)[number], runtimeOnly = true): string[] {
  const out: string[] = [];
  for (const s of f.ast.statements) {
    if (!(ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) || s.moduleSpecifier === undefined) continue;
    const spec = (s.moduleSpecifier as ts.StringLiteral).text;
    if (!spec.startsWith('.')) continue;
    if (!runtimeOnly) {
      // every import counts
    } else if (ts.isImportDeclaration(s)) {
      const c = s.importClause;
      if (c?.isTypeOnly === true) continue;
      const named = c?.namedBindings;
      if (c?.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)) continue;
    } else if (s.isTypeOnly) {
      continue;
    }
    out.push(normalize(join(dirname(f.path), spec)));
  }
  return out.filter((p) => p.startsWith(KERNEL));
}

describe('the kernel source', () => {
  it('has no import cycle at run time', () => {
    const graph = new Map(files.map((f) => [f.path, imports(f)]));
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (p: string): void => {
      if (state.get(p) === 'done') return;
      if (state.get(p) === 'open') expect.fail(`import cycle: ${[...stack.slice(stack.indexOf(p)), p].map((x) => relative(ROOT, x)).join(' -> ')}`);
      state.set(p, 'open');
      stack.push(p);
      for (const q of graph.get(p) ?? []) visit(q);
      stack.pop();
      state.set(p, 'done');
    };
    for (const p of graph.keys()) visit(p);
    expect(state.size).toBe(files.length);
  });

  it('reaches another folder only through its index.ts (the root files directly)', () => {
    const folder = (p: string): string => relative(KERNEL, p).split('/').slice(0, -1)[0] ?? '';
    for (const f of files) {
      for (const target of imports(f, false)) {
        const to = folder(target);
        if (to === '' || to === folder(f.path)) continue;
        expect(relative(KERNEL, target), `${f.name} imports ${relative(ROOT, target)}`).toBe(`${to}/index.ts`);
      }
    }
  });

  it('keeps no state in module variables (everything hangs off the kernel object)', () => {
    for (const f of files) {
      for (const s of f.ast.statements) {
        if (ts.isVariableStatement(s) && (s.declarationList.flags & ts.NodeFlags.Const) === 0) {
          expect.fail(`${f.name}: a module-level let or var (${s.getText().slice(0, 60)})`);
        }
      }
    }
  });

  it('has no file over 500 lines and no function over 80', () => {
    for (const f of files) {
      const lines = f.ast.getLineAndCharacterOfPosition(f.ast.end).line;
      expect(lines, f.name).toBeLessThanOrEqual(500);
      const visit = (n: ts.Node): void => {
        if (ts.isFunctionLike(n) && 'body' in n && n.body !== undefined) {
          const len = f.ast.getLineAndCharacterOfPosition(n.end).line - f.ast.getLineAndCharacterOfPosition(n.getStart()).line + 1;
          const what = n.name !== undefined ? n.name.getText() : `a function at line ${f.ast.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
          expect(len, `${f.name}: ${what}`).toBeLessThanOrEqual(80);
        }
        ts.forEachChild(n, visit);
      };
      visit(f.ast);
    }
  });

  it('spreads no list into a call\'s arguments but the bounded ones (a B+-tree leaf: 32 VMAs)', () => {
    const allowed = new Set(['kernel/mm/vmatree.ts: out.push(...leaf.vmas)', 'kernel/mm/vmatree.ts: inOrder.push(...n.vmas)']);
    for (const f of files) {
      const visit = (n: ts.Node): void => {
        if (ts.isCallExpression(n) && n.arguments.some(ts.isSpreadElement)) {
          const at = `${f.name}: ${n.getText()}`;
          expect(allowed.has(at), at).toBe(true);
        }
        ts.forEachChild(n, visit);
      };
      visit(f.ast);
    }
  });
});
