/** Unit tests of the n8n nodes (CommonJS, like the package n8n loads). */
module.exports = {
	displayName: 'nodes',
	testEnvironment: 'node',
	rootDir: '..',
	roots: ['<rootDir>/test/nodes'],
	testMatch: ['**/*.test.ts'],
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }] },
};
