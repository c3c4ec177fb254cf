// Jest runs the TypeScript sources directly (SWC, ESM). Two projects: pure unit tests, and integration
// tests that share one real control plane started by test/helpers/global-setup.ts.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
};
const common = {
  transform,
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  // Run-time state (make up's .airlock/, builds, caches) is not source: never crawled or watched.
  modulePathIgnorePatterns: ['<rootDir>/.airlock/', '<rootDir>/dist/'],
  watchPathIgnorePatterns: ['<rootDir>/.airlock/', '<rootDir>/dist/'],
};
export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
      slowTestThreshold: 30,
    },
  ],
  testTimeout: 60000,
  maxWorkers: 2,
};
