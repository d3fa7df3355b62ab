import { pruneEvents } from '../src/db/outcome-events.js';
import { startStack, type Stack } from './support/harness.js';

let stack: Stack;
beforeAll(async () => {
	// with a receiver set, the processor's own pruning pass leaves unsent events alone: it cannot
	// race this test's explicit passes over the rows the test reads
	stack = await startStack({
		env: { EVENTS_URL: 'http://127.0.0.1:9/events', EVENTS_SECRET: 'pruning-test-events-secret' },
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
