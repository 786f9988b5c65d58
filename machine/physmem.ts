// Physical memory: one SharedArrayBuffer of 4 KiB frames, shared by the kernel thread and
// every CPU worker. Page tables live in it in the x86-64 format (see pte.ts), so CPUs walk
// them without asking the kernel.
//
// Compare: the memory behind a QEMU machine's RAM region. There is no struct page here:
// frame metadata is kernel-private (kernel/mm).
//
// Threading: anyone holding the buffer may read and write it. Page-table entries are
// accessed with the rules of pgtable.ts; guest data needs no atomicity (x86 gives none
// beyond aligned accesses either).

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PMD_SHIFT = 21;
export const PMD_SIZE = 1 << PMD_SHIFT;
export const PUD_SHIFT = 30;
export const PUD_SIZE = 1 << PUD_SHIFT;
export const PGDIR_SHIFT = 39;
/** 2^39 as a plain number (the shift does not fit 32-bit operators). */
export const PGDIR_SIZE = 2 ** PGDIR_SHIFT;
/** Frames per 2 MiB and 1 GiB leaf. */
export const PMD_NR_FRAMES = PMD_SIZE / PAGE_SIZE;
export const PUD_NR_FRAMES = PUD_SIZE / PAGE_SIZE;
/** 32-bit words per frame (Int32Array view). */
export const FRAME_WORDS = PAGE_SIZE / 4;

export const DEFAULT_MEM_BYTES = 1 << 30;
/**
 * Upper bound on physical memory: 4 GiB. Node 20's V8 gives a typed array at most 2^32
 * elements, so the byte view (the MMU's byte accesses, the kernel's copies) ends there.
 */
export const MAX_MEM_BYTES = 2 ** 32;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('ptlab needs a little-endian host: guest memory is x86 little-endian');
}

/** pfn -> physical byte address. */
export function pfnToPa(pfn: number): number {
  return pfn * PAGE_SIZE;
}

/** Physical byte address -> the frame holding it. */
export function paToPfn(pa: number): number {
  return Math.floor(pa / PAGE_SIZE);
}

/** Word index (Int32Array) of the first word of a frame. Fits int32 for pfn < 2^21. */
export function pfnToWord(pfn: number): number {
  return pfn << 10;
}

/**
 * The machine's RAM. All views alias one SharedArrayBuffer; pass `buffer` to another
 * thread and rebuild the object there with `PhysMem.fromBuffer`.
 */
const ZERO_FRAME = new Uint8Array(PAGE_SIZE);

export class PhysMem {
  readonly buffer: SharedArrayBuffer;
  readonly nrFrames: number;
  readonly bytes: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.bytes = buffer.byteLength;
    this.nrFrames = buffer.byteLength / PAGE_SIZE;
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }

  /** Allocate zeroed RAM. `bytes` must be a positive multiple of 4 KiB, at most 4 GiB. */
  static create(bytes: number = DEFAULT_MEM_BYTES): PhysMem {
    if (!Number.isInteger(bytes) || bytes <= 0 || bytes % PAGE_SIZE !== 0 || bytes > MAX_MEM_BYTES) {
      throw new RangeError(`physical memory must be a multiple of 4 KiB in (0, 4 GiB], got ${bytes}`);
    }
    return new PhysMem(new SharedArrayBuffer(bytes));
  }

  /** View RAM allocated by another thread. */
  static fromBuffer(buffer: SharedArrayBuffer): PhysMem {
    if (buffer.byteLength % PAGE_SIZE !== 0) throw new RangeError('physical memory is not frame-sized');
    return new PhysMem(buffer);
  }

  /** True if pfn names a frame of this machine. */
  validPfn(pfn: number): boolean {
    return Number.isInteger(pfn) && pfn >= 0 && pfn < this.nrFrames;
  }

  /** Fill a frame with zeroes. */
  zeroFrame(pfn: number): void {
    // Copying from a zero buffer is 2x faster than fill() on a SharedArrayBuffer view.
    this.u8.set(ZERO_FRAME, pfn * PAGE_SIZE);
  }

  /** Zero `count` consecutive frames from pfn. */
  zeroFrames(pfn: number, count: number): void {
    for (let i = 0; i < count; i++) this.u8.set(ZERO_FRAME, (pfn + i) * PAGE_SIZE);
  }

  /** Copy one frame's contents onto another. */
  copyFrame(dstPfn: number, srcPfn: number): void {
    const src = pfnToWord(srcPfn);
    this.i32.copyWithin(pfnToWord(dstPfn), src, src + FRAME_WORDS);
  }
}
