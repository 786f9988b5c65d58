// Replay's geometry options: a preset changed array by array from the command line, or a
// whole TlbGeometry from a JSON file; checked with tlbconfig.ts's checkGeometry.

import { readFileSync } from 'node:fs';
import { checkGeometry, PRESETS, type CacheSpec, type PageSizeName, type TlbArraySpec, type TlbGeometry } from '../../machine/index.ts';

export const GEOMETRY_HELP = `geometry (each replaces that part of the preset):
  --l1 SPEC          the L1 dTLB arrays, e.g. 64x4:4k,32x4:2m,4x4:1g
  --stlb SPEC        the STLB arrays, e.g. 1536x12:4k+2m,16x4:1g, or none
                     (SPEC: comma-separated ENTRIESxWAYS:SIZES arrays, SIZES joined by +;
                     ENTRIES/WAYS a power of two, WAYS <= 32)
  --psc SPEC         paging-structure caches PML4E,PDPTE,PDE, e.g. 2x2,4x4,32x4 (0: none)
  --geometry FILE    a whole geometry as JSON (tlbconfig.ts's TlbGeometry)`;

function arrays(level: string, spec: string): TlbArraySpec[] | string {
  if (spec === 'none') return [];
  const out: TlbArraySpec[] = [];
  for (const [i, part] of spec.split(',').entries()) {
    const m = /^(\d+)x(\d+):((?:4k|2m|1g)(?:\+(?:4k|2m|1g))*)$/i.exec(part.trim());
    if (m === null) return `--${level} ${spec}: '${part}' is not ENTRIESxWAYS:SIZES (e.g. 64x4:4k)`;
    const sizes = m[3].toLowerCase().split('+') as PageSizeName[];
    out.push({ name: `${level}-${i}-${sizes.join('+')}`, entries: Number(m[1]), ways: Number(m[2]), sizes });
  }
  return out;
}

function caches(spec: string): [CacheSpec, CacheSpec, CacheSpec] | string {
  const parts = spec.split(',');
  if (parts.length !== 3) return `--psc ${spec}: three caches, PML4E,PDPTE,PDE (e.g. 2x2,4x4,32x4; 0 for none)`;
  const out: CacheSpec[] = [];
  for (const p of parts) {
    if (p.trim() === '0') {
      out.push({ entries: 0, ways: 1 });
      continue;
    }
    const m = /^(\d+)x(\d+)$/.exec(p.trim());
    if (m === null) return `--psc ${spec}: '${p}' is not ENTRIESxWAYS or 0`;
    out.push({ entries: Number(m[1]), ways: Number(m[2]) });
  }
  return out as [CacheSpec, CacheSpec, CacheSpec];
}

/** The geometry of `base` with the options' changes, or an error message. */
export function geometryOf(base: TlbGeometry, o: { l1?: string; stlb?: string; psc?: string; geometry?: string }): TlbGeometry | string {
  let g: TlbGeometry = base;
  if (o.geometry !== undefined) {
    try {
      g = JSON.parse(readFileSync(o.geometry, 'utf8')) as TlbGeometry;
    } catch (e) {
      return `--geometry ${o.geometry}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  const changed = o.l1 !== undefined || o.stlb !== undefined || o.psc !== undefined;
  if (changed) g = { ...g, name: `${g.name}*`, description: `${g.name} with ${[o.l1 && `l1 ${o.l1}`, o.stlb && `stlb ${o.stlb}`, o.psc && `psc ${o.psc}`].filter(Boolean).join(', ')}` };
  if (o.l1 !== undefined) {
    const a = arrays('l1', o.l1);
    if (typeof a === 'string') return a;
    g.l1 = a;
  }
  if (o.stlb !== undefined) {
    const a = arrays('stlb', o.stlb);
    if (typeof a === 'string') return a;
    g.stlb = a;
  }
  if (o.psc !== undefined) {
    const c = caches(o.psc);
    if (typeof c === 'string') return c;
    [g.pml4Cache, g.pdpteCache, g.pdeCache] = c;
  }
  const problems = checkGeometry(g);
  return problems.length === 0 ? g : `geometry: ${problems.join('; ')}`;
}

/** A preset by name, or an error message. */
export function presetOf(name: string): TlbGeometry | string {
  return PRESETS[name] ?? `unknown TLB preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`;
}
