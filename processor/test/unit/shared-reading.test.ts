import { sharedReading } from '../../src/metrics/shared-reading.js';

function counted(values: (() => Promise<number>)[]) {
	let calls = 0;
	return {
		read: () => values[calls++]!(),
		calls: () => calls,
	};
}

test('concurrent callers share one read; its value is reused until it is maxAgeMs old', async () => {
	let clock = 0;
	const source = counted([async () => 1, async () => 2]);
	const reading = sharedReading(source.read, 1000, () => clock);
	expect(await Promise.all(Array.from({ length: 50 }, reading))).toEqual(Array(50).fill(1));
	expect(source.calls()).toBe(1);
	clock = 999;
	expect(await reading()).toBe(1);
	expect(source.calls()).toBe(1);
	clock = 1000;
	expect(await reading()).toBe(2);
	expect(source.calls()).toBe(2);
});

test('a failed read is shared by the callers waiting on it, then not kept: the next caller reads again', async () => {
	const source = counted([() => Promise.reject(new Error('database down')), async () => 7]);
	const reading = sharedReading(source.read, 1000, () => 0);
	const waiting = await Promise.allSettled([reading(), reading(), reading()]);
	expect(waiting.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
	expect(source.calls()).toBe(1);
	expect(await reading()).toBe(7);
	expect(source.calls()).toBe(2);
});
