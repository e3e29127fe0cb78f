import { describe, expect, it } from '@jest/globals';
import { ConfigurationError, parseInputs } from '@dify-storage/action-kit';

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';

describe('parseInputs', () => {
  it('returns typed values and applies defaults', () => {
    const parsed = parseInputs(
      (p) => ({
        mode: p.choice('mode', ['bulk', 'delta', 'verify'] as const),
        concurrency: p.integer('concurrency', { min: 1, max: 512, default: '32' }),
        dryRun: p.boolean('dry-run', { default: 'false' }),
        exclude: p.list('exclude'),
      }),
      reader({ mode: 'delta', exclude: 'a/**\n b/**, c' }),
    );
    expect(parsed).toEqual({
      mode: 'delta',
      concurrency: 32,
      dryRun: false,
      exclude: ['a/**', 'b/**', 'c'],
    });
  });

  it('names every invalid input and the allowed values in one error', () => {
    const run = () =>
      parseInputs(
        (p) => ({
          mode: p.choice('mode', ['bulk', 'delta', 'verify'] as const),
          concurrency: p.integer('concurrency', { min: 1, max: 512 }),
          dryRun: p.boolean('dry-run'),
          bucket: p.string('bucket'),
          endpoint: p.url('endpoint'),
        }),
        reader({ mode: 'fast', concurrency: '0', 'dry-run': 'yes', endpoint: 'ftp://x' }),
      );
    expect(run).toThrow(ConfigurationError);
    let message = '';
    try {
      run();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(
      "Input 'mode' has the value 'fast'; allowed values are: bulk, delta, verify.",
    );
    expect(message).toContain(
      "Input 'concurrency' has the value '0'; it must be a whole number from 1 to 512.",
    );
    expect(message).toContain(
      "Input 'dry-run' has the value 'yes'; allowed values are: true, false.",
    );
    expect(message).toContain("Input 'bucket' is required but was not supplied.");
    expect(message).toContain("Input 'endpoint' has the value 'ftp://x'");
    expect(message.startsWith('5 inputs are invalid')).toBe(true);
  });

  it('refuses credentials embedded in an endpoint URL', () => {
    expect(() =>
      parseInputs((p) => p.url('endpoint'), reader({ endpoint: 'http://user:pw@host' })),
    ).toThrow(/must not carry credentials/);
  });
});
