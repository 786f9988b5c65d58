import { describe, expect, it } from 'vitest';
import { _PAGE_RW, _PAGE_USER, ACC_USER_FETCH, ACC_USER_WRITE, LEVEL_PT, startTsWorker } from '../../machine/index.ts';
import { cpu, testMachine, UVA } from './helpers.ts';

describe('walks racing a PTE writer on another thread', () => {
  it('never use a torn entry: a frame is only seen with its own NX bit', async () => {
    const m = testMachine();
    const pfnA = m.b.mapFresh(m.root, UVA, 1, _PAGE_RW | _PAGE_USER, true);
    const pfnB = m.b.allocFrame();
    const word = m.b.entry(m.root, UVA, LEVEL_PT);
    const stop = new SharedArrayBuffer(4);
    const worker = startTsWorker(new URL('./pte-editor.worker.ts', import.meta.url),
      { memBuffer: m.mem.buffer, cbBuffer: m.cb.buffer, word, pfnA, pfnB, stop });
    let failed: unknown = null;
    worker.once('error', (e) => { failed = e; });
    const edits = new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const mmu = cpu(m);
    let execB = 0;
    let nxFaults = 0;
    let writesA = 0;
    let writesB = 0;
    const deadline = Date.now() + 20_000;
    // Run until both mappings were seen many times each (the worker needs a moment to start).
    for (let i = 0; (i < 20_000 || Math.min(execB, nxFaults, writesA, writesB) < 1000) && Date.now() < deadline && failed === null; i++) {
      mmu.invlpg(UVA);
      const pa = mmu.translate(UVA, ACC_USER_FETCH);
      if (pa >= 0) {
        // A fetch succeeds only through mapping B (A is NX).
        expect(Math.floor(pa / 4096)).toBe(pfnB);
        execB++;
      } else {
        expect(mmu.faultCode & 0xff).toBe(0x15); // P | U | I: the NX mapping A
        nxFaults++;
      }
      mmu.invlpg(UVA);
      const frame = Math.floor(mmu.translate(UVA, ACC_USER_WRITE) / 4096);
      if (frame === pfnA) writesA++;
      else if (frame === pfnB) writesB++;
      else expect.fail(`write translated to frame ${frame}`);
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    expect(failed).toBeNull();
    expect(await edits).toBeGreaterThan(0);
    expect(Math.min(execB, nxFaults, writesA, writesB)).toBeGreaterThanOrEqual(1000);
  }, 60_000);
});
