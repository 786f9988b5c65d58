// host/progress.ts: the bar on a terminal, periodic lines elsewhere (a fake stream and a fake
// clock, so no timing), the guests' bar kept below their stdout, and isatty() in a guest.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GuestStreams, Progress } from '../../host/progress.ts';
import { bootTest } from '../harness/machine.ts';

function fake(isTTY: boolean) {
  const s = { isTTY, text: '', t: 0, write: (x: string | Uint8Array) => { s.text += typeof x === 'string' ? x : new TextDecoder().decode(x); } };
  return s;
}

describe('Progress', () => {
  it('redraws a bar in place on a terminal, with the time left, and ends it with a newline', () => {
    const out = fake(true);
    const p = new Progress({ label: 'job', total: 4, out, now: () => out.t * 1000 });
    p.update(1, 'a');
    expect(out.text, 'nothing before the delay').toBe('');
    out.t = 1;
    p.update(1, 'a');
    expect(out.text).toBe('\r\x1b[Kjob: [########......................] 1/4, 0:01 elapsed, ~0:03 left a');
    out.t = 2;
    p.advance('b', true);
    expect(out.text.endsWith('\r\x1b[Kjob: [###############...............] 2/4 (1 failed), 0:02 elapsed, ~0:02 left b')).toBe(true);
    p.line('a line of its own');
    expect(out.text.endsWith('\r\x1b[Kjob: a line of its own\n\r\x1b[Kjob: [###############...............] 2/4 (1 failed), 0:02 elapsed, ~0:02 left b')).toBe(true);
    out.t = 4;
    p.update(4, 'done');
    p.finish();
    expect(out.text.endsWith('[##############################] 4/4 (1 failed), 0:04 elapsed, ~0:00 left done\n')).toBe(true);
    expect(out.text.split('\n')).toHaveLength(3);
  });

  it('takes the bar off the terminal for other output, and draws it again on the next update', () => {
    const out = fake(true);
    const p = new Progress({ label: 'job', total: 2, out, now: () => out.t * 1000, delay: 0 });
    p.update(1);
    p.clear();
    expect(out.text.endsWith('\r\x1b[K')).toBe(true);
    const cleared = out.text;
    p.clear();
    expect(out.text, 'nothing to clear').toBe(cleared);
    out.t = 1;
    p.update(2);
    expect(out.text.endsWith('] 2/2, 0:01 elapsed, ~0:00 left')).toBe(true);
  });

  it('draws nothing on a terminal for a job shorter than the delay', () => {
    const out = fake(true);
    const p = new Progress({ label: 'job', total: 2, out, now: () => out.t * 1000 });
    p.update(1);
    out.t = 0.2;
    p.update(2);
    p.finish();
    expect(out.text).toBe('');
  });

  it('writes a line every few seconds when not a terminal, and a last one', () => {
    const out = fake(false);
    const p = new Progress({ label: 'job', total: 10, out, now: () => out.t * 1000, every: 5 });
    for (let i = 1; i <= 10; i++) {
      out.t = i * 1.5;
      p.update(i, `row ${i}`);
    }
    p.finish('all rows');
    expect(out.text).toBe([
      'job: [4/10, 0:06 elapsed, ~0:09 left] row 4',
      'job: [8/10, 0:12 elapsed, ~0:03 left] row 8',
      'job: [10/10, 0:15 elapsed, ~0:00 left] all rows',
      '',
    ].join('\n'));
    expect(out.text).not.toContain('\r');
  });

  it('counts a line of its own as the periodic line, and ticks write one after a quiet while', () => {
    const out = fake(false);
    const p = new Progress({ label: 'job', total: 3, out, now: () => out.t * 1000, every: 5 });
    out.t = 4;
    p.line('run 1 ended');
    out.t = 8;
    p.tick();
    out.t = 9.5;
    p.tick();
    expect(out.text).toBe('job: run 1 ended\njob: [0/3, 0:10 elapsed, ~? left]\n');
  });

  it('keeps a guest\'s bar below its stdout on a terminal', () => {
    const stdout = fake(true);
    const stderr = fake(true);
    const g = new GuestStreams(stdout, stderr);
    const enc = (s: string) => new TextEncoder().encode(s);
    g.write(2, enc('\r\x1b[Kbar 1'));
    g.write(1, enc('row 1\n'));
    expect(stderr.text).toBe('\r\x1b[Kbar 1\r\x1b[K\r\x1b[Kbar 1');
    expect(stdout.text).toBe('row 1\n');
    g.write(2, enc('bar done\n'));
    g.write(1, enc('row 2\n'));
    expect(stderr.text.endsWith('bar done\n')).toBe(true);
    const piped = fake(false);
    const g2 = new GuestStreams(piped, stderr);
    g2.write(2, enc('\r\x1b[Kbar'));
    const before = stderr.text;
    g2.write(1, enc('row\n'));
    expect(stderr.text, 'stdout is no terminal: the bar is left alone').toBe(before);
  });
});

describe('isatty in a guest', () => {
  const guest = fileURLToPath(new URL('../guests/tty.ts', import.meta.url));

  it('is true on the standard streams the host says are terminals, false elsewhere', async () => {
    const t = await bootTest({ terminals: [2] });
    const r = await t.run([], guest);
    expect(r.exitCode).toBe(0);
    expect(r.text).toContain('isatty false false true false');
    await t.finish();
  });

  it('is false on every stream by default when the output is captured', async () => {
    const t = await bootTest();
    const r = await t.run([], guest);
    expect(r.text).toContain('isatty false false false false');
    await t.finish();
  });
});
