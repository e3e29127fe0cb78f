/**
 * The README's main command: brings up the embedded local environment and runs the migration
 * story on it.
 */
import { startProvingGround } from '../src/proving-ground/index.js';

const ground = await startProvingGround({ owner: 'demo' });
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await ground.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop(130));
process.on('SIGTERM', () => void stop(143));

process.stdout.write(`Local environment is up:
  S3 (Ceph RGW)  ${ground.env.DSM_S3_ENDPOINT}
  PostgreSQL     ${ground.env.DSM_PG_URL.replace(/:[^:@/]+@/, ':***@')}
  Redis          ${ground.env.DSM_REDIS_URL}
`);
await stop(0);
