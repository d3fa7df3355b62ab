import { createBatcher } from '../../src/db/write-batcher.js';

/** A flush the test finishes by hand, so batching is observed, not timed. */
function controlledFlush() {
	const calls: { items: number[]; finish(): void; fail(error: Error): void }[] = [];
	const flush = (items: number[]) =>
		new Promise<number[]>((resolve, reject) => {
			calls.push({ items, finish: () => resolve(items.map((item) => item * 10)), fail: reject });
		});
	return { calls, flush };
}

test('a lone call is flushed at once; calls made meanwhile go together in the next flush', async () => {
	const { calls, flush } = controlledFlush();
	const write = createBatcher(flush, { maxBatch: 10, maxInFlight: 1 });
	const first = write(1);
	expect(calls.map((call) => call.items)).toEqual([[1]]);
	const rest = [write(2), write(3), write(4)];
	expect(calls).toHaveLength(1);

	calls[0]!.finish();
	expect(await first).toBe(10);
	await Promise.resolve();
	expect(calls.map((call) => call.items)).toEqual([[1], [2, 3, 4]]);
	calls[1]!.finish();
	expect(await Promise.all(rest)).toEqual([20, 30, 40]);
});

test('batches are capped at maxBatch and up to maxInFlight run side by side', async () => {
	const { calls, flush } = controlledFlush();
	const write = createBatcher(flush, { maxBatch: 2, maxInFlight: 2 });
	const results = [1, 2, 3, 4, 5].map((item) => write(item));
	expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
	calls[0]!.finish();
	calls[1]!.finish();
	await Promise.all(results.slice(0, 2));
	await Promise.resolve();
	expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4], [5]]);
	calls[2]!.finish();
	calls[3]!.finish();
	expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50]);
});

test('an unreachable database fails the whole batch at once, and the next batch still runs', async () => {
	const { calls, flush } = controlledFlush();
	const write = createBatcher(flush, { maxBatch: 10, maxInFlight: 1 });
	const first = write(1);
	const second = [write(2), write(3)];
	calls[0]!.fail(Object.assign(new Error('database down'), { code: 'ECONNREFUSED' }));
	await expect(first).rejects.toThrow('database down');
	await Promise.resolve();
	calls[1]!.fail(Object.assign(new Error('still down'), { code: 'ECONNREFUSED' }));
	const settled = await Promise.allSettled(second);
	expect(settled.map((result) => result.status)).toEqual(['rejected', 'rejected']);
	expect(calls).toHaveLength(2); // not retried item by item
	const third = write(4);
	await Promise.resolve();
	calls[2]!.finish();
	expect(await third).toBe(40);
});

test('a batch the database refuses is split: only the item that cannot be written fails', async () => {
	const { calls, flush } = controlledFlush();
	const write = createBatcher(flush, { maxBatch: 10, maxInFlight: 1 });
	const head = write(0);
	const batch = [write(1), write(2), write(3)];
	calls[0]!.finish();
	await head;
	await Promise.resolve();
	expect(calls.at(-1)!.items).toEqual([1, 2, 3]);
	calls.at(-1)!.fail(Object.assign(new Error('value refused'), { code: '22P05' }));
	await new Promise(setImmediate);
	// each item alone, side by side
	expect(calls.slice(-3).map((call) => call.items)).toEqual([[1], [2], [3]]);
	calls.at(-3)!.finish();
	calls.at(-2)!.fail(Object.assign(new Error('value refused'), { code: '22P05' }));
	calls.at(-1)!.finish();
	const settled = await Promise.allSettled(batch);
	expect(settled).toEqual([
		{ status: 'fulfilled', value: 10 },
		{ status: 'rejected', reason: expect.objectContaining({ message: 'value refused' }) },
		{ status: 'fulfilled', value: 30 },
	]);
});

test('a call still waiting for its flush after maxWaitMs fails as a deadline and is never written', async () => {
	const { calls, flush } = controlledFlush();
	const write = createBatcher(flush, { maxBatch: 10, maxInFlight: 1, maxWaitMs: 20 });
	// the first flush hangs (a stalled database): the calls behind it wait, then give up
	const first = write(1);
	const waiting = [write(2), write(3)];
	await expect(waiting[0]).rejects.toMatchObject({ code: 'DB_DEADLINE' });
	await expect(waiting[1]).rejects.toMatchObject({ code: 'DB_DEADLINE' });
	const later = write(4);
	calls[0]!.finish();
	expect(await first).toBe(10);
	await Promise.resolve();
	// the given-up calls are not in the next flush; the one made after them is
	expect(calls.map((call) => call.items)).toEqual([[1], [4]]);
	calls[1]!.finish();
	expect(await later).toBe(40);
});
