import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { postLead, startStack, validLead, type Stack } from './support/harness.js';

/** KPI compute (issue: reliable delivery): rows equal SQL over runs; the report files hold them. */
let stack: Stack;
const today = () => new Date().toISOString().slice(0, 10);

beforeAll(async () => {
	stack = await startStack();
	await postLead(stack.url, validLead(), { key: 'kpi-1' });
	await postLead(stack.url, validLead(), { key: 'kpi-1' });
	await postLead(stack.url, validLead(), { key: 'kpi-2' });
	await postLead(stack.url, validLead({ address: { zip: '10115' } }), { key: 'kpi-3' });
	await stack.crm.fail(1, 503);
	await postLead(stack.url, validLead(), { key: 'kpi-4' });
});
afterAll(() => stack.close());

/** The kpi_computed events so far, oldest first (other tests of this file compute days too). */
const kpiComputed = () =>
	stack.sql`SELECT actor, payload FROM audit_events WHERE event_type = 'kpi_computed' ORDER BY event_id`;

test('compute-daily recomputes the day from runs, idempotently, and audits kpi_computed', async () => {
	const auditedBefore = (await kpiComputed()).length;
	const first = await stack.internal('POST', '/internal/kpi/compute-daily', { date: today() });
	expect(first.status).toBe(200);
	const [expected] = await stack.sql`
		SELECT count(*)::int AS received,
			count(*) FILTER (WHERE status = 'processed')::int AS processed,
			count(*) FILTER (WHERE status = 'rejected')::int AS rejected,
			count(*) FILTER (WHERE status = 'failed')::int AS failed
		FROM runs WHERE (received_at AT TIME ZONE 'UTC')::date = ${today()}::date`;
	expect(first.body.row).toMatchObject({
		day: today(),
		received_count: expected!.received,
		processed_count: expected!.processed,
		rejected_count: expected!.rejected,
		failed_count: expected!.failed,
		duplicate_count: 1,
		same_person_count: 0,
		dlq_open_count: 1,
	});
	expect(expected).toEqual({ received: 4, processed: 2, rejected: 1, failed: 1 });
	expect((first.body.row as { avg_processing_ms: number }).avg_processing_ms).toBeGreaterThan(0);

	await stack.internal('POST', '/internal/kpi/compute-daily', { date: today() });
	// the day and the 13 before it (the report's trend), each once
	const trend = await stack.sql`
		SELECT day FROM kpi_daily WHERE day BETWEEN ${today()}::date - 13 AND ${today()}::date`;
	expect(trend).toHaveLength(14);
	const audited = await kpiComputed();
	expect(audited).toHaveLength(auditedBefore + 2);
	expect(audited.at(-2)).toMatchObject({ actor: 'system', payload: { day: today(), received: 4 } });

	const read = await stack.internal('GET', `/internal/kpi?from=${today()}&to=${today()}`);
	expect(read.body.rows).toEqual([expect.objectContaining({ day: today(), received_count: 4 })]);
	expect(
		(await stack.internal('POST', '/internal/kpi/compute-daily', { date: '2026-13-01' })).status,
	).toBe(400);
});

test('the report files for the day exist and carry the numbers', async () => {
	const answer = await stack.internal('POST', '/internal/kpi/compute-daily', { date: today() });
	expect(answer.body.report_files).toEqual([
		`kpi_${today()}.md`,
		`kpi_${today()}.csv`,
		`kpi_${today()}.html`,
	]);
	const report = await readFile(join(stack.alertsDir, `kpi_${today()}.md`), 'utf8');
	expect(report).toContain(
		'4 leads arrived; 2 reached the CRM, 1 was refused by the rules and 1 is not delivered yet.',
	);
	expect(report).toContain('| delivered to the CRM (processed) | 2 | 50.0 % |');
	expect(report).toContain('| crm_http_503 | 1 | 0 |');
	expect(report.split('\n')[0]).toBe(
		`**Every lead received on ${today()} is accounted for: 4 received = 2 delivered + 1 rejected + 0 the same person again + 1 waiting for a retry + 0 dead + 0 resolved by hand + 0 queued + 0 in flight (the same request again, counted apart: 1).**`,
	);
	const csv = await readFile(join(stack.alertsDir, `kpi_${today()}.csv`), 'utf8');
	expect(csv.split('\n')[0]).toBe(
		'day,received,processed,rejected,failed,duplicates,same_person,dlq_open,avg_processing_ms,p50_processing_ms,p95_processing_ms',
	);
	expect(csv).toContain(`${today()},4,2,1,1,1,0,1,`);
});

test('a failed lead resolved by hand is no longer counted as not delivered yet', async () => {
	const [item] = await stack.sql<{ dlq_id: number }[]>`
		SELECT d.dlq_id::int AS dlq_id FROM dlq d JOIN runs r USING (run_id)
		WHERE r.idempotency_key = 'kpi-4'`;
	const resolved = await stack.internal('POST', `/internal/dlq/${item!.dlq_id}/resolve`, {
		note: 'entered in the CRM by hand',
	});
	expect(resolved.body).toMatchObject({ status: 'resolved' });
	const answer = await stack.internal('POST', '/internal/kpi/compute-daily', { date: today() });
	// the run stays `failed`; the ledger counts it resolved by hand, and so does the day
	expect(answer.body.row).toMatchObject({ received_count: 4, failed_count: 0, dlq_open_count: 0 });
	const report = await readFile(join(stack.alertsDir, `kpi_${today()}.md`), 'utf8');
	expect(report).toContain(
		'4 leads arrived; 2 reached the CRM, 1 was refused by the rules and 0 are not delivered yet.',
	);
	expect(report.split('\n')[0]).toContain('1 resolved by hand');
});

test('erasing the person afterwards leaves the day as it was', async () => {
	const counts = async () => {
		const answer = await stack.internal('POST', '/internal/kpi/compute-daily', { date: today() });
		const { computed_at: _computed, ...row } = answer.body.row as Record<string, unknown>;
		return row;
	};
	const before = await counts();
	// every lead of this file is the same person, the one resolved by hand among them
	const erased = await stack.internal('POST', '/internal/privacy/erase', {
		email: 'jane.doe@example.com',
	});
	expect(erased.status).toBe(200);
	expect(await counts()).toEqual(before);
	expect(before).toMatchObject({ received_count: 4, failed_count: 0 });
});

test('without a date it computes yesterday (UTC) by the processor clock', async () => {
	const answer = await stack.internal('POST', '/internal/kpi/compute-daily');
	const yesterday = new Date(stack.clock.now.getTime() - 86_400_000).toISOString().slice(0, 10);
	expect(answer.body.row).toMatchObject({ day: yesterday, received_count: 0 });
});
