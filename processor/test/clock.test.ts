import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { startDatabaseClock } from '../src/db/clock.js';
import { createLogger } from '../src/logger.js';
import { postLead, startStack, validLead, type Stack } from './support/harness.js';

// The processor tells time by the database's clock (db/clock.ts): a host whose clock runs fast
// must not take runs another processor is still delivering for expired.

const HOUR_MS = 3_600_000;

/** Fakes only `Date` (timers, the monotonic clock and I/O stay real): this host runs fast. */
function hostClockAhead(ms: number): void {
	jest.useFakeTimers({
		now: Date.now() + ms,
		doNotFake: [
			'hrtime',
			'nextTick',
			'performance',
			'queueMicrotask',
			'setImmediate',
			'clearImmediate',
			'setInterval',
			'clearInterval',
			'setTimeout',
			'clearTimeout',
		],
	});
}

let stack: Stack;

beforeAll(async () => {
	stack = await startStack();
});

afterAll(async () => {
	jest.useRealTimers();
	await stack?.close();
});

test("the processor's clock is the database's, whatever the host's says", async () => {
	hostClockAhead(HOUR_MS);
	const clock = await startDatabaseClock(stack.sql, {
		deadlineMs: 5000,
		logger: createLogger('silent'),
	}).finally(() => jest.useRealTimers());
	try {
		const [row] = await stack.sql<{ at: Date }[]>`SELECT clock_timestamp() AS at`;
		expect(Math.abs(clock.now().getTime() - row!.at.getTime())).toBeLessThan(1000);
	} finally {
		clock.close();
	}
});

test("a processor on a host an hour fast leaves another processor's run in flight to it", async () => {
	const answer = await postLead(stack.url, validLead(), { key: 'clock-in-flight' });
	expect(answer.status).toBe(200);
	const runId = answer.body.run_id as string;
	// as if another processor had just claimed it and were calling the CRM
	await stack.sql`
		UPDATE runs SET status = 'accepted', processed_at = NULL, crm_id = NULL,
			received_at = now(), lease_owner = 'another processor', lease_until = now() + interval '5 minutes'
		WHERE run_id = ${runId}`;

	hostClockAhead(HOUR_MS);
	// its start recovers the runs whose request or deliverer died (nothing else has run yet)
	const fast = await startStack({
		databaseUrl: stack.databaseUrl,
		databaseClock: true,
		duplicates: 'shipped',
	}).finally(() => jest.useRealTimers());
	await fast.close();

	const [run] = await stack.sql<{ status: string; lease_owner: string | null }[]>`
		SELECT status, lease_owner FROM runs WHERE run_id = ${runId}`;
	expect(run).toEqual({ status: 'accepted', lease_owner: 'another processor' });
	const [{ items }] = await stack.sql<{ items: number }[]>`
		SELECT count(*)::int AS items FROM dlq WHERE run_id = ${runId}`;
	expect(items).toBe(0);
});

test('a processor on a host an hour fast reads signatures and counts minutes by the database', async () => {
	const fast = await startStack({ databaseClock: true });
	try {
		const timestamp = String(Math.floor(Date.now() / 1000));
		hostClockAhead(HOUR_MS);
		const answer = await postLead(fast.url, validLead(), { timestamp }).finally(() =>
			jest.useRealTimers(),
		);
		// by the host's clock the signature would be an hour old (409 timestamp_out_of_window)
		expect(answer.status).toBe(200);
		const [{ off }] = await fast.sql<{ off: number }[]>`
			SELECT max(abs(extract(epoch FROM now() - window_start)))::float8 AS off
			FROM rate_limit_hits`;
		expect(off).toBeLessThan(120);
	} finally {
		await fast.close();
	}
});
