import { batchWorstCaseMs } from '../../src/concurrency.js';

test('a claim lease covers each worker doing its calls and, after each, its own write', () => {
	// the deliverer's defaults: 64 claimed, 16 at a time, CRM_TIMEOUT_MS 5 s, DB_QUERY_TIMEOUT_MS 1.5 s
	const perWorker = Math.ceil(64 / 16) * (5000 + 1500);
	const claimItself = 1500;
	expect(batchWorstCaseMs(64, 16, 5000, 1500)).toBeGreaterThanOrEqual(perWorker + claimItself);
	// one item alone (a half-open probe, one DLQ retry): its call, its write and the claim
	expect(batchWorstCaseMs(1, 16, 5000, 1500)).toBeGreaterThanOrEqual(5000 + 1500 + 1500);
});
