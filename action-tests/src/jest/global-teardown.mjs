export default async function teardown() {
  const ground = globalThis.__provingGround;
  if (ground) await ground.stop();
}
