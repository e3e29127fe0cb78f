import { ConfigurationError, type InputReader } from '@dify-storage/action-kit';
import { unknownFlag, type Flag } from './flags.js';

/** Inputs that hold credentials: accepted from the environment only, never from argv (visible in `ps`). */
export const SECRET_INPUTS = new Set([
  'access-key-id',
  'secret-access-key',
  'dify-access-key-id',
  'dify-secret-access-key',
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
  version: boolean;
}

/** The value of `--name` given as the next argument; a missing value is a usage error. */
function nextValue(argv: string[], i: number, flag: Flag): string | undefined {
  const next = argv[i + 1];
  if (flag.switch) return next === 'true' || next === 'false' ? next : undefined;
  if (next === undefined || next.startsWith('--')) {
    throw new ConfigurationError(
      `--${flag.name} needs a value${flag.allowed ? ` (${flag.allowed})` : ''}: --${flag.name} <value> or --${flag.name}=<value>.`,
    );
  }
  return next;
}

/**
 * `dify-storage <command> --name value | --name=value | --switch`. `flagsOf` gives the flags of
 * a command (undefined: no such command, reported by the caller).
 */
export function parseArgs(
  argv: string[],
  flagsOf: (command: string) => Flag[] | undefined,
): ParsedArgs {
  const flags = new Map<string, string>();
  let command: string | undefined;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--version' || arg === '-V') version = true;
    else if (arg.startsWith('-')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.replace(/^--?/, '') : arg.slice(2, eq);
      if (SECRET_INPUTS.has(name)) {
        throw new ConfigurationError(
          `--${name} would put a secret on the command line, where other users see it in ps; set ${envName(name)} instead.`,
        );
      }
      if (command === undefined)
        throw new ConfigurationError(`Put the command first: dify-storage <command> ${arg} ….`);
      const known = flagsOf(command);
      if (!known) return { command, flags, help, version };
      const flag = known.find((f) => f.name === name);
      if (!flag || !arg.startsWith('--')) throw unknownFlag(name, known, command);
      let value = eq === -1 ? nextValue(argv, i, flag) : arg.slice(eq + 1);
      if (eq === -1 && value !== undefined) i++;
      value ??= 'true';
      const previous = flags.get(name);
      flags.set(name, previous === undefined ? value : `${previous}\n${value}`);
    } else if (command === undefined) {
      command = arg;
    } else {
      throw new ConfigurationError(
        `Unexpected argument '${arg}'; flags are given as --name value.`,
      );
    }
  }
  return { ...(command ? { command } : {}), flags, help, version };
}

/** Reads an input from a flag, else from its DIFY_STORAGE_* variable. */
export function argsReader(flags: Map<string, string>, env: NodeJS.ProcessEnv): InputReader {
  return (name) => flags.get(name) ?? env[envName(name)] ?? '';
}
