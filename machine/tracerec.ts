// An MMU that records its CPU's translation stream (traceformat.ts) as it runs: every
// translation attempt (fast-path hits included), every walk's outcome, and every event that
// changes translation state (CR3 and CR4 loads, INVLPG, INVPCID, shootdowns taken, split
// accesses). Only a recording CPU uses this class; the plain Mmu's hit path is untouched.
//
// Hits: each fast path is wrapped; the wrapper takes a posted shootdown first (as the slow
// path would before translating), records the access, then calls the plain fast path. If
// that goes to the slow path, translatePfn's `attempted` hook sees the access is recorded
// already; it records every further attempt (a retry after a fault, a split access's second
// page). What the CPU does between recording an access and translating it (a shootdown
// posted meanwhile, a split) goes before the access. An attempt is recorded before it is
// made, so a thread stopped in between has one recorded attempt too many, which the host
// drops (TraceWriter.finish).

import type { ControlBlock } from './layout.ts';
import { Mmu, type MmuOptions } from './mmu.ts';
import type { PhysMem } from './physmem.ts';
import * as format from './traceformat.ts';
import type { TraceWriter } from './traceformat.ts';
import * as walker from './walker.ts';

// Imported values are copied into module-local consts (under vitest and tsx each read of an
// imported binding is a getter call; a recording CPU reads these on every access).
const { kindOf, packWalk, T_CR3, T_CR4, T_INVLPG, T_INVPCID, T_IPI, T_SPLIT, T_WALK } = format;
const { Walker } = walker;

const VA_LIMIT = 2 ** 48;
const USER_READ = kindOf(4);
const USER_WRITE = kindOf(6);

/** A Walker class that records each walk's outcome into `rec`. */
function recordingWalker(rec: TraceWriter): typeof walker.Walker {
  return class RecordingWalker extends Walker {
    override walk(a: number, b: number, access: number, level: number, tablePfn: number, perms: number): boolean {
      const c = this.counters;
      const a0 = c[this.aSetsSlot];
      const d0 = c[this.dSetsSlot];
      const r0 = c[this.retriesSlot];
      const ok = super.walk(a, b, access, level, tablePfn, perms);
      const v = ok ? packWalk(true, this.size, this.perms, c[this.aSetsSlot] - a0, c[this.dSetsSlot] - d0, c[this.retriesSlot] - r0)
        : packWalk(false, this.faultLevel, this.errorCode, c[this.aSetsSlot] - a0, c[this.dSetsSlot] - d0, c[this.retriesSlot] - r0);
      rec.event(T_WALK, 0, v);
      return ok;
    }
  };
}

export class RecordingMmu extends Mmu {
  readonly rec: TraceWriter;
  /** A wrapped access is recorded and its first translation attempt not yet made by the slow path. */
  private armed = false;

  constructor(mem: PhysMem, control: ControlBlock, cpu: number, rec: TraceWriter, options: MmuOptions = {}) {
    super(mem, control, cpu, { ...options, walkerType: recordingWalker(rec) });
    this.rec = rec;
    const self = this as unknown as Record<string, (va: number, v?: number) => number | undefined>;
    for (const name of ['load8', 'load16', 'load32', 'loadF64'] as const) {
      const inner = this[name];
      self[name] = (va: number) => {
        this.arm(va, USER_READ);
        const r = inner(va);
        this.armed = false;
        return r;
      };
    }
    for (const name of ['store8', 'store16', 'store32', 'storeF64'] as const) {
      const inner = this[name];
      self[name] = (va: number, v?: number) => {
        this.arm(va, USER_WRITE);
        inner(va, v as number);
        this.armed = false;
        return undefined;
      };
    }
  }

  /** Before a wrapped access: take posted shootdowns, record the access (a valid address). */
  private arm(va: number, kind: number): void {
    if (this.pend[0] !== 0) this.takeIpis();
    if (!(va >= 0 && va < VA_LIMIT && Number.isInteger(va))) return;
    this.armed = true;
    this.rec.access(Math.floor(va / 4096), kind);
  }

  /** An event record: before the recorded access if its translation has not started yet. */
  private emit(type: number, param: number, a = -1, b = -1, c = -1, d = -1): void {
    if (this.armed) this.rec.eventBeforeLastAccess(type, param, a, b, c, d);
    else this.rec.event(type, param, a, b, c, d);
  }

  protected override attempted(va: number, access: number): void {
    if (this.armed) {
      this.armed = false;
      return;
    }
    if (va >= 0 && va < VA_LIMIT && Number.isInteger(va)) this.rec.access(Math.floor(va / 4096), kindOf(access));
    else this.rec.gp(kindOf(access));
  }

  protected override translateParts(va: number, width: number, access: number): number {
    if ((va & 4095) + width > 4096) this.emit(T_SPLIT, 0);
    return super.translateParts(va, width, access);
  }

  protected override applyFlush(kind: number, pcid: number, start: number, end: number, shift: number): void {
    this.emit(T_IPI, kind, pcid, start, end, shift);
    super.applyFlush(kind, pcid, start, end, shift);
  }

  override loadCr3(pml4Pfn: number, pcid = 0, noflush = false): void {
    this.rec.event(T_CR3, noflush ? 1 : 0, pml4Pfn, pcid);
    super.loadCr3(pml4Pfn, pcid, noflush);
  }

  override setCr4(pcide: boolean, pge: boolean): void {
    this.rec.event(T_CR4, (pcide ? 1 : 0) | (pge ? 2 : 0));
    super.setCr4(pcide, pge);
  }

  override invlpg(va: number): void {
    this.rec.event(T_INVLPG, 0, Math.floor(va / 4096));
    super.invlpg(va);
  }

  override invpcid(type: number, pcid: number, va = 0): void {
    this.rec.event(T_INVPCID, type & 15, pcid & 0xfff, Math.floor(va / 4096));
    super.invpcid(type, pcid, va);
  }
}
