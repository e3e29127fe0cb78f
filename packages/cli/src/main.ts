import { ConfigurationError, errorMessage } from '@dify-storage/action-kit';
import { EXPECTED_ERRORS } from '@dify-storage/operations';
import { argsReader, checkKnownFlags, envName, parseArgs, SECRET_INPUTS } from './args.js';
import { COMMANDS } from './commands.js';
import { terminalLogger } from './terminal.js';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: dify-storage <command> [--input value ...]',
    '',
    'Runs the steps of the Dify hostPath → S3 migration from the storage node. Flags are the',
    'inputs of the matching GitHub action (see actions/<action>/action.yml); each can also be',
    'set as DIFY_STORAGE_<INPUT> (e.g. DIFY_STORAGE_BUCKET). Secrets are taken from the',
    'environment only: DIFY_STORAGE_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY), DIFY_STORAGE_KUBECONFIG, …',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'dify-storage <command> --help lists its flags.',
  ].join('\n');
}

function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  const flags = c.inputs.map((i) => (SECRET_INPUTS.has(i) ? `  (env ${envName(i)})` : `  --${i}`));
  return [`dify-storage ${name}: ${c.summary}`, '', ...flags].join('\n');
}

/** Runs the CLI; returns the exit code (0 ok, 1 the operation failed, 2 bad usage). */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = terminalLogger();
  let name: string | undefined;
  try {
    const args = parseArgs(argv);
    name = args.command;
    if (!name) {
      process.stdout.write(`${usage()}\n`);
      return args.help ? 0 : 2;
    }
    const command = COMMANDS[name];
    if (!command)
      throw new ConfigurationError(
        `Unknown command '${name}'; commands are: ${Object.keys(COMMANDS).join(', ')}.`,
      );
    if (args.help) {
      process.stdout.write(`${commandHelp(name)}\n`);
      return 0;
    }
    checkKnownFlags(args.flags, command.inputs, name);
    const result = await command.run(argsReader(args.flags, env), env, log);
    log.end();
    process.stdout.write(`${result.text}\n`);
    return result.ok ? 0 : 1;
  } catch (error) {
    log.end();
    const prefix = `dify-storage${name ? ` ${name}` : ''}`;
    if (error instanceof ConfigurationError) {
      process.stderr.write(`${prefix}: ${error.message}\n`);
      return 2;
    }
    const expected = EXPECTED_ERRORS.some((c) => error instanceof c);
    process.stderr.write(`${prefix}: ${errorMessage(error)}\n`);
    if (!expected && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
