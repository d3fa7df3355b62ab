import { makeAllDue, pruneEvents } from '../src/db/outcome-events.js';
import { startStack, type Stack } from './support/harness.js';

let stack: Stack;
beforeAll(async () => {
	// with a receiver set, the processor's own pruning pass leaves unsent events alone: it cannot
	// race this test's explicit passes over the rows the test reads
	stack = await startStack({
		env: {
			EVENTS_URL: 'http://127.0.0.1:9/events',
			EVENTS_SECRET: 'pruning-test-events-secret',
			// the dispatcher's first pass is at start; the events written here are never attempted
			EVENTS_POLL_MS: '3600000',
		},
	});
});
afterAll(() => stack.close());

test('a sent event is kept for the retention after it was sent, an unsent one only where nothing sends it', async () => {
	const hours = (n: number) => new Date(Date.now() - n * 3600 * 1000);
	const insert = (id: string, status: string, occurred: Date, sent: Date | null) => stack.sql`
		INSERT INTO outcome_events (webhook_id, event_type, data, occurred_at, status, sent_at)
		VALUES (${id}, 'lead.failed', '{}', ${occurred}, ${status}, ${sent})`;
	// retention 72 hours: happened 100 hours ago, sent after a 71-hour outage, or long ago
	await insert('evt_prune_late', 'sent', hours(100), hours(29));
	await insert('evt_prune_old', 'sent', hours(100), hours(99));
	await insert('evt_prune_unsent', 'pending', hours(100), null);
	const left = async () =>
		(
			await stack.sql<{ webhook_id: string }[]>`
				SELECT webhook_id FROM outcome_events WHERE webhook_id LIKE 'evt_prune_%' ORDER BY webhook_id`
		).map((row) => row.webhook_id);

	await pruneEvents(stack.sql, { before: hours(72), pendingToo: false, limit: 1000 });
	expect(await left()).toEqual(['evt_prune_late', 'evt_prune_unsent']);
	await pruneEvents(stack.sql, { before: hours(72), pendingToo: true, limit: 1000 });
	expect(await left()).toEqual(['evt_prune_late']);
});

test('the first /metrics scrape already shows the age of the oldest pending event', async () => {
	await stack.sql`
		INSERT INTO outcome_events (webhook_id, event_type, data, occurred_at)
		VALUES ('evt_metrics_old', 'lead.dead', '{}', ${stack.clock.now} - interval '2 hours')`;
	const text = await (await fetch(`${stack.url}/metrics`)).text();
	const age = Number(/^lih_outcome_events_oldest_pending_seconds (\S+)$/m.exec(text)?.[1]);
	expect(age).toBeGreaterThanOrEqual(7200);
	expect(text).toMatch(/^lih_outcome_events_pending\{type="lead.dead"\} 1$/m);
});

test('an event is counted as retrying once an attempt failed, not while its first attempt is under way', async () => {
	await stack.sql`
		INSERT INTO outcome_events (webhook_id, event_type, data, attempts, lease_owner, lease_until)
		VALUES ('evt_first_try', 'lead.failed', '{}', 1, 'elsewhere', now() + interval '1 hour')`;
	const retrying = async () =>
		((await stack.internal('GET', '/internal/events')).body as { retrying: number }).retrying;
	expect(await retrying()).toBe(0);
	await stack.sql`
		UPDATE outcome_events SET last_error = 'the receiver answered HTTP 503', lease_owner = NULL,
			lease_until = NULL, next_attempt_at = now() + interval '1 hour'
		WHERE webhook_id = 'evt_first_try'`;
	expect(await retrying()).toBe(1);
});

test("an operator's 'send now' moves a large backlog a batch at a time and counts all of it", async () => {
	await stack.sql`
		INSERT INTO outcome_events (webhook_id, event_type, data, next_attempt_at)
		SELECT 'evt_due_' || n, 'lead.failed', '{}', now() + interval '1 hour'
		FROM generate_series(1, 7) AS n`;
	const now = new Date();
	const [waiting] = await stack.sql<{ n: number }[]>`
		SELECT count(*)::int AS n FROM outcome_events
		WHERE status = 'pending' AND next_attempt_at > ${now}
			AND (lease_until IS NULL OR lease_until < ${now})`;
	expect(waiting!.n).toBeGreaterThanOrEqual(7);
	expect(await makeAllDue(stack.sql, now, 3)).toBe(waiting!.n);
	const [left] = await stack.sql<{ n: number }[]>`
		SELECT count(*)::int AS n FROM outcome_events
		WHERE webhook_id LIKE 'evt_due_%' AND next_attempt_at > now()`;
	expect(left!.n).toBe(0);
});
