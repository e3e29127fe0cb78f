// Imported first by main.ts: ES modules run in import order, so this refuses an old Node in one
// line before a dependency fails to load on it (client-node 2.x's undici 8 needs 22.19).
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `dify-storage needs Node >= 22.19 (this is ${process.version}): install Node 24 (.nvmrc), e.g. nvm install 24.\n`,
  );
  process.exit(2);
}
export {};
