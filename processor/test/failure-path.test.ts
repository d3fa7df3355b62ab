import { postLead, startStack, validLead, type Stack } from './support/harness.js';

let stack: Stack;
beforeAll(async () => {
	stack = await startStack({ env: { CRM_TIMEOUT_MS: '300' } });
});
afterAll(() => stack.close());
afterEach(() => stack.crm.reset());

async function dlqOf(runId: string) {
	return stack.sql`SELECT dlq_id, reason, status, retry_count, next_retry_at, payload, alert FROM dlq WHERE run_id = ${runId}`;
}

async function timeline(runId: string) {
	return (
		await stack.sql`SELECT event_type FROM audit_events WHERE run_id = ${runId} ORDER BY event_id`
	).map((row) => row.event_type);
}

function expectFailedAnswer(
	answer: { status: number; body: Record<string, unknown> },
	reason: string,
) {
	expect(answer.status).toBe(500);
	expect(answer.body).toMatchObject({
		detail: 'Processing failed; written to DLQ',
		run_id: expect.any(String),
		dlq_id: expect.any(Number),
		reason,
	});
}

test('X-Fail-After-Accept: DLQ entry (open, scheduled per backoff), run failed, nothing sent', async () => {
	const answer = await postLead(stack.url, validLead(), {
		headers: { 'x-fail-after-accept': '1' },
	});

	expectFailedAnswer(answer, 'forced_failure_after_accept');
	const runId = answer.body.run_id as string;
	const [entry] = await dlqOf(runId);
	expect(entry).toMatchObject({
		dlq_id: String(answer.body.dlq_id),
		status: 'open',
		retry_count: 0,
		alert: false,
	});
	const delaySeconds = (entry!.next_retry_at.getTime() - stack.clock.now.getTime()) / 1000;
	expect(delaySeconds).toBeGreaterThanOrEqual(27);
	expect(delaySeconds).toBeLessThanOrEqual(33);
	expect(entry!.payload).toMatchObject({
		body: { email: 'j***@example.com', address: { zip: '66123', street: '***' } },
		headers: { 'x-fail-after-accept': '1' },
	});
	expect(entry!.payload.headers).not.toHaveProperty('x-signature');
	const [run] = await stack.sql`SELECT status, error_code FROM runs WHERE run_id = ${runId}`;
	expect(run).toEqual({ status: 'failed', error_code: 'forced_failure_after_accept' });
	expect(await timeline(runId)).toEqual(['lead_received', 'dlq_created']);
	expect(await stack.sql`SELECT 1 FROM delivery_attempts WHERE run_id = ${runId}`).toHaveLength(0);
	expect(
		await stack.sql`SELECT 1 FROM runs WHERE run_id = ${runId} AND sealed_lead IS NOT NULL`,
	).toHaveLength(1);
	expect(await stack.crm.leads()).toEqual([]);
});

test('X-Fail-After-Accept is ignored unless fault injection is on', async () => {
	const production = await startStack({ env: { FAULT_INJECTION: 'off' } });
	try {
		const answer = await postLead(production.url, validLead(), {
			headers: { 'x-fail-after-accept': '1' },
		});
		expect(answer.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
	} finally {
		await production.close();
	}
});

test('CRM 503: attempt recorded, DLQ entry open, retryable', async () => {
	await stack.crm.fail(1, 503);
	const answer = await postLead(stack.url, validLead());

	expectFailedAnswer(answer, 'crm_http_503');
	const runId = answer.body.run_id as string;
	expect(await dlqOf(runId)).toEqual([
		expect.objectContaining({ status: 'open', reason: 'crm_http_503' }),
	]);
	expect(await timeline(runId)).toEqual(['lead_received', 'delivery_failed', 'dlq_created']);
	const attempts =
		await stack.sql`SELECT attempt_no, status_code, success, error FROM delivery_attempts WHERE run_id = ${runId}`;
	expect(attempts).toEqual([
		{ attempt_no: 1, status_code: 503, success: false, error: 'CRM answered HTTP 503' },
	]);
	const [created] = await stack.sql`
		SELECT payload FROM audit_events WHERE run_id = ${runId} AND event_type = 'dlq_created'`;
	expect(created!.payload).toMatchObject({
		dlq_id: answer.body.dlq_id,
		reason: 'crm_http_503',
		status: 'open',
	});
});

test('CRM timeout: the request is abandoned after CRM_TIMEOUT_MS and queued for retry', async () => {
	await stack.crm.fail(1, 503, 3000);
	const started = Date.now();
	const answer = await postLead(stack.url, validLead());

	expect(Date.now() - started).toBeLessThan(2500);
	expectFailedAnswer(answer, 'crm_timeout');
	expect(await dlqOf(answer.body.run_id as string)).toEqual([
		expect.objectContaining({ status: 'open' }),
	]);
	const [attempt] =
		await stack.sql`SELECT status_code, error FROM delivery_attempts WHERE run_id = ${answer.body.run_id as string}`;
	expect(attempt).toEqual({ status_code: null, error: 'CRM did not answer within 300 ms' });
});

test('CRM 400: not retryable, the DLQ entry is dead at once and alerts', async () => {
	await stack.crm.fail(1, 400);
	const answer = await postLead(stack.url, validLead());

	expectFailedAnswer(answer, 'crm_http_400');
	expect(answer.body.dlq_status).toBe('dead');
	const runId = answer.body.run_id as string;
	expect(await dlqOf(runId)).toEqual([
		expect.objectContaining({
			status: 'dead',
			next_retry_at: null,
			alert: true,
			reason: 'crm_http_400',
		}),
	]);
	expect(await timeline(runId)).toEqual([
		'lead_received',
		'delivery_failed',
		'dlq_created',
		'dlq_dead',
	]);
});

test.each([401, 403, 404, 301])(
	"CRM %i: the processor's token or address, not the lead: retryable, so the circuit breaker pauses the calls instead of every lead going dead",
	async (status) => {
		await stack.crm.fail(1, status);
		const answer = await postLead(stack.url, validLead());
		expectFailedAnswer(answer, `crm_http_${status}`);
		expect(answer.body.dlq_status).toBe('open');
		expect(await dlqOf(answer.body.run_id as string)).toEqual([
			expect.objectContaining({ status: 'open', alert: false }),
		]);
	},
);

test('a CRM answering every call well inside CRM_TIMEOUT_MS is not timed out while calls wait for a connection', async () => {
	// DB_POOL_SIZE 2 gave the CRM client 4 connections, shared with the background work: the
	// fifth of 16 calls at once waited for one, and its wait counted against its timeout
	const small = await startStack({ env: { DB_POOL_SIZE: '2', CRM_TIMEOUT_MS: '1000' } });
	try {
		await fetch(`${small.crm.url}/admin/faults`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ fail_next: 0, latency_ms: 400, slow_next: 1000 }),
		});
		const answers = await Promise.all(
			Array.from({ length: 16 }, (_, index) =>
				postLead(small.url, validLead({ email: `pool.${index}@example.com` })),
			),
		);
		expect(answers.map((answer) => answer.status)).toEqual(Array(16).fill(200));
	} finally {
		await small.close();
	}
});

test('CRM unreachable: network error, retryable', async () => {
	const unreachable = await startStack({
		env: { CRM_URL: 'http://127.0.0.1:9/leads/upsert' },
	});
	try {
		const answer = await postLead(unreachable.url, validLead());
		expectFailedAnswer(answer, 'crm_network_error');
		expect(answer.body.dlq_status).toBe('open');
	} finally {
		await unreachable.close();
	}
});

test('a duplicate of a failed lead reports the failure and does not resend', async () => {
	await stack.crm.fail(1, 503);
	const first = await postLead(stack.url, validLead(), { key: 'failed-then-repeated' });
	const again = await postLead(stack.url, validLead(), { key: 'failed-then-repeated' });
	expect(again.body).toEqual({
		status: 'duplicate',
		run_id: first.body.run_id,
		existing_status: 'failed',
	});
	expect(await stack.crm.leads()).toEqual([]);
});
