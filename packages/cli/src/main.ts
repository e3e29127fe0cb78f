import './node-version.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  classifyError,
  ConfigurationError,
  errorMessage,
  EXIT_CODE_TABLE,
  EXIT_CODES,
} from '@dify-storage/action-kit';
import { argsReader, envName, parseArgs, SECRET_INPUTS } from './args.js';
import { COMMANDS, type Command } from './commands.js';
import { actionInputs, closest, flagHelp, type Flag } from './flags.js';
import { terminalLogger } from './terminal.js';

/** Flags every command takes, declared once. */
export const COMMON_FLAGS: Flag[] = [
  {
    name: 'json',
    description:
      'Print the result as one JSON object on stdout and nothing else there (progress and messages go to stderr).',
    default: 'false',
    switch: true,
  },
];

/** A command's flags: its action's inputs less the fixed ones, its own, then the common ones. */
export function commandFlags(c: Command): Flag[] {
  const fromAction = c.action
    ? actionInputs(c.action).filter((f) => !(f.name in (c.fixed ?? {})))
    : [];
  return [...fromAction, ...(c.flags ?? []), ...COMMON_FLAGS];
}

/** What the code accepts for an input, found by giving the command's own validation a bad value. */
function allowedValues(c: Command, name: string): string | undefined {
  try {
    c.config((n) => (n === name ? '?' : ''), {});
  } catch (error) {
    const m = new RegExp(
      `Input '${name}' has the value '\\?'[;,] (?:allowed values are: |it must be )(.*?)\\.(?:\\s|$)`,
    ).exec(errorMessage(error));
    if (m) return m[0].includes('allowed values') ? `one of: ${m[1]}` : m[1];
  }
  return undefined;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: dify-storage <command> [--flag value ...]   (dify-storage <command> --help for its flags)',
    '',
    'Runs the steps of the Dify hostPath → S3 migration from the storage node. Flags are the',
    'inputs of the matching GitHub action (actions/<action>/action.yml); each can also be set',
    'as DIFY_STORAGE_<FLAG> (e.g. DIFY_STORAGE_BUCKET). Secrets are taken from the environment',
    'only: DIFY_STORAGE_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY), DIFY_STORAGE_KUBECONFIG, …',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'dify-storage --version prints the version.',
    '',
    'exit codes (the same for every command):',
    ...EXIT_CODE_TABLE.split('\n').map((l) => `  ${l}`),
  ].join('\n');
}

export function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  const env = (i: string) => (SECRET_INPUTS.has(i) ? envName(i) : undefined);
  const flags = commandFlags(c).flatMap((f) =>
    flagHelp(
      { ...f, ...(f.allowed || f.switch ? {} : { allowed: allowedValues(c, f.name) }) },
      env,
    ),
  );
  return [
    `usage: dify-storage ${name} [flags]`,
    '',
    c.summary,
    ...(c.action ? ['', `Flags are the inputs of actions/${c.action}/action.yml.`] : []),
    '',
    'flags (each also as DIFY_STORAGE_<FLAG> in the environment):',
    ...flags,
    '',
    'examples:',
    ...c.examples.map((e) => `  ${e}`),
  ].join('\n');
}

export function version(): string {
  const pkg = fileURLToPath(new URL('../package.json', import.meta.url));
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

function unknownCommand(name: string): ConfigurationError {
  const guess = closest(name, Object.keys(COMMANDS));
  return new ConfigurationError(
    `Unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ''} Commands are: ${Object.keys(COMMANDS).join(', ')}.`,
  );
}

/** Runs the CLI; returns the exit code (0 ok, 1 the operation failed, 2 bad usage). */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = terminalLogger();
  let name = argv[0]?.startsWith('-') ? undefined : argv[0];
  let json = argv.includes('--json');
  try {
    const args = parseArgs(argv, (n) => (COMMANDS[n] ? commandFlags(COMMANDS[n]) : undefined));
    name = args.command;
    json = args.flags.get('json') === 'true';
    if (args.version) {
      process.stdout.write(json ? `${JSON.stringify({ version: version() })}\n` : `${version()}\n`);
      return 0;
    }
    if (!name) {
      process.stdout.write(`${usage()}\n`);
      return args.help ? 0 : 2;
    }
    const command = COMMANDS[name];
    if (!command) throw unknownCommand(name);
    if (args.help) {
      process.stdout.write(`${commandHelp(name)}\n`);
      return 0;
    }
    const read = argsReader(args.flags, env);
    const config = command.config(read, env);
    const result = await command.run(config, env, log);
    log.end();
    process.stdout.write(
      json
        ? `${JSON.stringify(result.result, null, 2)}\n`
        : `${result.text}\nnext: ${result.next}\n`,
    );
    return EXIT_CODES[result.outcome];
  } catch (error) {
    log.end();
    const c = classifyError(error);
    process.stderr.write(`dify-storage${name ? ` ${name}` : ''}: ${c.message}\n`);
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ error: c.message, outcome: c.outcome, exitCode: c.exitCode })}\n`,
      );
    }
    if (c.stack) process.stderr.write(`internal error (a bug; please report it):\n${c.stack}\n`);
    return c.exitCode;
  }
}

// Run directly (`node --conditions=source --import tsx packages/cli/src/main.ts`, as the README says).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
