import { describe, expect, it } from '@jest/globals';
import { decide } from '../src/decide.js';
import type { FileRecord } from '../src/state.js';
import type { ObjectInfo } from '../src/transport.js';

// The decide stage alone: what the copy does with a walked file from the listing and the journal.
const stat = { size: 100n, mtimeNs: 1_700_000_000_123_456_789n, ino: 42n };
const object: ObjectInfo = {
  key: 'upload_files/t/a.txt',
  size: 100,
  etag: '0123456789abcdef0123456789abcdef',
  lastModified: '2026-01-01T00:00:00.000Z',
};
const record: FileRecord = {
  k: object.key,
  s: 100,
  m: stat.mtimeNs.toString(),
  i: '42',
  md5: object.etag,
  sha: 'f'.repeat(64),
  e: object.etag,
};

describe('decide', () => {
  it('uploads a file the bucket lacks or holds at another size', () => {
    expect(decide(stat, undefined, record)).toBe('upload');
    expect(decide(stat, { ...object, size: 99 }, record)).toBe('upload');
  });

  it('skips, without reading, a file the journal recorded with the ETag the listing shows', () => {
    expect(decide(stat, object, record)).toBe('skip');
  });

  it('reads and compares when the record does not prove the object is this file', () => {
    expect(decide(stat, object, undefined)).toBe('verify');
    expect(decide(stat, object, { ...record, e: 'other' })).toBe('verify'); // object replaced
    expect(decide(stat, object, { ...record, m: '1' })).toBe('verify'); // file rewritten
    expect(decide(stat, object, { ...record, i: '43' })).toBe('verify'); // another inode
    expect(decide(stat, object, { ...record, s: 5 })).toBe('verify');
  });
});
