import { batchWorstCaseMs, mapConcurrently } from '../../src/concurrency.js';

test('a claim lease covers each worker doing its calls and, after each, its own write', () => {
	// the deliverer's defaults: 64 claimed, 16 at a time, CRM_TIMEOUT_MS 5 s, DB_QUERY_TIMEOUT_MS 1.5 s
	const perWorker = Math.ceil(64 / 16) * (5000 + 1500);
	const claimItself = 1500;
	expect(batchWorstCaseMs(64, 16, 5000, 1500)).toBeGreaterThanOrEqual(perWorker + claimItself);
	// one item alone (a half-open probe, one DLQ retry): its call, its write and the claim
	expect(batchWorstCaseMs(1, 16, 5000, 1500)).toBeGreaterThanOrEqual(5000 + 1500 + 1500);
});

test('one failing item neither stops the others nor lets the caller go on before they end', async () => {
	const worked: number[] = [];
	let running = 0;
	const outcome = mapConcurrently([1, 2, 3, 4, 5, 6], 2, async (item) => {
		running++;
		await new Promise((resolve) => setImmediate(resolve));
		running--;
		if (item === 1) throw new Error('item 1 failed');
		worked.push(item);
		return item;
	});
	await expect(outcome).rejects.toThrow('item 1 failed');
	expect(running).toBe(0);
	expect(worked.sort()).toEqual([2, 3, 4, 5, 6]);
});
