import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { postLead, startStack, validLead, type Stack } from './support/harness.js';

/*
 * Every lead ends in a final state, whatever fails: lost database writes, a poisoned row in a
 * group commit, CRM outages of an hour, repeated replays. The processor's clock is moved
 * instead of waiting (real processes and kill -9: crash-recovery.test.ts).
 */

/** Signed by the processor's clock, which these tests move ahead. */
function post(stack: Stack, key: string, overrides: Record<string, unknown> = {}, source?: string) {
	return postLead(stack.url, validLead({ email: `${key}@example.com`, ...overrides }), {
		key,
		timestamp: String(Math.floor(stack.clock.now.getTime() / 1000)),
		headers: source ? { 'x-source': source } : {},
	});
}

async function retryDue(stack: Stack) {
	const answer = await stack.internal('POST', '/internal/dlq/retry-due', {});
	expect(answer.status).toBe(200);
	return answer.body as {
		claimed: number;
		resolved: number;
		retried: number;
		dead: number;
		recovered: number;
		circuit: { state: string; until: string | null };
	};
}

async function dlqCounts(stack: Stack, keys: string[]) {
	const rows = await stack.sql<{ status: string; n: number }[]>`
		SELECT d.status, count(*)::int AS n FROM dlq d JOIN runs r USING (run_id)
		WHERE r.idempotency_key = ANY(${keys}) GROUP BY d.status`;
	return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

async function crmRecords(stack: Stack, keys: string[]) {
	return (await stack.crm.leads()).filter((lead) => keys.includes(lead.key));
}

const keysOf = (prefix: string, count: number) =>
	Array.from({ length: count }, (_, index) => `${prefix}-${index}`);

describe('a run whose processed write is lost', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack();
		// the intake's own accepted -> processed write fails for these keys (a retry's is allowed)
		await stack.sql.unsafe(`
			CREATE FUNCTION lose_intake_write() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF OLD.status = 'accepted' AND NEW.status = 'processed' AND NEW.idempotency_key LIKE 'lost-write%' THEN
					RAISE EXCEPTION 'the processed write is lost';
				END IF;
				RETURN NEW;
			END $$;
			CREATE TRIGGER lose_intake_write BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION lose_intake_write();`);
	});
	afterAll(() => stack.close());

	test('is never answered "duplicate" while in flight, is recovered after its lease and ends processed in one CRM record', async () => {
		const first = await post(stack, 'lost-write-1');
		// the CRM has it, so the client hears accepted, but not that the run is done
		expect(first.status).toBe(200);
		expect(first.body).toMatchObject({ status: 'accepted', run_status: 'accepted' });
		const runId = first.body.run_id as string;

		const repeat = await post(stack, 'lost-write-1');
		expect(repeat.status).toBe(409);
		expect(repeat.body).toMatchObject({ code: 'request_in_progress', run_id: runId });
		expect(Number(repeat.headers.get('retry-after'))).toBeGreaterThan(0);
		expect(await retryDue(stack)).toMatchObject({ recovered: 0, claimed: 0 });

		// the lease outlasts the insert, a CRM call and its processed write: 1 s + 4 × 1.5 s, 7 s here
		stack.clock.advance(8);
		expect(await retryDue(stack)).toMatchObject({ recovered: 1, claimed: 1, resolved: 1 });

		const [run] = await stack.sql`SELECT status, sealed_lead FROM runs WHERE run_id = ${runId}`;
		expect(run).toEqual({ status: 'processed', sealed_lead: null });
		const events = await stack.sql`
			SELECT event_type, actor FROM audit_events WHERE run_id = ${runId} ORDER BY event_id`;
		expect(events.map((event) => `${event.event_type}/${event.actor}`)).toEqual([
			'lead_received/webhook',
			'run_recovered/system',
			'dlq_created/system',
			'crm_upserted/processor',
			'dlq_resolved/processor',
		]);
		// delivered again with the same key: the CRM updated its one record
		expect(await crmRecords(stack, ['lost-write-1'])).toEqual([
			expect.objectContaining({ key: 'lost-write-1', upserts: 2 }),
		]);
		const again = await post(stack, 'lost-write-1');
		expect(again.body).toEqual({
			status: 'duplicate',
			run_id: runId,
			existing_status: 'processed',
		});
	});
});

describe('one poisoned lead inside a busy group commit', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack({ env: { DB_WRITE_BATCH: '64', DB_WRITE_CONCURRENCY: '1' } });
		await stack.sql.unsafe(`
			CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.idempotency_key = 'poison' THEN RAISE EXCEPTION 'this row cannot be written'; END IF;
				RETURN NEW;
			END $$;
			CREATE TRIGGER refuse_poison BEFORE INSERT ON runs FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
	});
	afterAll(() => stack.close());

	test('fails that lead alone, visibly; every other lead of the batch is delivered and recorded', async () => {
		const keys = keysOf('busy', 40);
		const all = [...keys.slice(0, 20), 'poison', ...keys.slice(20)];
		const answers = await Promise.all(all.map((key) => post(stack, key)));

		const poisoned = answers[20]!;
		expect(poisoned.status).toBe(500);
		expect(poisoned.body).toMatchObject({
			code: 'internal_error',
			correlation_id: expect.any(String),
		});
		const others = answers.filter((_, index) => index !== 20);
		expect(others.map((answer) => answer.body.status)).toEqual(keys.map(() => 'accepted'));

		const runs = await stack.sql`SELECT status FROM runs WHERE idempotency_key = ANY(${all})`;
		expect(runs).toHaveLength(40);
		expect(runs.every((run) => run.status === 'processed')).toBe(true);
		expect((await crmRecords(stack, keys)).map((lead) => lead.upserts)).toEqual(keys.map(() => 1));
		const logged = stack.logs
			.map(
				(line) =>
					JSON.parse(line) as { level: number; correlation_id?: string; err?: { message: string } },
			)
			.find((line) => line.correlation_id === poisoned.body.correlation_id);
		expect(logged).toMatchObject({ level: 50, err: { message: 'this row cannot be written' } });
	});
});

describe('a CRM outage of one hour, default settings', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack({ env: { CRM_TIMEOUT_MS: '5000' } });
	});
	afterAll(() => stack.close());

	test('kills no lead; calls are paused, not hammered; every lead reaches the CRM once after', async () => {
		await stack.crm.fail(1_000_000, 503);
		const keys = keysOf('outage', 30);
		for (const key of keys) expect((await post(stack, key)).status).toBe(500);
		// the circuit opened after 5 failures: the other leads went to the DLQ without a call
		expect(await stack.crm.calls()).toBe(5);
		expect(await dlqCounts(stack, keys)).toEqual({ open: 30 });

		// the DLQ workflow calls retry-due every minute for the hour
		for (let minute = 1; minute <= 60; minute++) {
			stack.clock.advance(60);
			const summary = await retryDue(stack);
			expect(summary.dead).toBe(0);
			expect(summary.claimed).toBeLessThanOrEqual(1); // one probe at most
		}
		expect(await dlqCounts(stack, keys)).toEqual({ open: 30 });
		expect(await stack.crm.calls()).toBeLessThanOrEqual(5 + 60);

		await stack.crm.fail(0);
		for (let round = 0; round < 100; round++) {
			const counts = await dlqCounts(stack, keys);
			if (!counts.open && !counts.retrying) break;
			stack.clock.advance(600);
			await retryDue(stack);
		}
		expect(await dlqCounts(stack, keys)).toEqual({ resolved: 30 });
		expect((await crmRecords(stack, keys)).map((lead) => lead.upserts)).toEqual(keys.map(() => 1));
		const runs = await stack.sql`SELECT status FROM runs WHERE idempotency_key = ANY(${keys})`;
		expect(runs.every((run) => run.status === 'processed')).toBe(true);
	});
});

describe('the circuit breaker and Retry-After', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack({ env: { DLQ_JITTER_RATIO: '0' } });
	});
	afterAll(() => stack.close());

	test('a 503 with Retry-After pauses calls that long and schedules no retry before it; a probe resumes them', async () => {
		await stack.crm.fail(1, 503, 0, 600);
		const first = await post(stack, 'retry-after-1');
		expect(first.body).toMatchObject({ reason: 'crm_http_503' });
		const [item] =
			await stack.sql`SELECT next_retry_at FROM dlq WHERE dlq_id = ${first.body.dlq_id as number}`;
		expect((item!.next_retry_at as Date).getTime()).toBe(stack.clock.now.getTime() + 600_000);

		const calls = await stack.crm.calls();
		const paused = await post(stack, 'retry-after-2');
		expect(paused.body).toMatchObject({
			status: 'failed',
			reason: 'crm_unavailable',
			dlq_status: 'open',
		});
		expect(await stack.crm.calls()).toBe(calls);
		expect(await retryDue(stack)).toMatchObject({ claimed: 0, circuit: { state: 'open' } });

		stack.clock.advance(600);
		// the probe succeeds, and the rest follow in the same call
		expect(await retryDue(stack)).toMatchObject({
			claimed: 2,
			resolved: 2,
			circuit: { state: 'closed' },
		});
		expect((await post(stack, 'retry-after-3')).body).toMatchObject({ status: 'accepted' });
	});

	test('after 5 consecutive failures calls pause for the cool-down, then one probe goes first', async () => {
		await stack.crm.fail(6, 503);
		for (let i = 0; i < 5; i++) {
			expect((await post(stack, `breaker-${i}`)).body).toMatchObject({ reason: 'crm_http_503' });
		}
		const calls = await stack.crm.calls();
		expect((await post(stack, 'breaker-5')).body).toMatchObject({ reason: 'crm_unavailable' });
		expect(await stack.crm.calls()).toBe(calls);

		stack.clock.advance(30);
		// one fault is left: the probe fails and the circuit opens again, no other item touched
		expect(await retryDue(stack)).toMatchObject({
			claimed: 1,
			retried: 1,
			circuit: { state: 'open' },
		});
		stack.clock.advance(30);
		// the probe succeeds: the rest follow in the same call (the probed item waits its next step)
		expect(await retryDue(stack)).toMatchObject({
			claimed: 5,
			resolved: 5,
			circuit: { state: 'closed' },
		});
		stack.clock.advance(120);
		expect(await retryDue(stack)).toMatchObject({ claimed: 1, resolved: 1 });
		expect(await dlqCounts(stack, keysOf('breaker', 6))).toEqual({ resolved: 6 });
	});

	test('4xx other than 408, 409, 425 and 429 are not retried; those four are', async () => {
		for (const [status, dlqStatus] of [
			[400, 'dead'],
			[422, 'dead'],
			[408, 'open'],
			[409, 'open'],
			[425, 'open'],
			[429, 'open'],
		] as const) {
			await stack.crm.fail(1, status);
			const answer = await post(stack, `status-${status}`);
			expect({ status, dlq_status: answer.body.dlq_status }).toEqual({
				status,
				dlq_status: dlqStatus,
			});
		}
	});
});

describe('bulk replay', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack({ env: { CRM_BREAKER_FAILURES: '1000' } });
	});
	afterAll(() => stack.close());

	test('dry run counts; two replays at once deliver each item once; the filter holds', async () => {
		const bad = keysOf('replay-bad', 12);
		const other = keysOf('replay-other', 3);
		await stack.crm.fail(12, 400);
		for (const key of bad)
			expect((await post(stack, key, {}, 'landing-page')).body).toMatchObject({
				dlq_status: 'dead',
			});
		await stack.crm.fail(3, 422);
		for (const key of other)
			expect((await post(stack, key, {}, 'partner')).body).toMatchObject({ dlq_status: 'dead' });

		const dry = await stack.internal('POST', '/internal/dlq/replay', {
			reason: 'crm_http_400',
			dry_run: true,
		});
		expect(dry.body).toEqual({ dry_run: true, matched: 12 });
		const bySource = await stack.internal('POST', '/internal/dlq/replay', {
			source: 'partner',
			dry_run: true,
		});
		expect(bySource.body).toEqual({ dry_run: true, matched: 3 });
		const future = new Date(stack.clock.now.getTime() + 3600_000).toISOString();
		const none = await stack.internal('POST', '/internal/dlq/replay', {
			from: future,
			dry_run: true,
		});
		expect(none.body).toEqual({ dry_run: true, matched: 0 });

		const [one, two] = await Promise.all([
			stack.internal('POST', '/internal/dlq/replay', { reason: 'crm_http_400', limit: 100 }),
			stack.internal('POST', '/internal/dlq/replay', { reason: 'crm_http_400', limit: 100 }),
		]);
		const resolved = (one.body.resolved as number) + (two.body.resolved as number);
		expect(resolved).toBe(12);
		expect((await crmRecords(stack, bad)).map((lead) => lead.upserts)).toEqual(bad.map(() => 1));
		expect(await dlqCounts(stack, bad)).toEqual({ resolved: 12 });
		expect(await dlqCounts(stack, other)).toEqual({ dead: 3 });
		const again = await stack.internal('POST', '/internal/dlq/replay', { reason: 'crm_http_400' });
		expect(again.body).toMatchObject({ dry_run: false, matched: 0, claimed: 0 });

		const invalid = await stack.internal('POST', '/internal/dlq/replay', { status: ['resolved'] });
		expect(invalid.status).toBe(400);
	});
});

describe('the ledger', () => {
	let stack: Stack;
	beforeAll(async () => {
		stack = await startStack({ env: { CRM_BREAKER_FAILURES: '1000' } });
	});
	afterAll(() => stack.close());

	const ledger = async () => {
		const from = new Date(stack.clock.now.getTime() - 3600_000).toISOString();
		const to = new Date(stack.clock.now.getTime() + 60_000).toISOString();
		const answer = await stack.internal('GET', `/internal/stats/ledger?from=${from}&to=${to}`);
		expect(answer.status).toBe(200);
		return answer.body;
	};

	test('balances after a mixed load, says so when a run is stuck, and balances again after recovery', async () => {
		for (const key of keysOf('ledger-ok', 3)) await post(stack, key);
		await post(stack, 'ledger-ok-0'); // a duplicate
		await post(stack, 'ledger-rejected', { address: { zip: '10115' } });
		await stack.crm.fail(2, 503);
		for (const key of keysOf('ledger-waiting', 2)) await post(stack, key);
		await stack.crm.fail(2, 400);
		const dead = await post(stack, 'ledger-dead');
		const closed = await post(stack, 'ledger-closed');
		await stack.internal('POST', `/internal/dlq/${closed.body.dlq_id as number}/resolve`, {
			note: 'entered by hand',
		});
		// an accepted run whose processor died 10 minutes ago, and one in flight right now
		await stack.crm.fail(0);
		await post(stack, 'ledger-stuck');
		await post(stack, 'ledger-in-flight');
		await stack.sql`UPDATE runs SET status = 'accepted', crm_id = NULL, received_at = received_at - interval '10 minutes'
			WHERE idempotency_key = 'ledger-stuck'`;
		await stack.sql`UPDATE runs SET status = 'accepted', crm_id = NULL WHERE idempotency_key = 'ledger-in-flight'`;

		expect(await ledger()).toMatchObject({
			received: 10,
			processed: 3,
			rejected: 1,
			waiting: 2,
			dead: 1,
			resolved_manually: 1,
			in_flight: 1,
			stuck: 1,
			unaccounted: 0,
			duplicates: 1,
			balanced: false,
		});
		expect(dead.body).toMatchObject({ dlq_status: 'dead' });

		// the daily report says so in its first line, and the KPI job logs an error
		const day = stack.clock.now.toISOString().slice(0, 10);
		const kpi = await stack.internal('POST', '/internal/kpi/compute-daily', { date: day });
		expect(kpi.status).toBe(200);
		const report = await readFile(join(stack.alertsDir, `kpi_${day}.md`), 'utf8');
		expect(report.split('\n')[0]).toMatch(
			/^\*\*The ledger does NOT balance for .*: 1 of 10 leads is not accounted for/,
		);
		expect(stack.logs.some((line) => line.includes('the ledger does not balance'))).toBe(true);

		expect(await retryDue(stack)).toMatchObject({ recovered: 1 });
		const after = await ledger();
		expect(after).toMatchObject({ received: 10, stuck: 0, balanced: true });
		const sum = ['processed', 'rejected', 'waiting', 'dead', 'resolved_manually', 'in_flight']
			.map((name) => after[name] as number)
			.reduce((total, count) => total + count, 0);
		expect(sum).toBe(10);
	});
});
