import { describe, expect, it } from '@jest/globals';
import {
  BlockedError,
  CheckFailedError,
  classifyError,
  ConfigurationError,
  CouldNotCheckError,
} from '@dify-storage/action-kit';

/** What Node's fetch throws when nothing listens: a TypeError whose cause carries the errno. */
function refused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
    code: 'ECONNREFUSED',
  });
  return new TypeError('fetch failed', { cause });
}

describe('classifyError', () => {
  it('gives each class its exit code, and a stack only to a bug', () => {
    const cases: [unknown, number][] = [
      [new CheckFailedError('x'), 1],
      [new ConfigurationError('x'), 2],
      [new BlockedError('x'), 3],
      [new CouldNotCheckError('x'), 4],
      [new TypeError("Cannot read properties of undefined (reading 'x')"), 70],
      ['a string', 70],
    ];
    for (const [error, code] of cases) {
      const c = classifyError(error);
      expect([c.exitCode, c.stack !== undefined]).toEqual([
        code,
        code === 70 && error instanceof Error,
      ]);
    }
  });

  it('walks the cause chain: a wrapper that declares nothing passes the question on', () => {
    const wrapped = new Error('the final delta copy failed', {
      cause: new Error('cutover apply failed', { cause: new BlockedError('lock held by ci-42') }),
    });
    expect(classifyError(wrapped).exitCode).toBe(3);
    // A library error declares its class by an `outcome` field, without importing action-kit.
    const library = Object.assign(new Error('bucket is required'), { outcome: 'usage' });
    expect(classifyError(new Error('preflight', { cause: library })).exitCode).toBe(2);
  });

  it('says why a server could not be reached, without a stack', () => {
    const c = classifyError(refused());
    expect(c).toEqual({
      outcome: 'could-not-check',
      exitCode: 4,
      message: 'fetch failed: connect ECONNREFUSED 127.0.0.1:9',
    });
  });
});
