// The HTML of `ptlab report`: one page, everything inlined (styles, the data, the charts'
// specifications, and the vega, vega-lite and vega-embed builds that draw them), so that it
// opens from a file with no server and no network. Its Content-Security-Policy allows no
// fetch at all (vega compiles its expressions with Function, hence 'unsafe-eval').

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { SetReport } from './report.ts';
import type { Spread } from './results.ts';

const require = createRequire(import.meta.url);

/**
 * The browser build `file` of npm package `pkg`, as text to inline (the packages export no
 * such path: found from the directory of the package's own entry point).
 */
function browserBuild(pkg: string, file: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!existsSync(join(dir, 'package.json')) || (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name !== pkg) {
    if (dirname(dir) === dir) throw new Error(`report: no directory of package ${pkg}`);
    dir = dirname(dir);
  }
  return readFileSync(join(dir, file), 'utf8');
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON that can sit inside a <script> element (no '</script>' can end it early). */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

/** A number for a table: integers with separators, others to 4 significant digits. */
function num(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en');
  return v.toLocaleString('en', { maximumSignificantDigits: 4 });
}

function spreadCell(s: Spread | null): string {
  if (s === null) return '<td>-</td>';
  const range = s.n > 1 ? ` <span class="dim">± ${num(s.stddev)} (${num(s.min)}..${num(s.max)})</span>` : '';
  return `<td class="n">${num(s.mean)}${range}</td>`;
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('\n')}</tbody></table>`;
}

const cell = (s: string, cls = ''): string => `<td${cls !== '' ? ` class="${cls}"` : ''}>${esc(s)}</td>`;

/** One set's section; its charts are empty <div>s that the page's script fills. */
function section(s: SetReport, index: number): string {
  const { params, ys, rows } = s.table;
  const points = table(
    [...params, 'runs', ...ys.map((y) => `${y} (mean ± stddev (min..max))`), 'command'],
    rows.map((r) => [...params.map((p) => cell(String(r.point[p] ?? ''))), cell(String(r.n), 'n'), ...r.ys.map(spreadCell), `<td><code>${esc(r.command)}</code></td>`]),
  );
  const failed = s.failed.length === 0 ? '<p>None.</p>' : table(
    ['point', 'repeat', 'exit', 'signal', 'error', 'command'],
    s.failed.map((r) => [cell(JSON.stringify(r.point)), cell(String(r.repeat), 'n'), cell(String(r.exit ?? '')), cell(r.signal ?? ''), cell(r.error ?? ''), `<td><code>${esc(r.command)}</code></td>`]),
  );
  const charts = s.charts.map((_, i) => `<div class="chart" id="chart-${index}-${i}"></div>`).join('\n');
  return `<section id="set-${index}">
<h2>${esc(s.file)}</h2>
<p>${s.runs} runs, ${rows.length} points, ${s.failed.length} failed run${s.failed.length === 1 ? '' : 's'}.${s.note !== '' ? ` ${esc(s.note)}.` : ''}</p>
<div class="charts">${charts}</div>
<h3>Points</h3>
${points}
<h3>Failed runs (not plotted)</h3>
${failed}
<h3>Presets</h3>
<ul>${s.presets.map((p) => `<li><b>${esc(p.name)}</b>: ${esc(p.description)}</li>`).join('')}</ul>
<h3>Machine options</h3>
<ul>${s.machines.map((m) => `<li><code>${esc(m)}</code></li>`).join('')}</ul>
<h3>Environment of the runs</h3>
${table(['ptlab', 'Node', 'host'], s.env.map((e) => [cell(e.ptlab), cell(e.node), cell(e.host)]))}
</section>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;white-space:nowrap}.dim{color:#777}code{font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{min-height:60px}.error{color:#b00}`;

/** The page's own script: draw each chart with vega-embed (SVG renderer, tooltips on). */
const EMBED = `const specs = JSON.parse(document.getElementById('ptlab-specs').textContent);
window.ptlabViews = {};
Promise.all(Object.entries(specs).map(([id, spec]) =>
  vegaEmbed('#' + id, spec, { renderer: 'svg', actions: { export: true, source: false, compiled: false, editor: false } })
    .then((r) => { window.ptlabViews[id] = r.view; })
    .catch((e) => { console.error('chart ' + id + ': ' + e.message); document.getElementById(id).innerHTML = '<p class="error">chart failed</p>'; })))
  .then(() => { document.body.dataset.charts = 'ready'; });`;

/** The whole page for `sets`; `made` is the environment that made it. */
export function reportHtml(sets: SetReport[], made: { ptlab: string; node: string; host: string; date: string }, title: string): string {
  const specs: Record<string, unknown> = {};
  sets.forEach((s, i) => s.charts.forEach((c, j) => { specs[`chart-${i}-${j}`] = c.spec; }));
  const scripts = ['vega', 'vega-lite', 'vega-embed'].map((pkg) => browserBuild(pkg, `build/${pkg}.min.js`));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${esc(title)}</h1>
<p>Made by ptlab ${esc(made.ptlab)} on Node ${esc(made.node)}, host ${esc(made.host)}, ${esc(made.date)}. Hover a mark for its values; click a legend entry to pick out its series (shift-click for more, a click elsewhere in the legend's chart resets).</p>
<ul>${sets.map((s, i) => `<li><a href="#set-${i}">${esc(s.file)}</a>: ${s.charts.length} chart${s.charts.length === 1 ? '' : 's'}, ${s.runs} runs</li>`).join('')}</ul>
${sets.map(section).join('\n')}
<script type="application/json" id="ptlab-specs">${scriptJson(specs)}</script>
${scripts.map((js) => `<script>${js}</script>`).join('\n')}
<script>${EMBED}</script>
</body></html>
`;
}
