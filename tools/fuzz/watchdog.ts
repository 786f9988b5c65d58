// The fuzz run's watchdog: tells a hang from a slow or starved machine by progress, not
// by wall time alone. On a loaded host the CPU workers (nice 19) may get little CPU, and a
// shootdown then waits its full timeout for each of them: the kernel answers the host late,
// yet it moves. So:
//   - the kernel hangs if it answers no ping for `limitMs` while its counters (system calls,
//     faults, shootdowns and their timeouts, reclaim scans, ...) stay still over that time
//     and the machine's process burns next to no CPU (everyone waits: a lock-up); if the
//     counters move or it computes (long work that counts nothing, on a starved host), it
//     is busy, and only a ping unanswered for `capMs` (work that never ends) is a hang;
//   - a fuzz process hangs if it reports nothing for `limitMs`, not counting the time the
//     kernel kept pings unanswered (it may wait behind a long request), while other
//     processes reported calls meanwhile (the machine was not starved), unless the kernel
//     says it is in a call in slices that keeps running slices (a populate of a huge range
//     is long, not stuck: inKernelCall); or for `capMs` in any case.
// Pure logic over the times and counts it is given, so a test can play any timeline.

export interface Verdict {
  detail: string;
  proc?: number;
}

/** A ping unanswered for this long counts as time the kernel was busy. */
const PROMPT_MS = 250;
/** CPU use (of one core) that counts as computing: a lock-up's threads all sleep. */
const BUSY_CPU = 0.03;

interface Seen {
  /** When it last reported, or was last seen running slices of a call. */
  at: number;
  busy: number;
  calls: number;
  /** When it last reported (capMs counts from here). */
  reported: number;
}

export class Watchdog {
  private asked: number | null = null;
  /** ms of unanswered pings (beyond PROMPT_MS) before the current one. */
  private busyMs = 0;
  private signature: number | null = null;
  private movedAt: number;
  private cpuAt: [number, number] | null = null;
  private readonly seen = new Map<number, Seen>();

  constructor(
    readonly limitMs: number,
    readonly capMs: number,
    now: number,
  ) {
    this.movedAt = now;
  }

  /** A ping was sent to the kernel. */
  ping(now: number): void {
    this.asked = now;
  }

  /** The kernel answered the ping. */
  answered(now: number): void {
    if (this.asked !== null) this.busyMs += Math.max(0, now - this.asked - PROMPT_MS);
    this.asked = null;
  }

  /**
   * The kernel's counters now, as one number that changes when any of them does, and the
   * CPU time the machine's process (the kernel and CPU worker threads) has used, ms.
   */
  counters(now: number, signature: number, cpuMs: number): void {
    const computing = this.cpuAt !== null && now > this.cpuAt[0] && (cpuMs - this.cpuAt[1]) / (now - this.cpuAt[0]) >= BUSY_CPU;
    if (signature !== this.signature || computing) this.movedAt = now;
    this.signature = signature;
    this.cpuAt = [now, cpuMs];
  }

  /** Process `proc` started or reported (`calls`: every process's reported calls so far). */
  report(proc: number, now: number, calls: number): void {
    this.seen.set(proc, { at: now, busy: this.busy(now), calls, reported: now });
  }

  /** Process `proc` is in a call in slices that ran slices since it was last asked: progress, within capMs. */
  inKernelCall(proc: number, now: number): void {
    const s = this.seen.get(proc);
    if (s === undefined) return;
    s.at = now;
    s.busy = this.busy(now);
  }

  /** Process `proc` ended. */
  ended(proc: number): void {
    this.seen.delete(proc);
  }

  private busy(now: number): number {
    return this.busyMs + (this.asked === null ? 0 : Math.max(0, now - this.asked - PROMPT_MS));
  }

  /** A hang, or null. `calls`: every process's reported calls so far. */
  check(now: number, calls: number): Verdict | null {
    if (this.asked !== null) {
      const waited = now - this.asked;
      const still = now - this.movedAt;
      if (waited >= this.limitMs && still >= this.limitMs) {
        return { detail: `the kernel answered nothing for ${Math.round(waited)} ms, and for ${Math.round(still)} ms its counters did not move and the machine computed nothing` };
      }
      if (waited >= this.capMs) {
        return { detail: `the kernel answered nothing for ${Math.round(waited)} ms (its counters moved or it computed: busy with work that does not end)` };
      }
    }
    for (const [proc, s] of this.seen) {
      const silent = now - s.at - (this.busy(now) - s.busy);
      if (silent >= this.limitMs && calls > s.calls) {
        return { proc, detail: `fuzz process ${proc} reported no progress for ${Math.round(silent)} ms of kernel availability while the others made ${calls - s.calls} calls` };
      }
      if (now - s.reported >= this.capMs) {
        return { proc, detail: `fuzz process ${proc} reported no progress for ${Math.round(now - s.reported)} ms` };
      }
    }
    return null;
  }
}
