// `ptlab report`'s page opened in a real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; .ci/run installs it): every chart rendered with a mark per
// point that carries the point's values, no request left the file, no console error, a
// hover shows the values in a tooltip and a legend click picks out a series. The page's
// screenshot is kept in test-artifacts/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportHtml } from '../../host/report-html.ts';
import { setReport } from '../../host/report.ts';
import { readResults } from '../../host/results.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

const present = existsSync(CHROMIUM);
if (!present) {
  if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(`${CHROMIUM} is missing in CI: .ci/run installs it (apt-get install chromium)`);
  process.stderr.write(`\n*** SKIPPED the report browser test: no ${CHROMIUM} (apt-get install -y chromium) ***\n\n`);
}

describe.skipIf(!present)('the report page in headless Chromium', () => {
  let dir: string;
  let ctx: BrowserContext;
  let page: Page;
  const requests: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ptlab-report-'));
    const sets = [readResults(fixture('reach.jsonl')), readResults(fixture('sga.jsonl'))].map((s) => setReport(s, {}));
    const file = join(dir, 'report.html');
    writeFileSync(file, reportHtml(sets, { ptlab: '0.1.0', node: process.version, host: 'test', date: 'now' }, 'ptlab report test'));
    ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    // Anything but the page itself is recorded, and refused.
    await ctx.route('**/*', (route) => {
      const url = route.request().url();
      if (url === pathToFileURL(file).href) return route.continue();
      requests.push(url);
      return route.abort();
    });
    page = ctx.pages()[0] ?? await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-charts=ready]', { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    if (page !== undefined) {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    }
    await ctx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('draws every chart as SVG with a mark per point carrying its values; no request, no console error', async () => {
    // reach: one chart (its one value) of 8 points; sga: two values, 8 points each.
    const charts = await page.locator('.chart').evaluateAll((els) => els.map((e) => e.id));
    expect(charts).toEqual(['chart-0-0', 'chart-1-0', 'chart-1-1']);
    for (const id of charts) {
      expect(await page.locator(`#${id} svg path[aria-roledescription=point]`).count(), id).toBe(8);
      expect(await page.locator(`#${id} svg [aria-roledescription=errorbar]`).count(), id).toBe(8);
    }
    const labels = await page.locator('#chart-0-0 svg path[aria-roledescription=point]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    // skylake at 16 MiB: walks 12500, 12507, 12514 per 20000 loads, per 1000 loads 625.35 on average.
    expect(labels).toContainEqual(expect.stringContaining('size: 16777216; walks_per_1000: 625.35; preset: skylake'));
    expect(labels).toContainEqual(expect.stringContaining('min: 625; max: 625.7'));
    expect(await page.locator('#set-1 table').first().innerText()).toContain('ptlab run --mem 512M examples/sga.ts --size-mib 8 --clients 8 --way mshare');
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('shows a point\'s values in a tooltip on hover', async () => {
    const point = page.locator('#chart-1-0 svg path[aria-roledescription=point][aria-label*="clients: 8"][aria-label*="way: memfd"]');
    // The mouse to the point's centre (its error bar, drawn over it, shows the same values).
    await point.scrollIntoViewIfNeeded();
    const at = (await point.boundingBox())!;
    await page.mouse.move(at.x + at.width / 2, at.y + at.height / 2);
    const tip = page.locator('#vg-tooltip-element');
    await expect.poll(async () => tip.isVisible()).toBe(true);
    const text = await tip.innerText();
    expect(text).toContain('clients');
    expect(text).toMatch(/faults \(mean\)\s*1,024\.5/);
    expect(text).toMatch(/runs\s*2/);
    await page.mouse.move(0, 0);
  });

  it('picks out a series when its legend entry is clicked', async () => {
    const opacities = (way: string) => page.locator(`#chart-1-0 svg path[aria-roledescription=point][aria-label*="way: ${way}"]`)
      .evaluateAll((els) => els.map((e) => e.getAttribute('opacity')));
    expect(new Set(await opacities('memfd'))).toEqual(new Set(['1']));
    expect(new Set(await opacities('mshare'))).toEqual(new Set(['1']));
    await page.locator('#chart-1-0').scrollIntoViewIfNeeded();
    const labels = await page.locator('#chart-1-0 svg .role-legend-label text').evaluateAll((els) => els.map((e) => e.textContent));
    expect(labels).toEqual(['memfd', 'mshare']);
    const box = (await page.locator('#chart-1-0 svg .role-legend-symbol path').nth(labels.indexOf('mshare')).boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await expect.poll(async () => [...new Set(await opacities('memfd'))]).toEqual(['0.12']);
    expect(new Set(await opacities('mshare'))).toEqual(new Set(['1']));
    expect(errors).toEqual([]);
  });
});
