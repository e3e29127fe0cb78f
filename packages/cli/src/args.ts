import { ConfigurationError, type InputReader } from '@dify-storage/action-kit';

/** Inputs that hold credentials: accepted from the environment only, never from argv (visible in `ps`). */
export const SECRET_INPUTS = new Set([
  'access-key-id',
  'secret-access-key',
  'kubeconfig',
  'app-api-key',
  'dataset-api-key',
  'dify-secret-key',
  'database-url',
]);

/** The environment variable that carries an input: DIFY_STORAGE_ + upper case, hyphens to underscores. */
export function envName(input: string): string {
  return `DIFY_STORAGE_${input.toUpperCase().replace(/-/g, '_')}`;
}

export interface ParsedArgs {
  command?: string;
  flags: Map<string, string>;
  help: boolean;
}

/** `--name value`, `--name=value`, and `--flag` (true) for the actions' input names. */
export function parseArgs(argv: string[]): ParsedArgs {
  const flags = new Map<string, string>();
  let command: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      let value: string;
      if (eq !== -1) value = arg.slice(eq + 1);
      else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
      else value = 'true';
      if (SECRET_INPUTS.has(name)) {
        throw new ConfigurationError(
          `--${name} would put a secret on the command line, where other users see it in ps; set ${envName(name)} instead.`,
        );
      }
      const previous = flags.get(name);
      flags.set(name, previous === undefined ? value : `${previous}\n${value}`);
    } else if (command === undefined) {
      command = arg;
    } else {
      throw new ConfigurationError(
        `Unexpected argument '${arg}'; inputs are given as --name value.`,
      );
    }
  }
  return { ...(command ? { command } : {}), flags, help };
}

/** Reads an input from a flag, else from its DIFY_STORAGE_* variable. */
export function argsReader(flags: Map<string, string>, env: NodeJS.ProcessEnv): InputReader {
  return (name) => flags.get(name) ?? env[envName(name)] ?? '';
}

/** Refuses flags the command does not know, naming the ones it does. */
export function checkKnownFlags(
  flags: Map<string, string>,
  known: string[],
  command: string,
): void {
  const unknown = [...flags.keys()].filter((f) => !known.includes(f));
  if (unknown.length > 0) {
    throw new ConfigurationError(
      `dify-storage ${command} does not take ${unknown.map((u) => `--${u}`).join(', ')}; it takes: ${known.map((k) => `--${k}`).join(', ')}.`,
    );
  }
}
