import { waitFor } from '../src/wait-for.js';

/** The one poll the tests use: it returns what it awaited, or fails saying what and what it saw. */
test('resolves with the first awaited value; a probe that throws counts as not yet', async () => {
	let calls = 0;
	const value = await waitFor(
		() => {
			calls++;
			if (calls === 1) throw new Error('not up yet');
			return calls;
		},
		{ what: 'the third call', until: (count) => count >= 3, intervalMs: 1 },
	);
	expect(value).toBe(3);
});

test('by default any value but null, undefined and false is the awaited one', async () => {
	const seen = [null, undefined, false, 0];
	expect(await waitFor(() => seen.shift(), { what: 'a value', intervalMs: 1 })).toBe(0);
});

test('past the deadline it names what it awaited and the last value seen', async () => {
	await expect(
		waitFor(() => ({ status: 503 }), {
			what: '/health to answer 200',
			until: (answer) => answer.status === 200,
			deadlineMs: 50,
			intervalMs: 5,
		}),
	).rejects.toThrow(
		'Timed out after 50 ms waiting for /health to answer 200; last value: { status: 503 }',
	);
});

test("a probe that hangs does not hold it past the deadline (else jest's timeout would end it)", async () => {
	let calls = 0;
	const hangs = () =>
		++calls === 1 ? Promise.resolve(false) : new Promise<boolean>(() => undefined);
	await expect(
		waitFor(hangs, { what: 'an answer', deadlineMs: 100, intervalMs: 1 }),
	).rejects.toThrow('waiting for an answer; last value: false (a probe was still running)');
});
