// Fixtures for the kernel tests that drive kernel code directly, without threads.
import { type Mm, mmAlloc } from '../../kernel/mm/mm.ts';
import { type Kmm } from '../../kernel/mm/kmm.ts';

/** A new address space; fails the test if there is no frame for its PML4. */
export function newMm(k: Kmm): Mm {
  const mm = mmAlloc(k);
  if (typeof mm === 'number') throw new Error(`mmAlloc: ${mm}`);
  return mm;
}
