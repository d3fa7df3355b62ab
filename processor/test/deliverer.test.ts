import { waitFor } from '@lead-intake-hub/stack';
import { postOnStore, startStack, validLead, type Stack } from './support/harness.js';

/*
 * The background deliverer on an in-process processor whose clock the test moves (the process
 * tests of answer-on-store.test.ts cannot move theirs).
 */
let stack: Stack;
beforeAll(async () => {
	stack = await startStack({
		env: {
			// one call at a time: the second lead's turn comes after the first one's slow call
			DELIVERY_CONCURRENCY: '1',
			// both leads stored before the deliverer claims: one claim takes them together
			DELIVERY_LINGER_MS: '2000',
			// no recovery or retry pass of its own in between
			DLQ_RETRY_INTERVAL_SECONDS: '0',
			// a slow CRM call long enough (5 s) that the test moves the clock while it is under way
			CRM_TIMEOUT_MS: '10000',
		},
	});
});
afterAll(() => stack.close());

const onStore = (key: string) =>
	postOnStore(stack.url, validLead({ email: `${key}@example.com` }), {
		key,
		timestamp: String(Math.floor(stack.clock.now.getTime() / 1000)),
	});

test('a claimed lead whose claim would run out during its CRM call is not sent under it: it goes back to the queue and is delivered under a new claim', async () => {
	await fetch(`${stack.crm.url}/admin/faults`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		// the claim's first call, whichever lead it is: a claim's runs come in no particular order
		body: JSON.stringify({ fail_next: 0, slow_next: 1, latency_ms: 5000 }),
	});
	const answers = await Promise.all([onStore('claim-first'), onStore('claim-second')]);
	expect(answers.map((answer) => answer.status)).toEqual([202, 202]);
	const claims = () => stack.sql<
		{ idempotency_key: string; status: string; lease_until: Date | null }[]
	>`
		SELECT idempotency_key, status, lease_until FROM runs
		WHERE idempotency_key IN ('claim-first', 'claim-second') ORDER BY idempotency_key`;
	await waitFor(claims, {
		what: 'both leads claimed together',
		until: (rows) => rows.every((row) => row.status === 'accepted'),
		intervalMs: 10,
	});
	// while the first call is under way (5 s), the claim's lease runs out: a stalled database
	const claimEnded = new Date(stack.clock.now.getTime() + 3600_000);
	stack.clock.advance(3600);
	const settled = await waitFor(claims, {
		what: 'both leads delivered',
		until: (rows) => rows.every((row) => row.status === 'processed'),
		deadlineMs: 15_000,
	});
	// the one called second was claimed again after the first claim had run out, and sent once
	const claimedAgain = settled.filter((row) => row.lease_until!.getTime() > claimEnded.getTime());
	expect(claimedAgain).toHaveLength(1);
	const delivered = (await stack.crm.leads()).filter((lead) => lead.key.startsWith('claim-'));
	expect(delivered.map((lead) => [lead.key, lead.upserts]).sort()).toEqual([
		['claim-first', 1],
		['claim-second', 1],
	]);
}, 30_000);
