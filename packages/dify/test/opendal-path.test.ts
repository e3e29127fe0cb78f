import { describe, expect, it } from '@jest/globals';
import { isFsFilePath, normalizeFsPath } from '@dify-storage/dify';

describe('normalizeFsPath (OpenDAL v0.53.0 normalize_path, as Dify 1.3.0 fs storage applies it)', () => {
  it.each([
    // The cases of opendal core/src/raw/path.rs test_normalize_path.
    ['abc', 'abc'],
    ['abc/', 'abc/'],
    ['', '/'],
    ['/', '/'],
    ['///', '/'],
    ['/abc/def', 'abc/def'],
    ['///abc/def/', 'abc/def/'],
    ['abc///def', 'abc/def'],
    ['abc/def   ', 'abc/def'],
    // What Dify writes: an extension with a trailing space, an empty tenant id, a leading slash.
    ['upload_files/t/u.pdf ', 'upload_files/t/u.pdf'],
    ['upload_files//u.pdf', 'upload_files/u.pdf'],
    ['/privkeys/t/private.pem', 'privkeys/t/private.pem'],
    ['image_files/t/u..png', 'image_files/t/u..png'],
    // Unicode White_Space is trimmed around the whole key only, never inside it.
    ['upload_files/t/u.txt\u00a0', 'upload_files/t/u.txt'],
    ['\u3000upload_files/t/u.txt\u3000', 'upload_files/t/u.txt'],
    ['upload_files/t/u.txt\u0085\u2028\u205f', 'upload_files/t/u.txt'],
    ['upload_files/ t /u.txt', 'upload_files/ t /u.txt'],
    // Trimming runs before the slashes: " /a" loses both, "a/ " becomes a directory.
    [' /a', 'a'],
    ['a/ ', 'a/'],
    ['./a/../b', './a/../b'],
  ])('%j → %j', (key, expected) => {
    expect(normalizeFsPath(key)).toBe(expected);
  });

  it('keeps what Rust str::trim keeps: U+200B, U+FEFF and the C0 separators Python strips', () => {
    for (const c of ['\u200b', '\ufeff', '\u001c', '\u001f'])
      expect(normalizeFsPath(`a/b${c}`)).toBe(`a/b${c}`);
  });

  it('tells file paths from directories and dot segments', () => {
    expect(isFsFilePath('upload_files/t/u.pdf')).toBe(true);
    expect(isFsFilePath('a/')).toBe(false);
    expect(isFsFilePath('/')).toBe(false);
    expect(isFsFilePath('a/../b')).toBe(false);
    expect(isFsFilePath('u..png')).toBe(true);
  });
});
