/**
 * One jest run for the whole repository (native ESM, ts-jest transpile-only). The proving
 * ground (Ceph RGW, PostgreSQL, Redis) is started once by the global setup and shared by every
 * suite; tests reach it through the environment the setup exports.
 */
export default {
  testEnvironment: 'node',
  // Workspace packages resolve to their TypeScript sources: no build is needed to test.
  testEnvironmentOptions: { customExportConditions: ['source', 'node', 'node-addons'] },
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.jest.json' }],
  },
  testMatch: [
    '<rootDir>/{packages,actions,action-tests}/*/test/**/*.test.ts',
    '<rootDir>/action-tests/test/**/*.test.ts',
  ],
  globalSetup: '<rootDir>/action-tests/src/jest/global-setup.mjs',
  globalTeardown: '<rootDir>/action-tests/src/jest/global-teardown.mjs',
  testTimeout: 60_000,
  maxWorkers: 2,
};
