/**
 * Starts or stops a shared proving ground for development: `start` leaves RGW, PostgreSQL and
 * Redis running (tests then share them), `stop` stops them, `env` prints shell exports.
 */
import {
  startProvingGround,
  stopProvingGround,
  DEFAULT_STATE_DIR,
} from '../src/proving-ground/index.js';

const command = process.argv[2] ?? 'start';
if (command === 'start') {
  const started = Date.now();
  const ground = await startProvingGround({ owner: 'cli' });
  process.stdout.write(
    `${ground.reused ? 'already running' : `started in ${((Date.now() - started) / 1000).toFixed(1)} s`} (state in ${DEFAULT_STATE_DIR})\n`,
  );
  for (const [k, v] of Object.entries(ground.env)) process.stdout.write(`export ${k}='${v}'\n`);
} else if (command === 'stop') {
  await stopProvingGround();
  process.stdout.write('stopped\n');
} else {
  process.stderr.write(`usage: proving-ground start|stop\n`);
  process.exitCode = 2;
}
