import { describe, expect, it } from '@jest/globals';
import { parseMultipart } from '../../src/dify/api/multipart.js';
import { ConfigValidationError, loadConfig, opendalKwargs } from '../../src/dify/config.js';
import { splitext, uploadExtension, uploadFileKey } from '../../src/dify/keys.js';
import { decodeTask, encodeTask, TASKS } from '../../src/dify/queue.js';
import {
  fileSignature,
  signedFilePreviewUrl,
  verifyFileSignature,
} from '../../src/dify/signing.js';
import { segmentationRules, splitText } from '../../src/dify/worker/splitter.js';

describe('signing', () => {
  it('matches a vector computed with Python hmac + base64.urlsafe_b64encode', () => {
    expect(
      fileSignature(
        'sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U',
        '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
        '1745481600',
        '00112233445566778899aabbccddeeff',
      ),
    ).toBe('_lR7nmqXg0ZtEN34VDOzM3HPVxUD4NyTedb4p8_X6V4=');
  });

  it('verifies within FILES_ACCESS_TIMEOUT only', () => {
    const url = new URL(signedFilePreviewUrl('http://files', 'k', 'id-1', 1_000_000_000));
    const p = Object.fromEntries(url.searchParams) as {
      timestamp: string;
      nonce: string;
      sign: string;
    };
    expect(verifyFileSignature('k', 300, 'id-1', p, 1_000_000_000 + 300_000)).toBe(true);
    expect(verifyFileSignature('k', 300, 'id-1', p, 1_000_000_000 + 301_000)).toBe(false);
    expect(verifyFileSignature('k', 300, 'id-2', p, 1_000_000_000)).toBe(false);
  });
});

describe('keys', () => {
  it('derives extensions like os.path.splitext(name)[1].lstrip(".").lower()', () => {
    expect(uploadExtension('Photo.JPG')).toBe('jpg');
    expect(uploadExtension('archive.tar.gz')).toBe('gz');
    expect(uploadExtension('README')).toBe('');
    expect(uploadExtension('.bashrc')).toBe('');
    expect(splitext('x..png')).toEqual(['x.', '.png']);
    expect(uploadFileKey('t', 'u', '')).toBe('upload_files/t/u.');
  });
});

describe('config', () => {
  it('rejects an unknown STORAGE_TYPE like pydantic', () => {
    expect(() => loadConfig({ STORAGE_TYPE: '*' }, '/tmp')).toThrow(ConfigValidationError);
    expect(() => loadConfig({ STORAGE_TYPE: '*' }, '/tmp')).toThrow(
      /Input should be 'opendal', 's3'.* or 'local'/,
    );
  });

  it('reads OPENDAL_FS_* into kwargs and defaults like Dify', () => {
    expect(
      opendalKwargs('fs', { OPENDAL_FS_ROOT: '/data', OPENDAL_S3_ROOT: 'x' }, '/nonexistent'),
    ).toEqual({
      root: '/data',
    });
    const cfg = loadConfig({}, '/nonexistent');
    expect(cfg.storageType).toBe('opendal');
    expect(cfg.s3.addressStyle).toBe('auto');
    expect(cfg.port).toBe(5001);
    expect(cfg.filesAccessTimeout).toBe(300);
  });
});

describe('multipart', () => {
  it('parses fields and a file with a UTF-8 name', () => {
    const b = 'XyZ';
    const body = Buffer.concat([
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="user"\r\n\r\nu1\r\n`),
      Buffer.from(
        `--${b}\r\nContent-Disposition: form-data; name="file"; filename="季度 报告.txt"\r\nContent-Type: text/plain\r\n\r\n`,
      ),
      Buffer.from('line1\r\nline2'),
      Buffer.from(`\r\n--${b}--\r\n`),
    ]);
    const form = parseMultipart(`multipart/form-data; boundary=${b}`, body);
    expect(form.fields.get('user')).toBe('u1');
    expect(form.files[0]).toMatchObject({
      field: 'file',
      filename: '季度 报告.txt',
      contentType: 'text/plain',
    });
    expect(form.files[0]!.data.toString()).toBe('line1\r\nline2');
  });
});

describe('queue and splitter', () => {
  it('round-trips a Celery message carrying ids only', () => {
    const msg = decodeTask(encodeTask(TASKS.documentIndexing, ['ds', ['doc']]));
    expect(msg.task).toBe(TASKS.documentIndexing);
    expect(msg.args).toEqual(['ds', ['doc']]);
  });

  it('splits on the separator and respects max_tokens', () => {
    const rules = segmentationRules(
      'custom',
      JSON.stringify({ segmentation: { separator: '\\n', max_tokens: 60 } }),
    );
    const chunks = splitText(`${'a'.repeat(50)}\n${'b'.repeat(50)}\n${'c'.repeat(130)}`, rules);
    expect(chunks.every((c) => c.length <= 60)).toBe(true);
    expect(chunks.join('').replace(/\n/g, '')).toBe(
      `${'a'.repeat(50)}${'b'.repeat(50)}${'c'.repeat(130)}`,
    );
  });
});
