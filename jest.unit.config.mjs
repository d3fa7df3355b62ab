/**
 * `npm run test:unit`, the fast tier: the node tier on n8n's engine and the processor's pure
 * logic. No Postgres, no n8n install, no network (stub servers on 127.0.0.1 only).
 */
export default {
	testTimeout: 30_000,
	projects: ['<rootDir>/test/jest.config.cjs', '<rootDir>/processor/jest.unit.config.mjs'],
};
