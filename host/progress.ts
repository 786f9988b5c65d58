// Progress of a long job, for ptlab's commands (sweep, calibrate) and for guests (userland's
// progress(), which writes through the guest's fd 2): on a terminal a bar redrawn in place
// with the time left; otherwise (a pipe, a log file, CI) a line every few seconds. No Node
// imports here: guests bundle this file. The clock is injectable, for tests.

/** Where progress goes: a stream, and whether it is a terminal. */
export interface ProgressOut {
  write(text: string): void;
  readonly isTTY: boolean;
}

export interface ProgressOptions {
  /** What is running, at the start of each line ("ptlab sweep", "sga"). */
  label: string;
  /** Steps in all (runs, rows, clients). */
  total: number;
  out: ProgressOut;
  /** Milliseconds, increasing (default performance.now). */
  now?: () => number;
  /** Seconds between lines when not a terminal (default 5). */
  every?: number;
  /** Seconds before the first bar on a terminal (default 0.5): a short job draws none. */
  delay?: number;
}

/** Seconds as m:ss, or h:mm:ss. */
export function clock(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const WIDTH = 30;
/** Least milliseconds between two redraws of the bar (each is a write). */
const REDRAW_MS = 200;

export class Progress {
  done = 0;
  failed = 0;
  private note = '';
  private readonly now: () => number;
  private readonly t0: number;
  private readonly every: number;
  private readonly delay: number;
  /** When the bar was last drawn or the last line written (ms); -Infinity: never. */
  private last = -Infinity;
  /** The bar is on the terminal's last line (to clear before a line of its own). */
  private shown = false;
  private finished = false;
  /** The last line written was a periodic one (not a terminal): finish writes the last one. */
  private periodic = false;

  constructor(private readonly o: ProgressOptions) {
    this.now = o.now ?? (() => performance.now());
    this.t0 = this.now();
    this.every = (o.every ?? 5) * 1000;
    this.delay = (o.delay ?? 0.5) * 1000;
  }

  /** "3/8 (1 failed), 0:45 elapsed, ~1:15 left". */
  status(): string {
    const elapsed = (this.now() - this.t0) / 1000;
    const left = this.done === 0 ? '?' : clock((elapsed / this.done) * Math.max(0, this.o.total - this.done));
    return `${this.done}/${this.o.total}${this.failed > 0 ? ` (${this.failed} failed)` : ''}, ${clock(elapsed)} elapsed, ~${left} left`;
  }

  /** Steps done so far, and what is being done now (shown after the status). */
  update(done: number, note = this.note): void {
    this.done = done;
    this.note = note;
    this.show(false);
  }

  /** One more step done (failed: counted as such). */
  advance(note = this.note, failed = false): void {
    if (failed) this.failed++;
    this.update(this.done + 1, note);
  }

  /**
   * A line of its own: on a terminal above the bar, which is drawn again; otherwise it counts
   * as the periodic line.
   */
  line(text: string): void {
    this.o.out.write(`${this.shown ? '\r\x1b[K' : ''}${this.o.label}: ${text}\n`);
    this.shown = false;
    if (!this.o.out.isTTY) {
      this.last = this.now();
      this.periodic = false;
    }
    else if (!this.finished && this.last > -Infinity) this.draw();
  }

  /** Take the bar off the terminal, to write something else there; the next update draws it again. */
  clear(): void {
    if (this.shown) this.o.out.write('\r\x1b[K');
    this.shown = false;
  }

  /** Time passes (a timer's tick): the bar is redrawn, or a line written if none was for a while. */
  tick(): void {
    this.show(this.o.out.isTTY);
  }

  /**
   * The end: on a terminal the bar as it ends, on a line of its own (if it was drawn at all);
   * otherwise a last line, if the last line written was a periodic one.
   */
  finish(note = this.note): void {
    if (this.finished) return;
    this.note = note;
    if (this.o.out.isTTY && this.last > -Infinity) {
      this.draw();
      this.o.out.write('\n');
    } else if (this.periodic) {
      this.o.out.write(this.text());
    }
    this.finished = true;
    this.shown = false;
  }

  private text(): string {
    return `${this.o.label}: [${this.status()}]${this.note === '' ? '' : ` ${this.note}`}\n`;
  }

  private show(force: boolean): void {
    if (this.finished) return;
    const t = this.now();
    if (this.o.out.isTTY) {
      if (t - this.t0 < this.delay && !force) return;
      if (force || t - this.last >= REDRAW_MS || this.done === this.o.total) this.draw();
    } else if (t - (this.last === -Infinity ? this.t0 : this.last) >= this.every) {
      this.last = t;
      this.periodic = true;
      this.o.out.write(this.text());
    }
  }

  private draw(): void {
    this.last = this.now();
    const full = Math.min(WIDTH, Math.round((WIDTH * this.done) / Math.max(1, this.o.total)));
    this.o.out.write(`\r\x1b[K${this.o.label}: [${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}] ${this.status()}${this.note === '' ? '' : ` ${this.note}`}`);
    this.shown = true;
  }
}

/** A host stream guest output goes to. */
export interface HostStream {
  write(data: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
}

const NL = 10;
const CR = 13;

/**
 * The guests' stdout and stderr on the host, keeping a progress bar (stderr's last line, left
 * unfinished after a carriage return) below the program's output when both go to a
 * terminal: the bar is cleared before stdout is written, and drawn again after a full line.
 */
export class GuestStreams {
  /** The bar as last drawn on stderr (empty: none). */
  private bar: Uint8Array = new Uint8Array(0);
  private hidden = false;

  constructor(private readonly stdout: HostStream, private readonly stderr: HostStream) {}

  write(fd: number, data: Uint8Array): void {
    if (fd !== 1) {
      this.stderr.write(data);
      const cr = data.lastIndexOf(CR);
      this.bar = cr > data.lastIndexOf(NL) ? data.slice(cr) : new Uint8Array(0);
      this.hidden = false;
      return;
    }
    const keep = this.bar.length > 0 && this.stdout.isTTY === true && this.stderr.isTTY === true;
    if (keep && !this.hidden) this.stderr.write('\r\x1b[K');
    this.stdout.write(data);
    this.hidden = keep && data[data.length - 1] !== NL;
    if (keep && !this.hidden) this.stderr.write(this.bar);
  }
}
