import { shared } from './jest.config.mjs';

/**
 * The processor's pure logic (test/unit: rules, mapping, backoff, signatures, masking, config,
 * reports): no Postgres, so none of the global setup that starts one.
 */
export default { ...shared, displayName: 'processor-unit', roots: ['<rootDir>/test/unit'] };
