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
  key: object.key,
  size: 100,
  mtimeNs: stat.mtimeNs.toString(),
  ino: '42',
  md5: object.etag,
  sha256: 'f'.repeat(64),
  etag: object.etag,
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
    expect(decide(stat, object, { ...record, etag: 'other' })).toBe('verify'); // object replaced
    expect(decide(stat, object, { ...record, mtimeNs: '1' })).toBe('verify'); // file rewritten
    expect(decide(stat, object, { ...record, ino: '43' })).toBe('verify'); // another inode
    expect(decide(stat, object, { ...record, size: 5 })).toBe('verify');
  });
});
