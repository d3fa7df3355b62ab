import { randomUUID } from 'node:crypto';
import { createRunWriter, writeIntakeBatch, type Delivery, type NewRun } from '../src/db/runs.js';
import { postLead, startStack, validLead, type Stack } from './support/harness.js';

let stack: Stack;
beforeAll(async () => {
	stack = await startStack();
});
afterAll(() => stack.close());

test('50 concurrent requests with one key: exactly one run, one lead_received, one CRM upsert', async () => {
	const key = 'concurrent-key-1';
	const answers = await Promise.all(
		Array.from({ length: 50 }, () => postLead(stack.url, validLead(), { key })),
	);

	// one is accepted; a repeat is `duplicate` once that is done, and 409 (ask again) while it
	// is still being delivered: never a second run
	const runIds = new Set(answers.map((answer) => answer.body.run_id));
	expect(runIds.size).toBe(1);
	const outcomes = answers.map((answer) =>
		answer.status === 409 ? String(answer.body.code) : String(answer.body.status),
	);
	expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(1);
	expect(outcomes.filter((outcome) => outcome !== 'accepted').sort()).toEqual(
		outcomes
			.filter((outcome) => outcome === 'duplicate' || outcome === 'request_in_progress')
			.sort(),
	);
	expect(outcomes).toHaveLength(50);
	for (const answer of answers.filter((answer) => answer.status === 409)) {
		expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
	}

	expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = ${key}`).toHaveLength(1);
	const [received] = await stack.sql`
		SELECT count(*)::int AS n FROM audit_events a JOIN runs r USING (run_id)
		WHERE r.idempotency_key = ${key} AND a.event_type = 'lead_received'`;
	expect(received!.n).toBe(1);
	const crmLeads = (await stack.crm.leads()).filter((lead) => lead.key === key);
	expect(crmLeads).toEqual([expect.objectContaining({ upserts: 1 })]);
});

test('concurrent requests with different keys each get their own run', async () => {
	const answers = await Promise.all(
		Array.from({ length: 40 }, (_, i) =>
			postLead(stack.url, validLead(), { key: `parallel-${i}` }),
		),
	);
	expect(new Set(answers.map((answer) => answer.body.run_id)).size).toBe(40);
	expect(answers.every((answer) => answer.body.status === 'accepted')).toBe(true);
});

const newRun = (runId: string, key: string): NewRun => ({
	runId,
	idempotencyKey: key,
	fingerprint: 'f',
	source: 'test',
	correlationId: `corr-${key}`,
	emailHash: null,
	emailMasked: null,
	rejection: null,
	sealedLead: Buffer.from('sealed'),
	signatureGuard: null,
	rulesVersion: 1,
	receivedEvent: { source: 'test', email_hash: null, lead: {} },
});

test('one intake write opens new runs and marks delivered ones processed in the same statement', async () => {
	const [first, second, third] = [randomUUID(), randomUUID(), randomUUID()];
	expect(await writeIntakeBatch(stack.sql, [newRun(first, 'mixed-1')], [], 5000)).toEqual({
		created: new Set([first]),
		processed: new Set(),
	});

	const created = await writeIntakeBatch(
		stack.sql,
		[newRun(second, 'mixed-2'), newRun(third, 'mixed-1')],
		[
			{
				runId: first,
				correlationId: 'corr-mixed-1',
				trigger: 'intake',
				attempt: { durationMs: 3, statusCode: 200, success: true, error: null },
				crmId: 'crm-mixed',
				fromStatus: 'accepted',
				events: [
					{
						type: 'crm_upserted',
						actor: 'processor',
						payload: {
							crm_id: 'crm-mixed',
							status_code: 200,
							duration_ms: 3,
							trigger: 'intake',
							dropped_attributes: [],
						},
					},
				],
			},
		],
		5000,
	);

	// mixed-1 was taken; its first run was marked processed in the same statement
	expect(created).toEqual({ created: new Set([second]), processed: new Set([first]) });
	const runs = await stack.sql`
		SELECT r.run_id, r.status, r.crm_id, r.sealed_lead IS NULL AS purged,
			(SELECT array_agg(event_type ORDER BY event_id) FROM audit_events a WHERE a.run_id = r.run_id) AS events,
			(SELECT array_agg(attempt_no) FROM delivery_attempts d WHERE d.run_id = r.run_id) AS attempts
		FROM runs r WHERE r.idempotency_key IN ('mixed-1', 'mixed-2') ORDER BY r.idempotency_key`;
	expect(runs).toEqual([
		{
			run_id: first,
			status: 'processed',
			crm_id: 'crm-mixed',
			purged: true,
			events: ['lead_received', 'crm_upserted'],
			attempts: [1],
		},
		{
			run_id: second,
			status: 'accepted',
			crm_id: null,
			purged: false,
			events: ['lead_received'],
			attempts: null,
		},
	]);
});

test.each([
	['accepted', true],
	// the recovery took it meanwhile: the group's update does not match it, its attempt is still
	// recorded (the CRM did get the lead), and that insert must not wait for the row either
	['failed', false],
] as const)(
	'a run another statement holds (%s) does not hold up the processed writes grouped with it: only that run waits',
	async (heldStatus, heldProcessed) => {
		const [gate, held, free] = [randomUUID(), randomUUID(), randomUUID()];
		await writeIntakeBatch(
			stack.sql,
			[
				newRun(gate, `held-gate-${heldStatus}`),
				newRun(held, `held-1-${heldStatus}`),
				newRun(free, `held-2-${heldStatus}`),
			],
			[],
			5000,
		);
		await stack.sql`UPDATE runs SET status = ${heldStatus} WHERE run_id = ${held}`;
		const delivery = (runId: string): Delivery => ({
			runId,
			correlationId: `corr-${runId}`,
			trigger: 'intake',
			attempt: { durationMs: 3, statusCode: 200, success: true, error: null },
			crmId: `crm-${runId}`,
			fromStatus: 'accepted',
			events: [],
		});
		// another client's transactions hold the rows of two runs (an erasure, an operator's change)
		const holdRow = async (runId: string) => {
			const connection = await stack.sql.reserve();
			await connection`BEGIN`;
			await connection`SELECT 1 FROM runs WHERE run_id = ${runId} FOR UPDATE`;
			return async () => {
				await connection`COMMIT`;
				connection.release();
			};
		};
		const releaseGate = await holdRow(gate);
		const releaseHeld = await holdRow(held);

		// one write in flight at a time: the gate's goes alone and waits for its row, so the next two
		// queue behind it and go to the database as one group once it is written
		const writer = createRunWriter(stack.sql, { maxBatch: 10, maxInFlight: 1, deadlineMs: 5000 });
		const gateWritten = writer.processed(delivery(gate));
		let heldSettled = false;
		const heldWritten = writer.processed(delivery(held)).finally(() => (heldSettled = true));
		const freeWritten = writer.processed(delivery(free));
		await releaseGate();
		expect(await gateWritten).toBe(true);

		// the group does not wait for the held row: the free run is written while it is still held
		expect(await freeWritten).toBe(true);
		expect(heldSettled).toBe(false);
		await releaseHeld();
		expect(await heldWritten).toBe(heldProcessed);
		const statuses = await stack.sql`
		SELECT (SELECT status FROM runs WHERE run_id = ${gate}) AS gate,
			(SELECT status FROM runs WHERE run_id = ${held}) AS held,
			(SELECT status FROM runs WHERE run_id = ${free}) AS free,
			(SELECT count(*)::int FROM delivery_attempts WHERE run_id = ${held}) AS held_attempts`;
		expect(statuses[0]).toEqual({
			gate: 'processed',
			held: heldProcessed ? 'processed' : 'failed',
			free: 'processed',
			held_attempts: 1,
		});
	},
);
