/** One jest run for the whole repository; each package keeps its own project config. */
export default {
	testTimeout: 30_000,
	projects: [
		'<rootDir>/test/jest.config.cjs',
		'<rootDir>/processor/jest.config.mjs',
		'<rootDir>/stack/jest.config.mjs',
	],
};
