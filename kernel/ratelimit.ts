// lib/ratelimit.c: at most `burst` events per interval, the rest counted and reported as
// "callbacks suppressed" when the next interval opens.

/**
 * ___ratelimit: at most `burst` passes per `intervalMs`; `missed` counts the refusals not
 * reported yet. DEFAULT_RATELIMIT_INTERVAL (5 s) and DEFAULT_RATELIMIT_BURST (10).
 */
export class Ratelimit {
  missed = 0;
  private begin = -Infinity;
  private passed = 0;

  constructor(readonly intervalMs = 5000, readonly burst = 10) {}

  /** True if an event at time `now` (ms) may be reported. */
  ok(now: number): boolean {
    if (now - this.begin >= this.intervalMs) {
      this.begin = now;
      this.passed = 0;
    }
    if (this.passed < this.burst) {
      this.passed++;
      return true;
    }
    this.missed++;
    return false;
  }

  /**
   * ___ratelimit with its message: true if the event may be reported; when it opens a new
   * interval after refusals, first logs "`func`: N callbacks suppressed" through `printk`.
   */
  allow(now: number, func: string, printk: (line: string) => void): boolean {
    if (!this.ok(now)) return false;
    if (this.missed > 0) printk(`${func}: ${this.missed} callbacks suppressed`);
    this.missed = 0;
    return true;
  }
}
