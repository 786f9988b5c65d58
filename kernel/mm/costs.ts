// The kernel cost table of modeled time: what each kind of kernel work costs, in ns, as
// measured on a host by `ptlab calibrate` (host/calibrate.ts) or assumed where nothing on a
// host measures it. README.md, "Modeled time", gives each entry's source.

/** Costs in ns (host, date and note say where they come from). */
export interface KernelCosts {
  /** Where and when the table was measured. */
  host: string;
  date: string;
  note: string;
  /** A system call that does nothing: the trap into the kernel, the dispatch and the return (getpid). */
  syscall: number;
  /** A page fault that allocates, copies and zeroes nothing (the exception, the lookup, its PTE write, the return). */
  faultMinor: number;
  /** A fault that maps a new anonymous page, beyond zeroing it. */
  faultAnon: number;
  /** A fault that copies a page (COW), beyond the copy. */
  faultCow: number;
  /** A fault that reads a page back from swap. */
  faultMajor: number;
  /** Zeroing one 4 KiB page. */
  pageZero: number;
  /** Copying one 4 KiB page. */
  pageCopy: number;
  /** Each page-table entry a system call writes or clears (and the page it maps, freed or taken). */
  pteWrite: number;
  /**
   * Each PTE fork copies (copy_page_range with the page's reference), and its zap when the
   * child exits; a fork's own PTE writes are priced by this, not by pteWrite.
   */
  forkPte: number;
  /** Each VMA inserted, removed or resized. */
  vma: number;
  /** Each byte copied to or from user memory. */
  uaccessByte: number;
  /** The initiator of a shootdown, per CPU it sends the IPI to. */
  ipiSend: number;
  /** A CPU taking a shootdown IPI: interrupt entry, the flush's dispatch, the acknowledgement. */
  ipiReceive: number;
  /** Each page a ranged shootdown invalidates on the receiving CPU (INVLPG). */
  flushPage: number;
  /** A shootdown applied as a whole-context flush on the receiving CPU. */
  flushFull: number;
  /** Starting a process (fork's fixed part: task and mm setup, the first schedule). */
  processStart: number;
  /** Starting a thread (clone with CLONE_VM, the first schedule). */
  threadStart: number;
  /**
   * Each VMA a reverse-map walk visits (reclaim's folio_referenced and try_to_unmap, rmap_walk):
   * the interval-tree step and the software walk down to the page's PTE table. Assumed, not
   * measured (README.md, "Modeled time").
   */
  rmapVma: number;
  /** Each PTE a reverse-map walk reads (its own write, if any, is priced as pteWrite). Assumed, as rmapVma. */
  rmapPte: number;
}

/** The numeric entries of KernelCosts, in the order calibrate prints them. */
export const COST_NAMES = [
  'syscall', 'faultMinor', 'faultAnon', 'faultCow', 'faultMajor', 'pageZero', 'pageCopy', 'pteWrite', 'forkPte', 'vma',
  'uaccessByte', 'ipiSend', 'ipiReceive', 'flushPage', 'flushFull', 'processStart', 'threadStart', 'rmapVma', 'rmapPte',
] as const satisfies readonly (keyof KernelCosts)[];

/**
 * Entries added after cost tables were first written (by calibrate or by hand): a table
 * without one loads with the shipped table's value (DEFAULT_COSTS), and its note says which
 * it took. Every other entry missing is an error. The probe measures none of these (each
 * is assumed), so a table from an older calibrate differs from a new one only in them.
 */
export const FILLED_COSTS = ['rmapVma', 'rmapPte'] as const satisfies readonly (typeof COST_NAMES)[number][];

/**
 * The shipped table: `ptlab calibrate --rounds 5 -o FILE` on the project machine, a
 * Firecracker VM where every fault and page-table change traps to the hypervisor (README.md,
 * "Modeled time", compares them with bare-metal figures).
 */
export const DEFAULT_COSTS: Readonly<KernelCosts> = {
  host: 'project machine (vm: 2 x AMD EPYC, Linux 6.18.44-fc-v1272), load average about 3',
  date: '2026-12-04 22:38 UTC',
  note: 'ptlab calibrate --rounds 5 --scale 0.25 (medians of single operations); flushPage and flushFull from the INVLPG estimate in Linux (README.md); forkPte from a later run, 2026-12-05 00:27 UTC at load average 23 (fork of 4096 written pages 3.95 ms, of none 1.49 ms); rmapVma and rmapPte assumed from a cold and an uncached-level page walk (README.md)',
  syscall: 992,
  faultMinor: 11432,
  faultAnon: 11318,
  faultCow: 15577,
  faultMajor: 11362,
  pageZero: 44,
  pageCopy: 43,
  pteWrite: 18235,
  forkPte: 600,
  vma: 927,
  uaccessByte: 0.010595703125,
  ipiSend: 1508,
  ipiReceive: 1508,
  flushPage: 100,
  flushFull: 3300,
  processStart: 1532741,
  threadStart: 25838,
  rmapVma: 133,
  rmapPte: 10,
};

/**
 * A cost table from parsed JSON: every entry of KernelCosts, the numbers finite and >= 0;
 * an entry of FILLED_COSTS that is missing takes DEFAULT_COSTS's value, and the note ends
 * with "; from the shipped table: NAMES". Throws a RangeError that names the first bad entry.
 */
export function parseCosts(j: unknown): KernelCosts {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new RangeError('a cost table is a JSON object');
  const o = j as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['host', 'date', 'note'] as const) {
    if (typeof o[k] !== 'string') throw new RangeError(`cost table: '${k}' must be a string`);
    out[k] = o[k];
  }
  const filled: string[] = [];
  for (const k of COST_NAMES) {
    let v = o[k];
    if (v === undefined && (FILLED_COSTS as readonly string[]).includes(k)) {
      v = DEFAULT_COSTS[k];
      filled.push(k);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`cost table: '${k}' must be a number of ns >= 0`);
    out[k] = v;
  }
  const unknown = Object.keys(o).find((k) => !(k in out));
  if (unknown !== undefined) throw new RangeError(`cost table: no entry '${unknown}'`);
  if (filled.length > 0) out.note = `${out.note as string}; from the shipped table: ${filled.join(', ')}`;
  return out as unknown as KernelCosts;
}
