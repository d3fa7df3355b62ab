import { nextRetryAt } from '../../src/crm/backoff.js';

const policy = { scheduleSeconds: [30, 60, 120, 240, 480], jitterRatio: 0.1, maxRetries: 5 };
const now = new Date('2026-11-24T12:00:00Z');
const delaySeconds = (retryCount: number, random: () => number) =>
	(nextRetryAt(now, retryCount, policy, null, random).getTime() - now.getTime()) / 1000;

/** A seeded generator (mulberry32): the same draws on every run. */
function seeded(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

test('the schedule is 30/60/120/240/480 s without jitter, and the last step repeats', () => {
	const middle = () => 0.5;
	expect([0, 1, 2, 3, 4, 5, 9].map((count) => delaySeconds(count, middle))).toEqual([
		30, 60, 120, 240, 480, 480, 480,
	]);
});

test('jitter stays within ± the ratio and really spreads the delays', () => {
	for (const [count, base] of [
		[0, 30],
		[2, 120],
		[4, 480],
	] as const) {
		expect(delaySeconds(count, () => 0)).toBe(base * 0.9);
		expect(delaySeconds(count, () => 0.999999)).toBeCloseTo(base * 1.1, 0);
		const random = seeded(20261119 + count);
		const samples = Array.from({ length: 200 }, () => delaySeconds(count, random));
		expect(Math.min(...samples)).toBeGreaterThanOrEqual(base * 0.9);
		expect(Math.max(...samples)).toBeLessThanOrEqual(base * 1.1);
		expect(new Set(samples).size).toBeGreaterThan(1);
	}
});
