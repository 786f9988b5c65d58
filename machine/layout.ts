// The control block: the one layout of the SharedArrayBuffer that the host, the kernel
// thread and every CPU worker share besides physical memory. Every shared slot of ptlab is
// defined here and nowhere else; other modules import these names, never numbers.
//
// Compare: the per-CPU areas and the APIC mailboxes of a real machine.
//
//   byte 0                  256                         512
//   +-----------------------+---------------------------+-------------+-------------+---
//   | global int32 words    | kernel counters (float64) | CPU 0 block | CPU 1 block | ...
//   +-----------------------+---------------------------+-------------+-------------+---
//
//   CPU block (CPU_BLOCK_BYTES, a multiple of 128):
//   +----------------------------+---------------------------+--------------------------+
//   | line 0: handshake int32s   | line 1: hot int32 counters| float64: syscall args,   |
//   | (state, request, IPI box)  | (written by the CPU only) | trap, IPI range, counters|
//   +----------------------------+---------------------------+--------------------------+
//
// Access rules are given per field: "atomic" fields are read and written only with
// Atomics (they carry handshakes and are waited on); "plain" fields are ordinary typed-array
// accesses, ordered by the atomic handshake that publishes them. Int32 reads are tear-free
// in the ECMAScript memory model; float64 reads are tear-free on x86-64 and arm64 hosts.

import { CPU_COUNTER_SLOTS, KERNEL_COUNTER_SLOTS } from './counters.ts';

export const CONTROL_MAGIC = 0x7074_6c62; // "ptlb"

// --- global int32 words (Int32Array index) ------------------------------------------------

/** Plain. Written once by the host at boot: CONTROL_MAGIC. */
export const G_MAGIC = 0;
/** Plain. Written once by the host at boot: number of CPU blocks. */
export const G_NR_CPUS = 1;
/**
 * Atomic for writers, plain for readers. Page-table `hi`-word sequence: the kernel makes it
 * odd before it changes the `hi` word of a present entry and even after (pgtable.ts). A
 * walker that sees it change or odd during a walk restarts the walk.
 */
export const G_PTE_SEQ = 3;
/** Atomic. Set to 1 by the host to halt the machine; everyone polls it at wait timeouts. */
export const G_HALT = 4;
/**
 * Atomic. The kernel doorbell, on its own cache line (away from G_PTE_SEQ, which every
 * walk reads): the kernel sleeps on it when it has nothing to do; a CPU (or the host) that
 * posted work while G_KSLEEP is set adds 1 and notifies (doorbell.ts).
 */
export const G_DOORBELL = 16;
/**
 * Atomic. Written by the kernel: 1 while it sleeps (or is about to) on G_DOORBELL; while it
 * is 0 the kernel is polling the request words and posters leave the doorbell alone.
 */
export const G_KSLEEP = 17;
export const GLOBAL_I32_WORDS = 64;

// --- kernel counters (Float64Array index) -------------------------------------------------

/** Plain. Written by the kernel thread, read by the host. Slots: K_* in counters.ts. */
export const KCOUNTERS_F64 = GLOBAL_I32_WORDS / 2;

// --- modeled-time parameters (Float64Array index) ------------------------------------------

/**
 * Plain. The parameters of the modeled clock that readCpuCounters needs (machine/timing.ts):
 * the preset's latencies, written by every Mmu as it is built (all CPUs share the preset),
 * and the kernel costs taken on a CPU outside a request (IPIs), written by the kernel at boot.
 */
export const MODEL_F64 = KCOUNTERS_F64 + KERNEL_COUNTER_SLOTS;
/** Slots of the model area, relative to MODEL_F64. Latencies in cycles, costs in ns. */
export const P_GHZ = 0;
export const P_ACCESS = 1;
export const P_STLB_HIT = 2;
export const P_WALK = 3;
export const P_REF_PML4E = 4;
export const P_REF_PDPTE = 5;
export const P_REF_PDE = 6;
export const P_REF_PTE = 7;
export const P_AD_UPDATE = 8;
export const P_IPI_RECEIVE_NS = 9;
export const P_FLUSH_PAGE_NS = 10;
export const P_FLUSH_FULL_NS = 11;
export const MODEL_SLOTS = 16;

const GLOBAL_BYTES = roundUp(GLOBAL_I32_WORDS * 4 + (KERNEL_COUNTER_SLOTS + MODEL_SLOTS) * 8, 128);

// --- per-CPU int32 words (index relative to cpuI32Base) ------------------------------------

/**
 * Atomic. CPU_OFFLINE, CPU_USER or CPU_IDLE; see the constants below for who sets which
 * value. The CPU moves between CPU_USER and CPU_IDLE with compare-exchange only, so it
 * never overwrites the kernel's CPU_OFFLINE.
 */
export const CPU_STATE = 0;
/** Plain. Written by the CPU when it loads CR3: the PML4 frame. Read by kernel and host. */
export const CPU_CR3_PFN = 1;
/** Plain. Written by the CPU when it loads CR3: the current PCID. */
export const CPU_PCID = 2;
/**
 * Plain for the CPU, atomic for the kernel. IPI pending flag: the kernel stores 1 after
 * posting a flush; the CPU reads it on every memory access (plain load, one compare) and
 * clears it with an atomic store before it reads the mailbox.
 */
export const IPI_PENDING = 3;
/**
 * Atomic. Mailbox sequence: odd while the kernel writes the request fields, even when they
 * are complete. Each posted request advances it by 2.
 */
export const IPI_SEQ = 4;
/** Atomic. Written by the CPU: the IPI_SEQ value whose request it has applied. */
export const IPI_ACK = 5;
/** Plain, guarded by IPI_SEQ. Written by the kernel: FLUSH_* kind. */
export const IPI_KIND = 6;
/** Plain, guarded by IPI_SEQ. Written by the kernel: PCID the flush applies to. */
export const IPI_PCID = 7;
/** Plain, guarded by IPI_SEQ. Written by the kernel: log2 of the ranged flush's stride. */
export const IPI_STRIDE_SHIFT = 8;
/**
 * Atomic. Written by the CPU: 1 while it sleeps (or is about to) on CPU_REQ waiting for the
 * kernel, so the kernel notifies only then (doorbell.ts).
 */
export const CPU_SLEEPING = 9;

/**
 * Plain. Written only by the CPU on every translated access: the access clock (data TLB
 * lookups, int32). It is also the timestamp of the modeled true-LRU replacement. Folded
 * into C_LOOKUPS_FOLDED before it reaches 2^30.
 */
export const HOT_CLOCK = 16;
/** Plain. Written only by the CPU: store lookups (int32), folded into C_STORES_FOLDED. */
export const HOT_STORES = 17;
export const CPU_I32_WORDS = 32;

// --- the syscall line: one 64-byte line holds a whole request and its answer ---------------
//
// A syscall crosses between two cores twice; every other cache line it touched would add a
// miss on that path (about 0.2 us each on the project machine). So the handshake word, the
// number, the six arguments and the result share the first line of the float64 area:
//
//   int32 CPU_REQ | int32 CPU_SYSNO | f64 CPU_ARGS[0..5] | f64 CPU_RET
//
// A page fault uses the same line (REQ_TRAP: CPU_SYSNO = #PF error code, CPU_ARGS[0] = the
// faulting address), and so does a signal sent back (REQ_SIGNAL: CPU_SYSNO = signal number,
// CPU_ARGS[0] = si_code, CPU_RET = si_addr).

/**
 * Atomic (int32 index relative to cpuI32Base, inside the float64 area). The CPU writes
 * REQ_SYSCALL or REQ_TRAP after filling the line and rings the doorbell; the kernel answers
 * with REQ_DONE, REQ_SIGNAL, REQ_EXIT or REQ_DIE after filling the result.
 */
export const CPU_REQ = CPU_I32_WORDS;
/** Plain, published by CPU_REQ. The syscall number (or the trap's error code, the signal). */
export const CPU_SYSNO = CPU_I32_WORDS + 1;

// --- per-CPU float64 slots (index relative to cpuF64Base) ----------------------------------

/** Plain, published by CPU_REQ. Written by the CPU: syscall arguments 0..5. */
export const CPU_ARGS = 1;
/** Plain, published by CPU_REQ = REQ_DONE. Written by the kernel: the syscall result. */
export const CPU_RET = 7;
/** Plain, guarded by IPI_SEQ. Written by the kernel: ranged flush [start, end). */
export const IPI_START = 8;
export const IPI_END = 9;
/** Plain. Written by the CPU: counter slots C_* (counters.ts). */
export const CPU_COUNTERS_F64 = 16;
/**
 * Plain. Written by the kernel thread only (machine/timing.ts): the modeled kernel time of the
 * thread on this CPU, ns (CPU_KERNEL_NS), and the machine's clock when it started, cycles
 * (CPU_CLOCK_START). Set when the kernel gives the CPU a thread; the Mmu leaves them alone.
 */
export const CPU_MODEL_F64 = CPU_COUNTERS_F64 + CPU_COUNTER_SLOTS;
export const CPU_KERNEL_NS = 0;
export const CPU_CLOCK_START = 1;
const CPU_F64_SLOTS = CPU_MODEL_F64 + 2;

export const CPU_BLOCK_BYTES = roundUp(CPU_I32_WORDS * 4 + CPU_F64_SLOTS * 8, 128);

// --- values --------------------------------------------------------------------------------

/** CPU_STATE: no guest thread on this CPU (set by the kernel when it frees the CPU). */
export const CPU_OFFLINE = 0;
/**
 * CPU_STATE: a guest thread runs here (set by the CPU when it starts). Whether it is in
 * the kernel right now is CPU_REQ: REQ_SYSCALL or REQ_TRAP while it waits for an answer.
 */
export const CPU_USER = 1;
/**
 * CPU_STATE: the guest thread is idle in its event loop (its JavaScript stack is empty,
 * between macrotasks). Set by the CPU (Mmu.idle) from CPU_USER; the CPU sets it back to
 * CPU_USER and takes its mailbox before its next translation (Mmu.takeIpis), so a shootdown
 * posts to it and does not wait for it (Linux's lazy-TLB CPUs; README.md, "Idle CPUs").
 */
export const CPU_IDLE = 2;

/** CPU_REQ values. The answer stays until the CPU's next request. */
export const REQ_NONE = 0;
export const REQ_SYSCALL = 1;
export const REQ_TRAP = 2;
/** Answer: resume (a syscall returns CPU_RET; a trap retries the access). */
export const REQ_DONE = 3;
/** Answer: run the thread's handler for the signal described in the syscall line. */
export const REQ_SIGNAL = 4;
/** Answer: the thread is gone (its process exited or was killed): stop running guest code. */
export const REQ_EXIT = 5;
/**
 * Answer: the thread is gone, killed by this request (a fatal page fault, a kernel bug met
 * serving it): report where the guest was (its stack, to the host), then stop as REQ_EXIT.
 */
export const REQ_DIE = 6;

/** True if CPU `cpu` has a syscall or trap posted that the kernel has not answered yet. */
export function cpuRequestPosted(i32: Int32Array, cpu: number): boolean {
  const req = Atomics.load(i32, cpuI32Base(cpu) + CPU_REQ);
  return req === REQ_SYSCALL || req === REQ_TRAP;
}

/** IPI_KIND values: what a shootdown asks the CPU to invalidate (see ipi.ts). */
export const FLUSH_NONE = 0;
/** Every stride step in [IPI_START, IPI_END) for IPI_PCID, as INVLPG would. */
export const FLUSH_RANGE = 1;
/** Everything of IPI_PCID except global entries (INVPCID type 1). */
export const FLUSH_PCID = 2;
/** Everything except global entries, all PCIDs (INVPCID type 3). */
export const FLUSH_NONGLOBAL = 3;
/** Everything (INVPCID type 2). */
export const FLUSH_ALL = 4;

// --- the block itself -----------------------------------------------------------------------

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Bytes of a control block for `nrCpus` CPUs. */
export function controlBlockBytes(nrCpus: number): number {
  return GLOBAL_BYTES + nrCpus * CPU_BLOCK_BYTES;
}

/** Int32Array index of CPU `cpu`'s int32 word 0. */
export function cpuI32Base(cpu: number): number {
  return (GLOBAL_BYTES + cpu * CPU_BLOCK_BYTES) / 4;
}

/** Float64Array index of CPU `cpu`'s float64 slot 0. */
export function cpuF64Base(cpu: number): number {
  return (GLOBAL_BYTES + cpu * CPU_BLOCK_BYTES + CPU_I32_WORDS * 4) / 8;
}

/** The part of the WebAssembly API alignedSharedBuffer uses (the project's libs leave it out). */
const Wasm = (globalThis as unknown as {
  WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } };
}).WebAssembly;

/**
 * A zeroed SharedArrayBuffer of at least `bytes` bytes that starts on a page boundary. The
 * layout's cache-line placement (a whole request on one 64-byte line, the doorbell apart
 * from G_PTE_SEQ, the hot counters apart from the handshake) holds only if the buffer
 * starts on a line: a plain SharedArrayBuffer of this size comes from malloc at a 16-byte
 * alignment that varies from run to run (measured: a getpid round trip of 0.45-0.5 us in
 * some runs, 1.0-1.1 us in others, the same code). A shared WebAssembly memory is whole
 * mapped pages.
 */
export function alignedSharedBuffer(bytes: number): SharedArrayBuffer {
  const pages = Math.ceil(bytes / 65536);
  return new Wasm.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
}

/** Views of a control block. Build one per thread from the shared buffer. */
export class ControlBlock {
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly nrCpus: number;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.nrCpus = this.i32[G_NR_CPUS];
  }

  /** Allocate and initialise a control block (host, at boot). */
  static create(nrCpus: number): ControlBlock {
    if (!Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > 65536) {
      throw new RangeError(`nrCpus must be an integer in [1, 65536], got ${nrCpus}`);
    }
    const buffer = alignedSharedBuffer(controlBlockBytes(nrCpus));
    const i32 = new Int32Array(buffer);
    i32[G_MAGIC] = CONTROL_MAGIC;
    i32[G_NR_CPUS] = nrCpus;
    return new ControlBlock(buffer);
  }

  /** View a control block created by another thread. */
  static fromBuffer(buffer: SharedArrayBuffer): ControlBlock {
    const cb = new ControlBlock(buffer);
    if (cb.i32[G_MAGIC] !== CONTROL_MAGIC) throw new Error('not a ptlab control block');
    return cb;
  }

  /** Float64Array index of the kernel counter slot `k` (K_* in counters.ts). */
  kernelCounterIndex(k: number): number {
    return KCOUNTERS_F64 + k;
  }
}
