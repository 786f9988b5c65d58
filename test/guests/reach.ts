// What a guest finds of the machine's shared buffers (physical memory, the control block)
// without asking for them: in workerData, among the global object's properties, and in the
// userland module's exports, searched through data properties (getters are not called).
// Prints two lines: what a walk of enumerable properties finds (what util.inspect, JSON or
// a copy reach: nothing is expected), and what a walk of every own property finds
// (non-enumerable and symbol keys too: the CPU object, which the userland API needs).
import { workerData } from 'node:worker_threads';
import * as userland from 'ptlab/userland';

const shared = (v: unknown): boolean => v instanceof SharedArrayBuffer || (ArrayBuffer.isView(v) && v.buffer instanceof SharedArrayBuffer);

/** Paths from `name` to a shared buffer, through data properties, `depth` levels down. */
function search(name: string, root: unknown, depth: number, all: boolean): string[] {
  const found: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string, left: number): void => {
    if (shared(v)) {
      found.push(path);
      return;
    }
    if (left === 0 || v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) return;
    seen.add(v);
    const keys = all ? Reflect.ownKeys(v) : [...Object.keys(v), ...Object.getOwnPropertySymbols(v).filter((k) => Object.getOwnPropertyDescriptor(v, k)?.enumerable)];
    for (const k of keys) {
      let d: PropertyDescriptor | undefined;
      try {
        d = Object.getOwnPropertyDescriptor(v, k);
      } catch {
        continue;
      }
      if (d !== undefined && 'value' in d) walk(d.value, `${path}[${String(k)}]`, left - 1);
    }
  };
  walk(root, name, depth);
  return found;
}

export default function main(): number {
  const roots: [string, unknown][] = [['workerData', workerData], ['globalThis', globalThis], ['userland', userland]];
  const enumerable = roots.flatMap(([n, r]) => search(n, r, 6, false));
  const every = roots.flatMap(([n, r]) => search(n, r, 4, true));
  userland.print(`enumerable walk: [${enumerable.join(', ')}]`);
  userland.print(`full walk: [${every.join(', ')}]`);
  return 0;
}
