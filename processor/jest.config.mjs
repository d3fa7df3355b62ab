/** What the processor's two jest projects share: TypeScript as ES modules. */
export const shared = {
	testEnvironment: 'node',
	testMatch: ['**/*.test.ts'],
	extensionsToTreatAsEsm: ['.ts'],
	moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
	transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }] },
};

/** The processor's tests against a real Postgres and real processes (test/unit: jest.unit.config.mjs). */
export default {
	...shared,
	displayName: 'processor',
	roots: ['<rootDir>/test'],
	testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/unit/'],
	globalSetup: '<rootDir>/test/support/global-setup.ts',
	globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
