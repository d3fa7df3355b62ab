import { waitFor } from '@lead-intake-hub/stack';
import {
	postLead,
	signatureHeaders,
	startStack,
	validLead,
	type Stack,
} from './support/harness.js';

/**
 * Retry-due mechanics on real Postgres, with the mock CRM's faults and a moved clock: the short
 * `seed` schedule and no circuit breaker, so each step is visible (never-lose-a-lead.test.ts
 * covers the default schedule and the breaker).
 */
let stack: Stack;
const MECHANICS = {
	DLQ_JITTER_RATIO: '0',
	DLQ_BACKOFF_SECONDS: 'seed',
	CRM_BREAKER_FAILURES: '1000000',
};

beforeAll(async () => {
	stack = await startStack({ env: MECHANICS });
});
afterAll(() => stack.close());
beforeEach(async () => {
	await stack.crm.reset();
	// retry-due's counts are each test's own: whatever an earlier test left due is set aside
	await stack.sql`
		UPDATE dlq SET status = 'dead', next_retry_at = NULL, locked_until = NULL, lease_token = NULL
		WHERE status IN ('open', 'retrying')`;
});

/** A lead whose intake delivery failed with a 503: an open DLQ item due 30 s later. */
async function failedLead(key: string): Promise<{ runId: string; dlqId: number }> {
	await stack.crm.fail(1, 503);
	const answer = await post(validLead({ email: `${key}@example.com` }), key);
	expect(answer.status).toBe(500);
	return { runId: answer.body.run_id as string, dlqId: answer.body.dlq_id as number };
}

/** Signed by the processor's clock, which these tests move ahead. */
function post(body: unknown, key: string) {
	return postLead(stack.url, body, {
		key,
		timestamp: String(Math.floor(stack.clock.now.getTime() / 1000)),
	});
}

async function retryDue(limit?: number) {
	const answer = await stack.internal('POST', '/internal/dlq/retry-due', limit ? { limit } : {});
	expect(answer.status).toBe(200);
	return answer.body as {
		claimed: number;
		resolved: number;
		retried: number;
		dead: number;
		dead_items: { dlq_id: number; reason: string }[];
	};
}

async function dlqItem(dlqId: number) {
	const [item] =
		await stack.sql`SELECT status, retry_count, next_retry_at, resolved_at FROM dlq WHERE dlq_id = ${dlqId}`;
	return item!;
}

test('outage drill: 200 leads during a CRM outage all reach the CRM exactly once after it recovers', async () => {
	await stack.crm.fail(1_000_000, 503);
	const keys = Array.from({ length: 200 }, (_, index) => `drill-${index}`);
	const answers = [];
	for (let start = 0; start < keys.length; start += 25) {
		answers.push(
			...(await Promise.all(keys.slice(start, start + 25).map((key) => post(validLead(), key)))),
		);
	}
	expect(answers.map((answer) => answer.status)).toEqual(keys.map(() => 500));
	const runIds = answers.map((answer) => answer.body.run_id as string);
	expect(
		(
			await stack.sql`SELECT count(*)::int AS n FROM dlq WHERE run_id = ANY(${runIds}) AND status = 'open'`
		)[0]!.n,
	).toBe(200);

	await stack.crm.fail(0);
	let rounds = 0;
	for (let claimed = -1; claimed !== 0; rounds++) {
		stack.clock.advance(600);
		claimed = (await retryDue(64)).claimed;
	}

	expect(rounds).toBeGreaterThan(3);
	const runs = await stack.sql`SELECT status, sealed_lead FROM runs WHERE run_id = ANY(${runIds})`;
	expect(runs.filter((run) => run.status === 'processed')).toHaveLength(200);
	expect(runs.every((run) => run.sealed_lead === null)).toBe(true);
	const delivered = (await stack.crm.leads()).filter((lead) => keys.includes(lead.key));
	expect(delivered).toHaveLength(200);
	expect(delivered.every((lead) => lead.upserts === 1)).toBe(true);
	const resolved =
		await stack.sql`SELECT count(*)::int AS n FROM audit_events WHERE event_type = 'dlq_resolved' AND run_id = ANY(${runIds})`;
	expect(resolved[0]!.n).toBe(200);
});

test('nothing is claimed before it is due; 429 is retried on the 60 s step of the backoff', async () => {
	const { runId, dlqId } = await failedLead('rate-limited');
	expect((await retryDue()).claimed).toBe(0);

	stack.clock.advance(30);
	await stack.crm.fail(1, 429);
	const first = await retryDue();
	expect(first).toMatchObject({ claimed: 1, retried: 1, dead: 0 });
	const item = await dlqItem(dlqId);
	expect(item).toMatchObject({ status: 'open', retry_count: 1 });
	expect((item.next_retry_at as Date).getTime()).toBe(stack.clock.now.getTime() + 60_000);

	stack.clock.advance(59);
	expect((await retryDue()).claimed).toBe(0);
	stack.clock.advance(1);
	expect(await retryDue()).toMatchObject({ claimed: 1, resolved: 1 });
	expect(await dlqItem(dlqId)).toMatchObject({ status: 'resolved', retry_count: 2 });
	const attempts =
		await stack.sql`SELECT trigger, status_code, success FROM delivery_attempts WHERE run_id = ${runId} ORDER BY attempt_no`;
	expect(attempts).toEqual([
		{ trigger: 'intake', status_code: 503, success: false },
		{ trigger: 'retry', status_code: 429, success: false },
		{ trigger: 'retry', status_code: 200, success: true },
	]);
	const events =
		await stack.sql`SELECT event_type FROM audit_events WHERE run_id = ${runId} ORDER BY event_id`;
	expect(events.map((event) => event.event_type)).toEqual([
		'lead_received',
		'delivery_failed',
		'dlq_created',
		'delivery_failed',
		'dlq_retried',
		'crm_upserted',
		'dlq_resolved',
	]);
});

test('a non-retryable 4xx on retry makes the item dead at once, and the answer lists it', async () => {
	const { runId, dlqId } = await failedLead('bad-request');
	stack.clock.advance(30);
	await stack.crm.fail(1, 400);
	const summary = await retryDue();
	expect(summary).toMatchObject({ claimed: 1, dead: 1 });
	expect(summary.dead_items).toEqual([
		expect.objectContaining({ dlq_id: dlqId, run_id: runId, reason: 'crm_http_400' }),
	]);
	expect(await dlqItem(dlqId)).toMatchObject({ status: 'dead', retry_count: 1 });
	const [run] = await stack.sql`SELECT status FROM runs WHERE run_id = ${runId}`;
	expect(run!.status).toBe('failed');
	const dead =
		await stack.sql`SELECT actor FROM audit_events WHERE run_id = ${runId} AND event_type = 'dlq_dead'`;
	expect(dead).toEqual([{ actor: 'processor' }]);
});

test('after DLQ_MAX_RETRIES failed retries the item is dead (retries_exhausted)', async () => {
	const { runId, dlqId } = await failedLead('exhausted');
	await stack.crm.fail(1_000, 503);
	const summaries = [];
	for (let retry = 0; retry < 5; retry++) {
		stack.clock.advance(1_000);
		summaries.push(await retryDue());
	}
	expect(summaries.map((summary) => summary.retried)).toEqual([1, 1, 1, 1, 0]);
	expect(summaries[4]!.dead_items).toEqual([
		expect.objectContaining({ dlq_id: dlqId, reason: 'retries_exhausted' }),
	]);
	expect(await dlqItem(dlqId)).toMatchObject({ status: 'dead', retry_count: 5 });
	const attempts =
		await stack.sql`SELECT count(*)::int AS n FROM delivery_attempts WHERE run_id = ${runId}`;
	expect(attempts[0]!.n).toBe(6);
	stack.clock.advance(10_000);
	expect((await retryDue()).claimed).toBe(0);
});

test('an item left in retrying by a crashed processor is due again once its lease runs out', async () => {
	const { dlqId } = await failedLead('crashed-claim');
	const leaseUntil = new Date(stack.clock.now.getTime() + 200_000);
	await stack.sql`UPDATE dlq SET status = 'retrying', locked_until = ${leaseUntil}, lease_token = gen_random_uuid() WHERE dlq_id = ${dlqId}`;

	stack.clock.advance(100);
	expect((await retryDue()).claimed).toBe(0);
	stack.clock.advance(100);
	expect(await retryDue()).toMatchObject({ claimed: 1, resolved: 1 });
	expect((await dlqItem(dlqId)).status).toBe('resolved');
});

test('two processors draining one DLQ never deliver an item twice', async () => {
	const second = await startStack({
		databaseUrl: stack.databaseUrl,
		env: MECHANICS,
	});
	try {
		await stack.crm.fail(1_000_000, 503);
		const keys = Array.from({ length: 120 }, (_, index) => `pair-${index}`);
		for (let start = 0; start < keys.length; start += 30) {
			await Promise.all(keys.slice(start, start + 30).map((key) => post(validLead(), key)));
		}
		await stack.crm.fail(0);
		stack.clock.advance(60);
		second.clock.now = stack.clock.now;

		const drain = async (target: Stack) => {
			let claimed = 0;
			for (let batch = -1; batch !== 0; ) {
				const answer = await target.internal('POST', '/internal/dlq/retry-due', { limit: 7 });
				batch = (answer.body as { claimed: number }).claimed;
				claimed += batch;
			}
			return claimed;
		};
		const [byFirst, bySecond] = await Promise.all([drain(stack), drain(second)]);

		expect(byFirst + bySecond).toBe(120);
		expect(byFirst).toBeGreaterThan(0);
		expect(bySecond).toBeGreaterThan(0);
		const upserts = new Map<string, number>();
		for (const lead of [...(await stack.crm.leads()), ...(await second.crm.leads())]) {
			upserts.set(lead.key, (upserts.get(lead.key) ?? 0) + lead.upserts);
		}
		expect(keys.map((key) => upserts.get(key))).toEqual(keys.map(() => 1));
	} finally {
		await second.close();
	}
});

test("one item whose outcome cannot be recorded is that item's: the pass settles the others and answers 200", async () => {
	const kept = await failedLead('settle-ok');
	const refused = await failedLead('settle-refused');
	await stack.sql.unsafe(`
		CREATE FUNCTION refuse_settle() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'this item cannot be settled now'; END $$;
		CREATE TRIGGER refuse_settle BEFORE UPDATE ON dlq FOR EACH ROW
			WHEN (NEW.dlq_id = ${refused.dlqId} AND NEW.status = 'resolved')
			EXECUTE FUNCTION refuse_settle();`);
	try {
		stack.clock.advance(30);
		expect(await retryDue()).toMatchObject({ claimed: 2, resolved: 1 });
		expect(await dlqItem(kept.dlqId)).toMatchObject({ status: 'resolved' });
		expect(await dlqItem(refused.dlqId)).toMatchObject({ status: 'retrying' });
	} finally {
		await stack.sql.unsafe('DROP TRIGGER refuse_settle ON dlq; DROP FUNCTION refuse_settle();');
	}
	// once its claim runs out it is tried again, and settles
	const [claim] = await stack.sql<{ locked_until: Date }[]>`
		SELECT locked_until FROM dlq WHERE dlq_id = ${refused.dlqId}`;
	stack.clock.advance(
		Math.ceil((claim!.locked_until.getTime() - stack.clock.now.getTime()) / 1000),
	);
	expect(await retryDue()).toMatchObject({ claimed: 1, resolved: 1 });
	expect(await dlqItem(refused.dlqId)).toMatchObject({ status: 'resolved' });
	expect(stack.logs.some((line) => line.includes('could not be settled'))).toBe(true);
});

test('an item whose claim would run out during its CRM call is not sent: it is due again at once, no retry used', async () => {
	// one call at a time, so the second item's turn comes after the first one's slow call
	const own = await startStack({ env: { ...MECHANICS, DLQ_RETRY_CONCURRENCY: '1' } });
	try {
		const failed = async (key: string) => {
			await own.crm.fail(1, 503);
			const answer = await postLead(own.url, validLead({ email: `${key}@example.com` }), {
				key,
				timestamp: String(Math.floor(own.clock.now.getTime() / 1000)),
			});
			expect(answer.status).toBe(500);
			return answer.body.dlq_id as number;
		};
		const first = await failed('lease-first');
		const second = await failed('lease-second');
		own.clock.advance(30);
		await fetch(`${own.crm.url}/admin/faults`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ fail_next: 0, slow_next: 1, latency_ms: 700, key: 'lease-first' }),
		});
		const pass = own.internal('POST', '/internal/dlq/retry-due', {});
		await waitFor(
			() => own.sql`SELECT 1 FROM dlq WHERE dlq_id = ${second} AND status = 'retrying'`,
			{ what: 'both items claimed', until: (rows) => rows.length === 1, intervalMs: 10 },
		);
		// while the first call is under way (700 ms, within CRM_TIMEOUT_MS), the claim's lease runs
		// out: a database that stalled
		own.clock.advance(3600);
		expect((await pass).status).toBe(200);
		const leads = new Set((await own.crm.leads()).map((lead) => lead.key));
		expect(leads.has('lease-second')).toBe(false);
		const [item] = await own.sql<{ status: string; retry_count: number; due: boolean }[]>`
			SELECT status, retry_count, next_retry_at <= ${own.clock.now} AS due FROM dlq WHERE dlq_id = ${second}`;
		expect(item).toEqual({ status: 'open', retry_count: 0, due: true });
		// the next pass sends what is left, once each
		await own.internal('POST', '/internal/dlq/retry-due', {});
		const delivered = (await own.crm.leads()).filter((lead) => lead.key.startsWith('lease-'));
		expect(delivered.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
			expect.objectContaining({ key: 'lease-first', upserts: 1 }),
			expect.objectContaining({ key: 'lease-second', upserts: 1 }),
		]);
		const [settled] = await own.sql<{ n: number }[]>`
			SELECT count(*)::int AS n FROM dlq WHERE dlq_id IN (${first}, ${second}) AND status = 'resolved'`;
		expect(settled!.n).toBe(2);
	} finally {
		await own.close();
	}
}, 30_000);

test('a recovery held up by one run does not stop the retries that are due', async () => {
	const own = await startStack({
		duplicates: 'shipped',
		env: {
			...MECHANICS,
			// a lead with this key is stored unchecked, and its request is held (a crash test's pause)
			TEST_PAUSE_BEFORE_SAME_PERSON_KEY_PREFIX: 'held-',
			DB_QUERY_TIMEOUT_MS: '500',
			DLQ_RETRY_INTERVAL_SECONDS: '0',
		},
	});
	const held = new AbortController();
	const locker = await own.sql.reserve();
	try {
		const at = () => String(Math.floor(own.clock.now.getTime() / 1000));
		await own.crm.fail(1, 503);
		const failed = await postLead(own.url, validLead({ email: 'due-one@example.com' }), {
			key: 'due-one',
			timestamp: at(),
		});
		expect(failed.status).toBe(500);
		// answered never: the request is held until the test lets go of it
		const raw = JSON.stringify(validLead({ email: 'held-one@example.com' }));
		void fetch(`${own.url}/webhook/lead`, {
			method: 'POST',
			headers: {
				'content-type': 'application/json',
				...signatureHeaders(raw, { key: 'held-one', timestamp: at() }),
			},
			body: raw,
			signal: held.signal,
		}).catch(() => undefined);
		await waitFor(() => own.sql`SELECT 1 FROM runs WHERE idempotency_key = 'held-one'`, {
			what: 'the held lead stored',
			until: (rows) => rows.length === 1,
		});
		// the recovery must check the held run before it hands it on; the test holds the run, so
		// the check runs out of time
		await locker`BEGIN`;
		await locker`SELECT 1 FROM runs WHERE idempotency_key = 'held-one' FOR UPDATE`;
		own.clock.advance(3600);
		const pass = await own.internal('POST', '/internal/dlq/retry-due', {});
		expect(pass.status).toBe(200);
		expect(pass.body).toMatchObject({ claimed: 1, resolved: 1, recovered: 0 });
		expect(own.logs.some((line) => line.includes('could not be recovered in this pass'))).toBe(
			true,
		);
		await locker`ROLLBACK`;
		// a later pass recovers it (the check that ran out of time may still hold it a moment)
		await waitFor(
			async () => {
				await own.internal('POST', '/internal/dlq/retry-due', {});
				const [run] = await own.sql<{ status: string }[]>`
					SELECT status FROM runs WHERE idempotency_key = 'held-one'`;
				return run!.status;
			},
			{ what: 'the held run recovered', until: (status) => status !== 'accepted' },
		);
	} finally {
		locker.release();
		held.abort();
		await own.close();
	}
}, 30_000);
