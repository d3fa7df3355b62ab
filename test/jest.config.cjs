/**
 * The node tier (CommonJS, like the package n8n loads): our nodes in small workflows on n8n's own
 * execution engine (n8n-core), against local stub servers. No Postgres, no n8n install, no network.
 */
module.exports = {
	displayName: 'nodes',
	rootDir: '..',
	testEnvironment: '<rootDir>/test/nodes/support/n8n-environment.mjs',
	roots: ['<rootDir>/test/nodes'],
	testMatch: ['**/*.test.ts'],
	setupFilesAfterEnv: ['<rootDir>/test/nodes/support/environment.ts'],
	// type-checked by `npm run typecheck`; here each file is only transpiled, which is much faster
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.jest.json' }] },
};
