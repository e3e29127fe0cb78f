// Jest loads global setup through Node's own loader, not its transform pipeline: tsx loads
// the TypeScript proving ground (workspace packages resolve to sources via --conditions=source).
import { tsImport } from 'tsx/esm/api';

/**
 * Starts the proving ground once for the whole jest run and exports its settings; jest's
 * workers inherit this process's environment. Installs Node 24 for the bundle tests if needed.
 */
export default async function setup() {
  const started = Date.now();
  const { startProvingGround } = await tsImport('../proving-ground/index.ts', import.meta.url);
  const { ensureNode24 } = await tsImport('../bundles.ts', import.meta.url);
  const [ground] = await Promise.all([startProvingGround({ owner: 'jest' }), ensureNode24()]);
  Object.assign(process.env, ground.env);
  // Tests reach loopback addresses only: the AWS credential chain (used when a test gives no
  // keys) must neither ask the EC2 metadata service nor read the developer's ~/.aws files.
  Object.assign(process.env, {
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/dify-storage-tests/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/dify-storage-tests/aws-credentials',
  });
  for (const name of [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_PROFILE',
  ]) {
    delete process.env[name];
  }
  globalThis.__provingGround = ground;
  const how = ground.reused ? 'shared a running proving ground' : 'started the proving ground';
  process.stderr.write(
    `\n[proving-ground] ${how} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}
