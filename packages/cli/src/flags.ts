import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '@dify-storage/action-kit';
import { parse } from 'yaml';

/**
 * One flag of a command, as `--help` shows it. Flags of an action come from its action.yml;
 * flags with no action behind them are declared beside their command with the same fields.
 */
export interface Flag {
  name: string;
  description: string;
  /** Value used when the flag is absent; absent means none. */
  default?: string;
  required?: boolean;
  /** What values it accepts, e.g. "one of: bulk, delta, verify". */
  allowed?: string;
  /** A switch: `--name` alone means true (`--name=false` turns it off). */
  switch?: boolean;
}

interface ActionInput {
  description?: string;
  required?: boolean;
  default?: string | number | boolean;
}

// From src/ (tsx) and from dist/ (built) alike: packages/cli/<dir>/flags.* → repo root.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The inputs an action declares, in action.yml order. */
export function actionInputs(action: string): Flag[] {
  const file = path.join(ROOT, 'actions', action, 'action.yml');
  const meta = parse(readFileSync(file, 'utf8')) as { inputs?: Record<string, ActionInput> };
  return Object.entries(meta.inputs ?? {}).map(([name, i]) => ({
    name,
    description: String(i.description ?? '')
      .replace(/\s+/g, ' ')
      .trim(),
    ...(i.default !== undefined && String(i.default) !== '' ? { default: String(i.default) } : {}),
    ...(i.required && i.default === undefined ? { required: true } : {}),
    ...(i.default === 'false' || i.default === 'true' ? { switch: true } : {}),
  }));
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The closest of `known` to `name`, if it is close enough to be a typo. */
export function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Refuses a flag the command does not take, suggesting the closest one it does. */
export function unknownFlag(name: string, flags: Flag[], command: string): ConfigurationError {
  const guess = closest(
    name,
    flags.map((f) => f.name),
  );
  return new ConfigurationError(
    `unknown flag --${name}${guess ? `; did you mean --${guess}?` : '.'} See dify-storage ${command} --help.`,
  );
}

/** The help lines of one flag: name, then description, default, required, allowed values. */
export function flagHelp(f: Flag, envOnly: (name: string) => string | undefined): string[] {
  const env = envOnly(f.name);
  const head = env ? `  (env ${env})` : `  --${f.name}${f.switch ? '' : ' <value>'}`;
  const facts = [
    f.required ? 'required' : undefined,
    f.default !== undefined ? `default: ${f.default}` : undefined,
    f.allowed,
  ].filter((x) => x !== undefined);
  return [head, `      ${f.description}${facts.length ? ` [${facts.join('; ')}]` : ''}`];
}
