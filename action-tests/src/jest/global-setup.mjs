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
  globalThis.__provingGround = ground;
  const how = ground.reused ? 'shared a running proving ground' : 'started the proving ground';
  process.stderr.write(
    `\n[proving-ground] ${how} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}
