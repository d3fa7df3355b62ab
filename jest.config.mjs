/** One jest run for the whole repository; each package keeps its own project config. */
export default {
	projects: ['<rootDir>/test/jest.config.cjs', '<rootDir>/processor/jest.config.mjs'],
};
