/**
 * `npm test`: one jest run for the whole repository, every suite once. Each package keeps its own
 * project config; jest.unit.config.mjs is the fast tier's share of them (`npm run test:unit`).
 */
export default {
	testTimeout: 30_000,
	projects: [
		'<rootDir>/test/jest.config.cjs',
		'<rootDir>/processor/jest.unit.config.mjs',
		'<rootDir>/processor/jest.config.mjs',
		'<rootDir>/stack/jest.config.mjs',
	],
};
