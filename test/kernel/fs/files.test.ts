// Files: tmpfs through the file syscalls, and file mappings shared between processes.
import { describe, expect, it } from 'vitest';
import { bootTest } from '../../harness/machine.ts';

describe('tmpfs and devices', () => {
  it('create, write, read, pread/pwrite, holes, truncate, dup, unlink while open, /dev, memfd, errors', async () => {
    const t = await bootTest();
    const r = await t.run(['tmpfs-files']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    expect(r.text.trim().split('\n')).toEqual([
      'size 12 pos 12 end 7',
      'read world',
      'pread HELLO, world',
      'hole size 10005 blocks 16 zero 4:0',
      'truncated HEL',
      'dup 4 cloexec 0 30',
      'unlinked readable HEL',
      'devices 0 10 0',
      'memfd 1 true',
      'errors ENOENT EISDIR ENOENT ENOTDIR EEXIST EEXIST EISDIR ENOTEMPTY EINVAL EINVAL ENOTTY EINVAL',
    ]);
    await t.finish(); // every page-cache page freed with the last close and exit
  });
});

describe('descriptors across spawn', () => {
  it('a child inherits the descriptors without close-on-exec, sharing their offsets', async () => {
    const t = await bootTest();
    const r = await t.run(['inherit-fds']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    expect([...t.out.values()].join('')).toContain('child read world cloexec EBADF memfd 42');
    expect(r.text).toContain('child exit 0, offset after 11, memfd 42');
    await t.finish();
  });
});

describe('file mappings across processes', () => {
  it('shares writes both ways, copies private writes, and SIGBUSes past a truncation', async () => {
    const t = await bootTest();
    const r = await t.run(['shared-file']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    const all = [...t.out.values()].join('');
    expect(all).toContain('child saw 42 77, private 999 shared 77');
    expect(r.text).toContain('parent read 555 mapped 555 page2 77');
    expect(r.text).toContain('child signal 7');
    await t.finish();
  });
});

describe('dirty tracking against a real writer (T11)', () => {
  it('a thread writes random pages while the kernel cleans and records: nothing missed, nothing invented', async () => {
    const t = await bootTest();
    const r = await t.run(['vbuf-race']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    const m = /harvests (\d+) concurrent (\d+) switches \d+ problems (\d+)(.*)/.exec(r.text);
    expect(m, r.text).not.toBeNull();
    expect(Number(m![3]), m![4]).toBe(0);
    expect(Number(m![1])).toBeGreaterThan(2);
    await t.finish();
  }, 60_000);
});

describe('two processes dirtying one page (T6)', () => {
  it('one page recorded, two PTEs cleaned, both TLBs flushed', async () => {
    const t = await bootTest();
    const r = await t.run(['vbuf-two']);
    expect(r.exitCode, `${r.report} ${r.text}`).toBe(0);
    expect(r.text.trim().split('\n')).toEqual(['round 1: ptes 2 pages 1 bits 100000', 'round 2: ptes 2 pages 1 bits 100000']);
    await t.finish();
  });
});

