import { spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { parseInputs, parseKubeTarget, parseS3Target } from '@dify-storage/action-kit';
import { childEnv } from '@dify-storage/common';

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';
const TOKEN = 'kube-token-canary-5190';

describe('secrets in the step environment', () => {
  it('a kubeconfig that fails to parse is never echoed', () => {
    for (const kubeconfig of [
      `apiVersion: v1\nusers:\n- name: u\n  user:\n    token: ${TOKEN}\n  : [broken`,
      `{"users": [{"user": {"token": "${TOKEN}"}}], broken`,
      `not yaml at all ${TOKEN}\n\t- [`,
    ]) {
      let message = '';
      try {
        parseInputs(
          (p) => parseKubeTarget(p),
          reader({ kubeconfig }),
          () => undefined,
        );
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/kubeconfig/);
      expect(message).not.toContain(TOKEN);
    }
  });

  it('AWS_SESSION_TOKEN is masked like the secret key', () => {
    const masked: string[] = [];
    parseInputs(
      (p) =>
        parseS3Target(p, {
          AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'secret-key-canary',
          AWS_SESSION_TOKEN: 'session-token-canary',
        }),
      reader({ bucket: 'dify' }),
      (v) => masked.push(v),
    );
    expect(masked).toContain('session-token-canary');
  });

  it('child processes get PATH and locale, no INPUT_*, AWS_* or runner tokens', () => {
    const env = {
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      INPUT_KUBECONFIG: TOKEN,
      INPUT_SECRET_ACCESS_KEY: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
      ACTIONS_RUNTIME_TOKEN: 'z',
      GITHUB_TOKEN: 'w',
    };
    const seen = spawnSync('env', [], { env: childEnv(env), encoding: 'utf8' }).stdout;
    expect(seen).toContain('LANG=C.UTF-8');
    expect(seen).not.toMatch(/INPUT_|AWS_|ACTIONS_RUNTIME_TOKEN|GITHUB_TOKEN/);
  });
});
