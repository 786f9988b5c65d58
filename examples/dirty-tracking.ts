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
//   (or: npm run ptlab -- run examples/dirty-tracking.ts)
//
// The faults column is the renderer's page faults while drawing the frame: in MKWRITE mode
// each first write to a page since the last harvest faults (that is how it is recorded);
// in PAGETABLE mode drawing costs no fault and the harvest reads the dirty bits instead.
// The first frame after the switch to PAGETABLE still faults once per page: MKWRITE left
// them write-protected, and the switch does not undo that (vmwgfx does not either).
import {
  close, counters, getpid, load32, mmap, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, O_CREAT, O_RDWR, open, print,
  programPath, PROT_READ, PROT_WRITE, spawn, store32, syscall, SYS_sched_yield, ftruncate, unlink,
  VBUF_METHOD_NAMES, vbufCreate, vbufHarvest, waitpid, accessors,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const CTL = '/tmp/dirty-tracking.ctl';
// Control page words: the frame asked for, the frame done, the count of pages drawn, the
// renderer's page faults while drawing, then the list of pages drawn.
const ASKED = 0;
const DONE = 4;
const COUNT = 8;
const FAULTS = 12;
const LIST = 16;


function waitFor(ctl: number, word: number, value: number): void {
  while (load32(ctl + word) !== value) syscall(SYS_sched_yield);
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
  const [, offset, pages, frames] = argv.map(Number);
  const dev = open('/dev/vbuf', O_RDWR);
  const fb = mmap(0, pages * P, RW, MAP_SHARED, dev, offset);
  const fd = open(CTL, O_RDWR);
  const ctl = mmap(0, 16 * P, RW, MAP_SHARED, fd, 0);
  const { store32: put } = accessors();
  for (let f = 0; f < frames; f++) {
    waitFor(ctl, ASKED, f + 1);
    const drawn = framePages(f, frames, pages);
    const before = counters().page_faults;
    for (const pg of drawn) for (let x = 0; x < P; x += 512) put(fb + pg * P + x, f);
    store32(ctl + FAULTS, counters().page_faults - before);
    store32(ctl + COUNT, drawn.length);
    drawn.forEach((pg, i) => store32(ctl + LIST + 4 * i, pg));
    store32(ctl + DONE, f + 1);
  }
  close(dev);
  return 0;
}

export default function main(argv: string[]): number {
  if (argv[0] === 'renderer') return renderer(argv);
  const usage = 'usage: ptlab run examples/dirty-tracking.ts [--pages N] [--frames N]';
  const o = exampleOptions(argv, usage, {
    pages: { default: '1024', help: 'pages of the shared buffer object' },
    frames: { default: '30', help: 'frames the renderer draws' },
  });
  if (typeof o === 'number') return o;
  const pages = Number(o.pages);
  const frames = Number(o.frames);
  if (!(Number.isInteger(pages) && pages >= 1 && Number.isInteger(frames) && frames >= 1)) return refuse(usage, '--pages and --frames are positive integers');
  const dev = open('/dev/vbuf', O_RDWR);
  const bo = vbufCreate(dev, pages);
  const fd = open(CTL, O_CREAT | O_RDWR, 0o600);
  ftruncate(fd, 16 * P);
  const ctl = mmap(0, 16 * P, RW, MAP_SHARED, fd, 0);
  const bitmap = mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  print(`compositor pid ${getpid()}: a ${pages}-page buffer object (${(pages * P) / 2 ** 20} MiB), ${frames} frames`);
  const child = spawn(programPath(), ['renderer', String(bo.offset), String(pages), String(frames)]);
  print('frame  phase   drawn  faults  harvested  missed  extra  method     switches');
  let lastMethod = -1;
  let bad = 0;
  for (let f = 0; f < frames; f++) {
    store32(ctl + ASKED, f + 1);
    waitFor(ctl, DONE, f + 1);
    const drawn = new Set(Array.from({ length: load32(ctl + COUNT) }, (_, i) => load32(ctl + LIST + 4 * i)));
    const h = vbufHarvest(dev, bo.handle, bitmap);
    const harvested = new Set<number>();
    for (let i = 0; i < pages; i++) if ((load32(bitmap + 4 * (i >> 5)) >>> (i & 31)) & 1) harvested.add(i);
    const missed = [...drawn].filter((p) => !harvested.has(p)).length;
    const extra = [...harvested].filter((p) => !drawn.has(p)).length;
    // After a switch to PAGETABLE, vmwgfx marks the whole previous span dirty: extra pages
    // then are expected; a missed page never is.
    if (missed > 0) bad++;
    const phase = ['sparse', 'dense', 'idle'][Math.floor((f * 3) / frames)];
    const note = h.method !== lastMethod && lastMethod >= 0 ? '  <- switched' : '';
    print(`${String(f).padStart(5)}  ${phase.padEnd(6)} ${String(drawn.size).padStart(6)} ${String(load32(ctl + FAULTS)).padStart(7)} ${String(harvested.size).padStart(10)} ${String(missed).padStart(7)} ${String(extra).padStart(6)}  ${VBUF_METHOD_NAMES[h.method].padEnd(9)} ${String(h.switches).padStart(9)}${note}`);
    lastMethod = h.method;
  }
  const w = waitpid(child);
  unlink(CTL);
  close(dev);
  print(`renderer exit ${w.exitCode}; frames with a missed page: ${bad}`);
  return bad === 0 && w.exitCode === 0 ? 0 : 1;
}
