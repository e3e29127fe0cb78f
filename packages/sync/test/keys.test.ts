import { describe, expect, it } from '@jest/globals';
import { compareKeys, compileExcludes, unsafeKeyReason } from '../src/index.js';

describe('compareKeys', () => {
  it('orders keys like S3 does (UTF-8 bytes), including astral characters', () => {
    const keys = ['a', 'a/b', 'a-b', 'a.b', 'a0', 'ü', '\uffff', '😀', 'Z', '', 'a b', '中文..png'];
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...keys].sort(compareKeys)).toEqual(byBytes);
  });
});

describe('unsafeKeyReason', () => {
  it.each([
    ['../etc/passwd', '".." path segment'],
    ['a/../../x', '".." path segment'],
    ['/etc/passwd', 'absolute path'],
    ['a\\b', 'contains a backslash'],
    ['a\0b', 'contains a NUL byte'],
    ['a//b', 'empty path segment (//)'],
    ['./a', '"." path segment'],
    ['dir/', 'directory marker (ends with /)'],
    ['x'.repeat(256), 'path segment longer than 255 bytes'],
    [`${'abc/'.repeat(1100)}x`, 'longer than 4096 bytes'],
  ])('refuses a hostile key (%#)', (key, reason) => {
    expect(unsafeKeyReason(key)).toBe(reason);
  });

  it('accepts opaque Dify keys', () => {
    for (const k of [
      'upload_files/t/中文 名.pdf',
      'image_files/t/u..png',
      'a/..b/c',
      'x'.repeat(255),
    ]) {
      expect(unsafeKeyReason(k)).toBeUndefined();
    }
  });
});

describe('compileExcludes', () => {
  it('matches base names anywhere, anchored paths, ** and directories', () => {
    const m = compileExcludes(['*.tmp', 'cache/', 'privkeys/**/private.pem', '/top.txt'])!;
    expect(m('a/b/c.tmp', false)).toBe(true);
    expect(m('a/b/c.tmpx', false)).toBe(false);
    expect(m('x/cache', true)).toBe(true);
    expect(m('x/cache', false)).toBe(false);
    expect(m('privkeys/t1/private.pem', false)).toBe(true);
    expect(m('privkeys/private.pem', false)).toBe(true);
    expect(m('top.txt', false)).toBe(true);
    expect(m('a/top.txt', false)).toBe(false);
  });
});
