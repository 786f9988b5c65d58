import { expect, it } from 'vitest';
import { Ratelimit } from '../../kernel/ratelimit.ts';

it('___ratelimit: a burst per interval, then the refusals reported as the next interval opens', () => {
  const rs = new Ratelimit(5000, 10);
  const log: string[] = [];
  const passed = Array.from({ length: 15 }, (_, i) => rs.allow(i, 'show_signal_msg', (l) => log.push(l)));
  expect(passed.filter(Boolean)).toHaveLength(10);
  expect(passed.slice(10)).toEqual([false, false, false, false, false]);
  expect(log).toEqual([]);
  // Still inside the interval that began at 0.
  expect(rs.allow(4999, 'show_signal_msg', (l) => log.push(l))).toBe(false);
  expect(rs.allow(5000, 'show_signal_msg', (l) => log.push(l))).toBe(true);
  expect(log).toEqual(['show_signal_msg: 6 callbacks suppressed']);
  expect(rs.missed).toBe(0);
});
