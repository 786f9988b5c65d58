// One point of the dirty-tracking experiment, for ptlab sweep: a buffer of --pages pages of
// which each frame writes the same --density share (every k-th page), and a harvest after each frame of the pages written, by one of two methods:
//
//   vbuf        a buffer object of /dev/vbuf (vmwgfx's dirty tracking, as in
//               examples/dirty-tracking.ts): MKWRITE (a write fault per page) for sparse
//               frames, switching to PAGETABLE (the CPU's dirty bits, no faults) when frames
//               re-dirty more than a tenth of it
//   soft-dirty  private anonymous memory: PAGEMAP_SCAN for soft-dirty pages, then
//               clear_refs 4 (write-protect everything: every first write faults)
//
// After --warmup frames (the driver's switches happen there), it measures --frames frames
// and reports, per frame: faults, the modeled microseconds of drawing and harvesting, and
// the pages harvested; and whether vbuf ended in PAGETABLE mode. A harvest that misses a
// page written is an error (exit 1).
//
//   node bin/ptlab.mjs sweep -p density=0.01,0.1,0.5,1 -p method=vbuf,soft-dirty -o dirty.jsonl \
//     experiments/dirty-point.ts --density {density} --method {method}
import {
  counters, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MADV_POPULATE_WRITE, madvise, mmap, modeledSeconds, O_RDWR, open,
  PAGE_IS_SOFT_DIRTY, pagemapScan, print, PROT_READ, PROT_WRITE, report, store32, load32, vbufCreate, vbufHarvest, writeFile,
} from 'ptlab/userland';
import { exampleOptions, refuse } from '../examples/options.ts';

const USAGE = 'usage: ptlab run experiments/dirty-point.ts [--pages N] [--density F] [--method vbuf|soft-dirty] [--frames N] [--warmup N]';
const P = 4096;
const RW = PROT_READ | PROT_WRITE;

/** A way to find the pages written since the last harvest: the buffer, and the harvest (pages found). */
interface Tracker { base: number; harvest(): Set<number> }

function vbufTracker(pages: number): Tracker & { pagetable(): boolean } {
  const dev = open('/dev/vbuf', O_RDWR);
  const bo = vbufCreate(dev, pages);
  const base = mmap(0, pages * P, RW, MAP_SHARED, dev, bo.offset);
  const bitmap = mmap(0, Math.ceil(pages / 8 / P) * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  let method = -1;
  return {
    base,
    harvest() {
      method = vbufHarvest(dev, bo.handle, bitmap).method;
      const found = new Set<number>();
      for (let i = 0; i < pages; i++) if ((load32(bitmap + 4 * (i >> 5)) >>> (i & 31)) & 1) found.add(i);
      return found;
    },
    pagetable: () => method === 0,
  };
}

function softDirtyTracker(pages: number): Tracker {
  const base = mmap(0, pages * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  madvise(base, pages * P, MADV_POPULATE_WRITE);
  return {
    base,
    harvest() {
      const found = new Set<number>();
      for (const r of pagemapScan({ start: base, end: base + pages * P, mask: PAGE_IS_SOFT_DIRTY, returnMask: PAGE_IS_SOFT_DIRTY })) {
        for (let a = r.start; a < r.end; a += P) found.add((a - base) / P);
      }
      // The whole process's soft-dirty bits: its stack's first write after this faults too.
      writeFile('/proc/self/clear_refs', '4');
      return found;
    },
  };
}

export default function main(argv: string[]): number {
  const o = exampleOptions(argv, USAGE, {
    pages: { default: '1024', help: 'pages of the buffer' },
    density: { default: '0.1', help: 'share of the pages a frame writes, above 0 and at most 1' },
    method: { default: 'vbuf', help: 'vbuf or soft-dirty' },
    frames: { default: '8', help: 'frames measured' },
    warmup: { default: '6', help: 'frames before those' },
  });
  if (typeof o === 'number') return o;
  const [pages, density, frames, warmup] = [Number(o.pages), Number(o.density), Number(o.frames), Number(o.warmup)];
  if (!(Number.isInteger(pages) && pages >= 8) || !(density > 0 && density <= 1) || !(frames >= 1 && warmup >= 0)) return refuse(USAGE, 'bad --pages, --density, --frames or --warmup');
  if (o.method !== 'vbuf' && o.method !== 'soft-dirty') return refuse(USAGE, `--method ${o.method}: vbuf or soft-dirty`);
  const vbuf = o.method === 'vbuf' ? vbufTracker(pages) : null;
  const t = vbuf ?? softDirtyTracker(pages);
  t.harvest();
  const drawn = Math.max(1, Math.round(density * pages));
  const stride = pages / drawn;
  let faults = 0;
  let found = 0;
  let cycles = 0;
  for (let f = 0; f < warmup + frames; f++) {
    const written = Array.from({ length: drawn }, (_, i) => Math.floor(i * stride));
    const c0 = counters();
    for (const pg of written) store32(t.base + pg * P, f);
    const got = t.harvest();
    const c1 = counters();
    const missed = written.filter((pg) => !got.has(pg)).length;
    if (missed > 0) {
      print(`dirty-point: frame ${f}: ${missed} of ${drawn} pages written not harvested`);
      return 1;
    }
    if (f < warmup) continue;
    faults += c1.page_faults - c0.page_faults;
    cycles += c1.cycles - c0.cycles;
    found += got.size;
  }
  const r = {
    faults_per_frame: faults / frames,
    modeled_us_per_frame: Math.round((modeledSeconds(cycles) / frames) * 1e8) / 100,
    harvested_per_frame: found / frames,
    pages_written_per_frame: drawn,
    ...(vbuf === null ? {} : { pagetable_mode: vbuf.pagetable() ? 1 : 0 }),
  };
  report(r);
  print(`${o.method}, ${drawn} of ${pages} pages a frame: ${r.faults_per_frame} faults, ${r.modeled_us_per_frame} us modeled, ${r.harvested_per_frame} pages harvested per frame`);
  return 0;
}
