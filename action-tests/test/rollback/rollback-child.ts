/**
 * Runs one rollback in a process of its own, so a test can SIGKILL it half way. The inputs come
 * through the environment (DSM_ROLLBACK_INPUTS, JSON), never argv: they hold secrets.
 */
import { readRollbackConfig, runRollback } from '@dify-storage/operations';

const values = JSON.parse(process.env.DSM_ROLLBACK_INPUTS ?? '{}') as Record<string, string>;
const config = readRollbackConfig(
  (name) => values[name] ?? '',
  {},
  () => undefined,
);
const r = await runRollback(config, {
  info: (l) => process.stdout.write(`${l}\n`),
  warn: (l) => process.stdout.write(`warning: ${l}\n`),
});
process.stdout.write(`${JSON.stringify({ done: r.message })}\n`);
