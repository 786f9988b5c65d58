// The reference-page microbenchmark of the v5 patch ("mm: introduce reference pages"), run
// in ptlab: 1000 iterations of mmap 4096000 bytes, touch one byte per page up to the touch
// size, munmap; for touch sizes of one page, half and all of it. Two ways to get memory
// filled with a pattern: anonymous mmap plus a memset of the whole mapping (what an
// allocator does today), and a MAP_PRIVATE mapping of a reference page made once with
// refpage_create. For each it prints the wall-clock and the modeled time (README.md,
// "Modeled time"), the frames allocated and the page faults per iteration and the peak RSS,
// next to the figures the patch reported (DragonBoard 845c, median of 10 runs, 1000
// iterations: its times are scaled to the iterations run), the saving of refpage over
// memset in modeled and wall time beside the patch's, and, from the full-touch rows, what a
// page of stores and a faulted page cost each way: why the savings depart from the patch's.
// --pages maps fewer (or more) pages than the patch's 1000 (touch sizes a page, half and
// all of them); the patch's figures are for its 1000 pages still.
//
//   node bin/ptlab.mjs run examples/refpage.ts [--iterations N] [--pages N] [--json] [--plot FILE]
import {
  accessors, counters, MAP_ANONYMOUS, MAP_PRIVATE, mmap, modeledSeconds, munmap, print, PROT_READ, PROT_WRITE,
  progress, readFile, refpageCreate, store8, writeFile,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';
import { OUTPUT_OPTIONS, printJson, type Result, writePlot } from './output.ts';

const P = 4096;
/** The patch's mapping: 1000 pages. */
const PATCH_PAGES = 1000;
const PATTERN = 0xaa;
const RW = PROT_READ | PROT_WRITE;

/** The patch's table: touch size, memset seconds, refpage seconds, memset and refpage RSS KiB. */
const PATCH: [number, number, number, number, number][] = [
  [4096, 3.962194, 0.026726, 6656, 3448],
  [2048000, 3.925309, 1.48081, 6696, 4580],
  [4096000, 3.986275, 3.385003, 6716, 6684],
];


const vmstat = (field: string) => Number(new RegExp(`^${field} (\\d+)$`, 'm').exec(readFile('/proc/vmstat'))?.[1]);
const hwmKb = () => Number(/VmHWM:\s+(\d+)/.exec(readFile('/proc/self/status'))?.[1]);

/** Reset the peak RSS to the current RSS (clear_refs 5). */
const resetPeak = (): void => writeFile('/proc/self/clear_refs', '5');

interface Row { seconds: number; modeled: number; frames: number; faults: number; peakKb: number }

function measure(iterations: number, run: () => void): Row {
  resetPeak();
  const frames0 = vmstat('pgalloc_normal');
  const c0 = counters();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) run();
  const seconds = (performance.now() - t0) / 1000;
  const c1 = counters();
  return {
    seconds,
    modeled: modeledSeconds(c1.cycles - c0.cycles),
    frames: (vmstat('pgalloc_normal') - frames0) / iterations,
    faults: (c1.page_faults - c0.page_faults) / iterations,
    peakKb: hwmKb(),
  };
}

const ZERO: Row = { seconds: 0, modeled: 0, frames: 0, faults: 0, peakKb: 0 };

/** "82%": how much less b is than a. */
const pct = (a: number, b: number) => `${(100 * (1 - b / a)).toFixed(0)}%`;

/**
 * Where the savings depart from the patch's, at full touch: both ways fault every page in,
 * and memset adds the stores that fill each page, so the saving is the stores' share of
 * memset's time. Per page: the stores (memset less refpage) and a faulted page (refpage's
 * time: the fault and its share of mmap and munmap), in wall-clock time through the emulated
 * MMU, in modeled time, and in the patch's native times (1000 iterations of 1000 pages).
 */
function departure(full: Record<'memset' | 'refpage', Row>, iterations: number, mapped: number): string[] {
  const pages = iterations * mapped;
  const us = (seconds: number, n: number) => `${((seconds / n) * 1e6).toFixed(2)} us`;
  const line = (what: string, memset: number, refpage: number, n: number) =>
    `  ${what.padEnd(34)} a page of stores ${us(memset - refpage, n).padStart(9)}, a faulted page ${us(refpage, n).padStart(9)} `
    + `(${(refpage / (memset - refpage)).toFixed(2).padStart(6)} x): saves ${pct(memset, refpage)}`;
  const [, patchMemset, patchRefpage] = PATCH[PATCH.length - 1];
  return [
    'where the savings depart from the patch\'s, at full touch (both ways fault every page in;',
    'memset adds the stores that fill it, so the saving is the stores\' share of memset\'s time):',
    line('ptlab, wall clock (emulated MMU)', full.memset.seconds, full.refpage.seconds, pages),
    line('ptlab, modeled (kernel cost table)', full.memset.modeled, full.refpage.modeled, pages),
    line('the patch (DragonBoard 845c)', patchMemset, patchRefpage, 1000 * PATCH_PAGES),
    'a store through the emulated MMU costs far more than a native one, so on the wall clock the',
    'stores outweigh the fault and refpage saves more than on the patch\'s board; the cost table',
    'prices the fault and the munmap as the project machine\'s kernel costs them and the stores at',
    'native speed, so in modeled time the fault outweighs the stores and refpage saves less.',
  ];
}

export default async function main(argv: string[]): Promise<number> {
  const usage = 'usage: ptlab run examples/refpage.ts [--iterations N] [--pages N] [--json] [--plot FILE]';
  const o = exampleOptions(argv, usage, {
    iterations: { default: '1000', help: 'rounds of each measurement' },
    pages: { default: String(PATCH_PAGES), help: 'pages of each mapping (the patch maps 1000)' },
    ...OUTPUT_OPTIONS,
  });
  if (typeof o === 'number') return o;
  const iterations = Number(o.iterations);
  const pages = Number(o.pages);
  if (!(Number.isInteger(iterations) && iterations >= 1)) return refuse(usage, '--iterations is a positive integer');
  if (!(Number.isInteger(pages) && pages >= 2)) return refuse(usage, '--pages is an integer of at least 2');
  const bytes = pages * P;
  // Touch sizes: a page, half the mapping and all of it (the patch's 4096, 2048000 and 4096000 bytes).
  const touches = [P, Math.floor(pages / 2) * P, bytes];
  const { store32, load32 } = accessors();
  const buf = mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  store8(buf, PATTERN);
  const fd = refpageCreate(buf, 1);
  const word = PATTERN * 0x01010101;
  // Both ways give the same memory: the pattern, with the touched bytes written.
  const check = mmap(0, 2 * P, RW, MAP_PRIVATE, fd, 0);
  store8(check, 1);
  if (load32(check + 4) >>> 0 !== word || load32(check + P) >>> 0 !== word) throw new Error('the reference page does not hold the pattern');
  munmap(check, 2 * P);
  const json = o.json === 'true';
  const say = json ? () => {} : print;
  const results: Result[] = [];
  say(`v5 microbenchmark: ${iterations} x (mmap ${bytes} bytes, touch a byte per page up to the touch size, munmap)`);
  say('');
  // The patch's times are for 1000 iterations: scaled to the iterations run.
  const scale = iterations / 1000;
  say(`touch bytes   way        wall (s)   modeled (s)   frames/iter   faults/iter   peak RSS (KiB)   ${scale === 1 ? 'patch: time (s)' : 'patch*: time (s)'}   RSS (KiB)`);
  const savings: string[] = [];
  const full: Record<'memset' | 'refpage', Row> = { memset: ZERO, refpage: ZERO };
  const bar = progress('refpage', PATCH.length * 2);
  for (const [row, [, patchMemset, patchRefpage, patchMemsetRss, patchRefpageRss]] of PATCH.entries()) {
    const touch = touches[row];
    const memset = measure(iterations, () => {
      const p = mmap(0, bytes, RW, MAP_PRIVATE | MAP_ANONYMOUS);
      for (let off = 0; off < bytes; off += 4) store32(p + off, word);
      for (let off = 0; off < touch; off += P) store8(p + off, 1);
      munmap(p, bytes);
    });
    bar.advance(`${touch} bytes, memset`);
    const refpage = measure(iterations, () => {
      const p = mmap(0, bytes, RW, MAP_PRIVATE, fd, 0);
      for (let off = 0; off < touch; off += P) store8(p + off, 1);
      munmap(p, bytes);
    });
    bar.advance(`${touch} bytes, refpage`);
    for (const [way, r, patchTime, patchRss] of [['memset', memset, patchMemset, patchMemsetRss], ['refpage', refpage, patchRefpage, patchRefpageRss]] as const) {
      results.push({ point: { touch_bytes: touch, way }, values: { seconds: r.seconds, modeled_seconds: r.modeled, frames_per_iter: r.frames, faults_per_iter: r.faults, peak_rss_kib: r.peakKb } });
      say(`${String(touch).padStart(11)}   ${way.padEnd(8)} ${r.seconds.toFixed(3).padStart(10)} ${r.modeled.toFixed(6).padStart(13)} ${r.frames.toFixed(1).padStart(13)} ${r.faults.toFixed(1).padStart(13)} ${String(r.peakKb).padStart(16)} ${(patchTime * scale).toFixed(6).padStart(17)} ${String(patchRss).padStart(11)}`);
    }
    if (row === PATCH.length - 1) Object.assign(full, { memset, refpage });
    savings.push(`${String(touch).padStart(11)}   refpage saves ${pct(memset.modeled, refpage.modeled)} of memset's modeled time, ${pct(memset.seconds, refpage.seconds)} of its wall time (patch: ${pct(patchMemset, patchRefpage)})`);
  }
  bar.finish();
  say('');
  for (const s of savings) say(s);
  say('');
  if (scale !== 1) say(`* the patch's times are for 1000 iterations, scaled here to ${iterations} (x ${scale}); its RSS as published.`);
  if (pages !== PATCH_PAGES) say(`the patch's figures are for mappings of ${PATCH_PAGES} pages (touching ${PATCH.map((r) => r[0]).join(', ')} bytes), these of ${pages}.`);
  for (const line of departure(full, iterations, pages)) say(line);
  say('');
  say('frames/iter counts every frame allocated (pgalloc_normal), page tables included; faults/iter');
  say('counts the faults of the mmap, touch and munmap loop. The patch measured wall time on an');
  say('arm64 board; ptlab\'s wall times are the emulator\'s, comparable between the two ways only;');
  say('modeled times are the cost model\'s, the same on every run.');
  if (json) printJson(results, argv);
  if (o.plot !== '') await writePlot(o.plot, results, { x: 'touch_bytes', y: 'frames_per_iter', color: 'way', title: `frames allocated per iteration (${iterations} iterations)` });
  return 0;
}
