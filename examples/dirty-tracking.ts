// Dirty tracking of a shared buffer, the way vmwgfx does it for a guest's framebuffers.
// A renderer process draws into a buffer object of /dev/vbuf; a compositor process (this
// one) harvests the written pages after each frame and checks them against what the
// renderer says it drew. Three phases show the driver switching tracking methods:
//
//   sparse  a small sprite moves: few pages per frame; the BO (>= 512 pages) starts in
//           MKWRITE (write faults record pages) and stays there
//   dense   full redraws: every scan re-protects most of the BO, so after three frames the
//           driver switches to PAGETABLE (scan the CPU's dirty bits, no faults)
//   idle    nothing drawn: three empty scans switch it back to MKWRITE
//
//   node bin/ptlab.mjs run examples/dirty-tracking.ts [--pages N] [--frames N]
//   node bin/ptlab.mjs run examples/dirty-tracking.ts --json > frames.jsonl   (then ptlab plot, report)
//   node bin/ptlab.mjs run examples/dirty-tracking.ts --plot frames.svg
//   (or: npm run ptlab -- run examples/dirty-tracking.ts)
//
// The faults column is the renderer's page faults while drawing the frame: in MKWRITE mode
// each first write to a page since the last harvest faults (that is how it is recorded);
// in PAGETABLE mode drawing costs no fault and the harvest reads the dirty bits instead.
// The first frame after the switch to PAGETABLE still faults once per page: MKWRITE left
// them write-protected, and the switch does not undo that (vmwgfx does not either).
// The draw and harvest columns are modeled time (README.md, "Modeled time"): the renderer's
// drawing, faults included, and the compositor's harvest call.
import {
  close, counters, F_SETPIPE_SZ, fcntl, getpid, load32, loadF64, mmap, modeledSeconds, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, O_CREAT, O_RDWR, open,
  pipe, print, programPath, progress, PROT_READ, PROT_WRITE, read, spawn, store32, storeF64, ftruncate, unlink, VBUF_METHOD_NAMES, vbufCreate,
  vbufHarvest, waitpid, write, accessors,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';
import { OUTPUT_OPTIONS, printJson, type Result, writePlot } from './output.ts';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const CTL = '/tmp/dirty-tracking.ctl';
// Control page words: the count of pages drawn, the renderer's page faults while drawing,
// its modeled cycles drawing (a float64), then the list of pages drawn.
const COUNT = 0;
const FAULTS = 4;
const DRAW_CYCLES = 8;
const LIST = 16;

// The hand-off, which keeps modeled time deterministic. The renderer waits blocked in the
// kernel, never spinning: a harvest's shootdown does not wait for a CPU in the kernel (it
// flushes on its way out; kernel/mm/tlbflush.ts), so the compositor's clock takes nothing
// from the renderer's, whose spinning would have lasted as long as the host let it. A
// renderer that said "done" and then went to wait would leave a window, between the two
// calls, in which a shootdown waits for it and takes its clock; so saying and waiting are
// one call. The renderer writes two pages (HANDOFF bytes) to a pipe of one page: the first
// page fills it and the write blocks for the second; the compositor's read of one byte,
// which that first page serves, returns when the renderer is already blocked. The
// compositor lets it go on by reading the rest of that page (the write puts its second
// page in the pipe and returns), then that second page. Hand-off h uses pipe h % 2, so that
// the renderer's next write never meets a second page the compositor has not read yet.
// Whichever end comes first, each pays for its own calls and bytes (kernel/fs/pipe.ts).
const HANDOFF = 2 * P;

/** A pipe of one page (one buffer), for the hand-off. */
function handoffPipe(): [number, number] {
  const p = pipe();
  fcntl(p[1], F_SETPIPE_SZ, P);
  return p;
}

/** A private buffer of `pages` pages, written once so that no copy into or out of it faults. */
function ioBuffer(pages: number): number {
  const b = mmap(0, pages * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < pages; i++) store32(b + i * P, 0);
  return b;
}

/** Read exactly `len` bytes (one call) from a hand-off pipe, or fail. */
function readExactly(fd: number, buf: number, len: number): void {
  const n = read(fd, buf, len);
  if (n !== len) throw new Error(`dirty-tracking: hand-off read ${n} bytes of ${len}`);
}

/** What frame f draws: the pages it writes. */
function framePages(f: number, frames: number, pages: number): number[] {
  const phase = Math.floor((f * 3) / frames);
  if (phase === 0) {
    const x = (f * 7) % (pages - 8);
    return Array.from({ length: 6 }, (_, i) => x + i); // a sprite six pages wide
  }
  if (phase === 1) return Array.from({ length: pages }, (_, i) => i); // a full redraw
  return []; // idle
}

function renderer(argv: string[]): number {
  const [, offset, pages, frames, r0, w0, r1, w1] = argv.map(Number);
  close(r0);
  close(r1);
  const dev = open('/dev/vbuf', O_RDWR);
  const fb = mmap(0, pages * P, RW, MAP_SHARED, dev, offset);
  const fd = open(CTL, O_RDWR);
  const ctl = mmap(0, 16 * P, RW, MAP_SHARED, fd, 0);
  const buf = ioBuffer(HANDOFF / P);
  // Hand-off h: "frame h - 1 is done (h = 0: ready); frame h, please", blocked until asked.
  const handOff = (h: number): void => {
    if (write(h % 2 === 0 ? w0 : w1, buf, HANDOFF) !== HANDOFF) throw new Error('dirty-tracking: hand-off write cut short');
  };
  const { store32: put } = accessors();
  for (let f = 0; f < frames; f++) {
    handOff(f);
    const drawn = framePages(f, frames, pages);
    const before = counters();
    for (const pg of drawn) for (let x = 0; x < P; x += 512) put(fb + pg * P + x, f);
    const after = counters();
    store32(ctl + FAULTS, after.page_faults - before.page_faults);
    storeF64(ctl + DRAW_CYCLES, after.cycles - before.cycles);
    store32(ctl + COUNT, drawn.length);
    drawn.forEach((pg, i) => store32(ctl + LIST + 4 * i, pg));
  }
  handOff(frames);
  close(dev);
  return 0;
}

/** One frame as the compositor saw it. */
interface Frame { phase: string; drawn: number; faults: number; harvested: number; missed: number; extra: number; method: string; switches: number; drawUs: number; harvestUs: number }

const HEADER = 'frame  phase   drawn  faults  harvested  missed  extra  method     switches   draw (us)   harvest (us)';
const us = (cycles: number): number => modeledSeconds(cycles) * 1e6;

/** The compositor's side of the hand-off, on the read ends of the two pipes. */
interface Handoff {
  /** Hand-off h has come: the renderer is blocked in its write. */
  wait(h: number): void;
  /** The renderer goes on from hand-off h. */
  ask(h: number): void;
}

function compositorSide(r0: number, r1: number): Handoff {
  const buf = ioBuffer(1);
  const fd = (h: number) => (h % 2 === 0 ? r0 : r1);
  return {
    wait: (h) => readExactly(fd(h), buf, 1),
    ask: (h) => {
      readExactly(fd(h), buf, P - 1);
      readExactly(fd(h), buf, HANDOFF - P);
    },
  };
}

/** Frame f: ask the renderer for it, harvest, compare the harvest with what it drew. */
function frame(f: number, frames: number, pages: number, dev: number, handle: number, ctl: number, bitmap: number, hand: Handoff): Frame {
  hand.ask(f);
  hand.wait(f + 1);
  const drawn = new Set(Array.from({ length: load32(ctl + COUNT) }, (_, i) => load32(ctl + LIST + 4 * i)));
  const c0 = counters().cycles;
  const h = vbufHarvest(dev, handle, bitmap);
  const harvestUs = us(counters().cycles - c0);
  const harvested = new Set<number>();
  for (let i = 0; i < pages; i++) if ((load32(bitmap + 4 * (i >> 5)) >>> (i & 31)) & 1) harvested.add(i);
  return {
    phase: ['sparse', 'dense', 'idle'][Math.floor((f * 3) / frames)], drawn: drawn.size, faults: load32(ctl + FAULTS), harvested: harvested.size,
    missed: [...drawn].filter((p) => !harvested.has(p)).length, extra: [...harvested].filter((p) => !drawn.has(p)).length,
    method: VBUF_METHOD_NAMES[h.method], switches: h.switches, drawUs: us(loadF64(ctl + DRAW_CYCLES)), harvestUs,
  };
}

export default async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'renderer') return renderer(argv);
  const usage = 'usage: ptlab run examples/dirty-tracking.ts [--pages N] [--frames N] [--json] [--plot FILE]';
  const o = exampleOptions(argv, usage, {
    pages: { default: '1024', help: 'pages of the shared buffer object' },
    frames: { default: '30', help: 'frames the renderer draws' },
    ...OUTPUT_OPTIONS,
  });
  if (typeof o === 'number') return o;
  const pages = Number(o.pages);
  const frames = Number(o.frames);
  if (!(Number.isInteger(pages) && pages >= 1 && Number.isInteger(frames) && frames >= 1)) return refuse(usage, '--pages and --frames are positive integers');
  const say = o.json === 'true' ? () => {} : print;
  const dev = open('/dev/vbuf', O_RDWR);
  const bo = vbufCreate(dev, pages);
  const fd = open(CTL, O_CREAT | O_RDWR, 0o600);
  ftruncate(fd, 16 * P);
  const ctl = mmap(0, 16 * P, RW, MAP_SHARED, fd, 0);
  const bitmap = mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  say(`compositor pid ${getpid()}: a ${pages}-page buffer object (${(pages * P) / 2 ** 20} MiB), ${frames} frames`);
  const [r0, w0] = handoffPipe();
  const [r1, w1] = handoffPipe();
  const child = spawn(programPath(), ['renderer', ...[bo.offset, pages, frames, r0, w0, r1, w1].map(String)]);
  close(w0);
  close(w1);
  const hand = compositorSide(r0, r1);
  hand.wait(0);
  say(HEADER);
  // Progress on stderr, written by the compositor between frames: outside the harvest it
  // measures and while the renderer waits blocked, so no frame's figures change.
  const bar = progress('dirty-tracking', frames);
  const results: Result[] = [];
  let last = '';
  let bad = 0;
  for (let f = 0; f < frames; f++) {
    const r = frame(f, frames, pages, dev, bo.handle, ctl, bitmap, hand);
    // After a switch to PAGETABLE, vmwgfx marks the whole previous span dirty: extra pages
    // then are expected; a missed page never is.
    if (r.missed > 0) bad++;
    const note = r.method !== last && last !== '' ? '  <- switched' : '';
    say(`${String(f).padStart(5)}  ${r.phase.padEnd(6)} ${String(r.drawn).padStart(6)} ${String(r.faults).padStart(7)} ${String(r.harvested).padStart(10)} ${String(r.missed).padStart(7)} ${String(r.extra).padStart(6)}  ${r.method.padEnd(9)} ${String(r.switches).padStart(9)} ${r.drawUs.toFixed(1).padStart(11)} ${r.harvestUs.toFixed(1).padStart(14)}${note}`);
    results.push({
      point: { frame: f, phase: r.phase, method: r.method },
      values: { drawn: r.drawn, faults: r.faults, harvested: r.harvested, missed: r.missed, extra: r.extra, switches: r.switches, draw_us: r.drawUs, harvest_us: r.harvestUs },
    });
    last = r.method;
    bar.advance(`frame ${f}, ${r.phase}, ${r.method}`);
  }
  bar.finish();
  hand.ask(frames);
  const w = waitpid(child);
  unlink(CTL);
  close(dev);
  say(`renderer exit ${w.exitCode}; frames with a missed page: ${bad}`);
  if (o.json === 'true') printJson(results, argv);
  if (o.plot !== '') {
    const points = results.map((r) => ({ point: { frame: r.point.frame, method: r.point.method }, values: { frame_us: r.values.draw_us + r.values.harvest_us } }));
    await writePlot(o.plot, points, { x: 'frame', y: 'frame_us', color: 'method', title: `modeled time per frame (draw + harvest), ${pages} pages` });
  }
  return bad === 0 && w.exitCode === 0 ? 0 : 1;
}
