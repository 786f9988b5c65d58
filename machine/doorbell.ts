// Doorbells with notify elision: a waiter announces that it sleeps before Atomics.wait, and
// a poster calls Atomics.notify only then (notify costs a lock and a waiter-list scan even
// with nobody waiting). The order makes it safe: the waiter sets its flag, re-checks the
// word, then waits; the poster changes the word, then reads the flag.

import { type ControlBlock, G_DOORBELL, G_KSLEEP } from './layout.ts';

/**
 * After posting work (a CPU request or a ring message), wake the kernel if it sleeps. While
 * it spins it polls the posted words themselves, so the doorbell's cache line is touched
 * only to wake it.
 */
export function ringKernel(cb: ControlBlock): void {
  const i32 = cb.i32;
  if (Atomics.load(i32, G_KSLEEP) === 0) return;
  Atomics.add(i32, G_DOORBELL, 1);
  Atomics.notify(i32, G_DOORBELL);
}

/**
 * Kernel side: announce sleep, check `posted()` once more (a poster that missed the flag
 * posted before it, so this sees the work), then sleep on the doorbell.
 */
export function sleepOnDoorbell(cb: ControlBlock, posted: () => boolean, timeoutMs: number): void {
  const i32 = cb.i32;
  const seen = Atomics.load(i32, G_DOORBELL);
  Atomics.store(i32, G_KSLEEP, 1);
  if (!posted()) Atomics.wait(i32, G_DOORBELL, seen, timeoutMs);
  Atomics.store(i32, G_KSLEEP, 0);
}

/**
 * Store `value` in `word` and wake a sleeper whose flag is `sleepFlag` (CPU_SLEEPING of a
 * CPU waiting for its reply).
 */
export function storeAndWake(i32: Int32Array, word: number, value: number, sleepFlag: number): void {
  Atomics.store(i32, word, value);
  if (Atomics.load(i32, sleepFlag) !== 0) Atomics.notify(i32, word);
}

/** Sleep on `word` while it holds `value`, announcing it through `sleepFlag`. */
export function sleepWhile(i32: Int32Array, word: number, value: number, sleepFlag: number, timeoutMs: number): void {
  Atomics.store(i32, sleepFlag, 1);
  if (Atomics.load(i32, word) === value) Atomics.wait(i32, word, value, timeoutMs);
  Atomics.store(i32, sleepFlag, 0);
}

let relaxSink = 0;

/**
 * Wait a little between two polls of a word another core writes (the PAUSE of a spin loop).
 * Polling back to back keeps stealing the cache line from a writer that is filling it (a
 * syscall writes its number, six arguments and the handshake word into one line): measured
 * here, a 6-argument request costs 1.0 us with back-to-back polls and 0.45 us with about
 * 200 iterations between them, the cost of a bare one-word ping-pong.
 */
export function cpuRelax(iterations: number): void {
  let x = relaxSink;
  for (let i = 0; i < iterations; i++) x = (x + i) | 0;
  relaxSink = x;
}

/** Iterations of cpuRelax between polls in spin loops. */
export const RELAX = 200;
