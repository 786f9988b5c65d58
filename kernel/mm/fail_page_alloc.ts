// Failure injection for frame allocations (mm/fail_page_alloc.c): the allocator asks
// shouldFail() at every allocation (page_alloc.ts's allocPages).

/**
 * Failure injection for frame allocations (Linux's fail_page_alloc, with fail-nth): tests
 * make the Nth allocation from now fail, or every one after the first N.
 */
export class FailPageAlloc {
  /** When > 0, counts allocations down; the one that brings it to 0 fails (fail-nth). */
  nth = 0;
  /** When >= 0, the allocations that still succeed; every later one fails (memory "exhausted"). */
  after = -1;
  /** Where failures were injected: the allocating function, with how many times. */
  readonly sites = new Map<string, number>();

  shouldFail(): boolean {
    let fail = false;
    if (this.nth > 0 && --this.nth === 0) fail = true;
    if (this.after >= 0 && this.after-- === 0) {
      this.after = 0;
      fail = true;
    }
    if (fail) this.noteSite();
    return fail;
  }

  /** The function that called allocPages, from the stack (only when a failure is injected). */
  private noteSite(): void {
    const frames = (new Error().stack ?? '').split('\n').slice(1).map((l) => /at (?:\S+\.)?(\w+) /.exec(l)?.[1] ?? '?');
    const at = frames.findIndex((f) => f === 'allocPages');
    const site = frames[at + 1] ?? '?';
    this.sites.set(site, (this.sites.get(site) ?? 0) + 1);
  }
}
