import { startMockCrm, type CrmLead, type RunningServer } from '@lead-intake-hub/mocks';
import { waitFor } from '@lead-intake-hub/stack';
import { connect, type Sql } from '../src/db/connection.js';
import {
	postLead,
	testDatabase,
	TEST_SECRET,
	TEST_SERVICE_TOKEN,
	validLead,
} from './support/harness.js';
import { startProcessorProcess, type ProcessorProcess } from './support/processes.js';

/*
 * kill -9 of a real processor between the CRM call and the `processed` write (a test-only pause
 * point holds it there; the kill is real): after the lease the lead is delivered exactly once
 * more to the same CRM record and the run ends processed.
 */
let database: Awaited<ReturnType<typeof testDatabase>>;
let crm: RunningServer;
let sql: Sql;
const running: ProcessorProcess[] = [];

beforeAll(async () => {
	database = await testDatabase();
	crm = await startMockCrm({ token: 'crash-crm-token' });
	sql = connect(database.url, { maxConnections: 2 });
});
afterAll(async () => {
	for (const processor of running) await processor.kill('SIGKILL');
	await sql.end();
	await crm.close();
	await database.drop();
});

const env = (extra: Record<string, string> = {}) => ({
	DATABASE_URL: database.url,
	WEBHOOK_HMAC_SECRET: TEST_SECRET,
	EMAIL_HASH_SALT: 'crash-salt-0123',
	LEAD_ENCRYPTION_KEY: 'crash-lead-encryption-key-0123456789',
	SERVICE_TOKEN: TEST_SERVICE_TOKEN,
	CRM_URL: `${crm.url}/leads/upsert`,
	CRM_TOKEN: 'crash-crm-token',
	// the lease of an accepted run: its insert, a CRM call and its processed write, 1 s + 4 × 1.5 s = 7 s
	CRM_TIMEOUT_MS: '1000',
	FAULT_INJECTION: 'on',
	...extra,
});

/** The DLQ workflow's call, as n8n makes it every minute. */
async function retryDue(url: string): Promise<void> {
	await fetch(`${url}/internal/dlq/retry-due`, {
		method: 'POST',
		headers: { authorization: `Bearer ${TEST_SERVICE_TOKEN}`, 'content-type': 'application/json' },
		body: '{}',
	});
}

async function crmLead(key: string): Promise<CrmLead[]> {
	const response = await fetch(`${crm.url}/leads`);
	return ((await response.json()) as { leads: CrmLead[] }).leads.filter((lead) => lead.key === key);
}

test('kill -9 after the CRM call: the client is not told done; the recovery delivers it once more and the run ends processed', async () => {
	const first = await startProcessorProcess(env({ TEST_PAUSE_AFTER_CRM_KEY_PREFIX: 'crash-' }));
	running.push(first);
	const request = postLead(first.url, validLead(), { key: 'crash-1' }).then(
		(answer) => answer,
		(error: Error) => error,
	);
	await first.waitForLine((line) => line.includes('paused after the CRM call'));
	expect(await crmLead('crash-1')).toEqual([expect.objectContaining({ upserts: 1 })]);
	await first.kill('SIGKILL');
	// the connection died with the process: no answer at all
	expect(await request).toMatchObject({ message: 'fetch failed' });
	const [orphan] = await sql`SELECT run_id, status FROM runs WHERE idempotency_key = 'crash-1'`;
	expect(orphan!.status).toBe('accepted');

	const second = await startProcessorProcess(env());
	running.push(second);
	// the client retries with the same key: never told "done" while nobody has finished it
	const retried = await postLead(second.url, validLead(), { key: 'crash-1' });
	// 409 while the lease runs; once it has run out (a slow start of the second processor) the
	// run is the DLQ's, and the repeat is answered as one of a failed lead
	expect([409, 200]).toContain(retried.status);
	if (retried.status === 409) expect(retried.body).toMatchObject({ code: 'request_in_progress' });
	else expect(retried.body).toMatchObject({ status: 'duplicate', existing_status: 'failed' });

	// the DLQ workflow's schedule, compressed: retry-due until the run is settled (its lease is 7 s)
	await waitFor(
		async () => {
			await retryDue(second.url);
			const [run] = await sql`SELECT status FROM runs WHERE run_id = ${orphan!.run_id as string}`;
			return run!.status as string;
		},
		{
			what: 'retry-due to settle the orphaned run crash-1 as processed',
			until: (status) => status === 'processed',
			deadlineMs: 30_000,
			intervalMs: 100,
		},
	);
	expect(await crmLead('crash-1')).toEqual([expect.objectContaining({ upserts: 2 })]);
	const events = await sql`
		SELECT event_type FROM audit_events WHERE run_id = ${orphan!.run_id as string} ORDER BY event_id`;
	expect(events.map((event) => event.event_type)).toEqual([
		'lead_received',
		'run_recovered',
		'dlq_created',
		// a retry after the lease (the second processor's start recovered the run first) is a
		// repeat of a failed run: answered duplicate, and audited so
		...(retried.status === 200 ? ['lead_duplicate'] : []),
		'crm_upserted',
		'dlq_resolved',
	]);
	const again = await postLead(second.url, validLead(), { key: 'crash-1' });
	expect(again.body).toEqual({
		status: 'duplicate',
		run_id: orphan!.run_id,
		existing_status: 'processed',
	});
}, 60_000);

test('a processor starting after the lease ran out recovers the orphan by itself', async () => {
	const first = await startProcessorProcess(env({ TEST_PAUSE_AFTER_CRM_KEY_PREFIX: 'crash-' }));
	running.push(first);
	void postLead(first.url, validLead(), { key: 'crash-2' }).catch(() => undefined);
	await first.waitForLine((line) => line.includes('paused after the CRM call'));
	await first.kill('SIGKILL');
	await waitFor(
		async () => {
			const [row] = await sql`
				SELECT 1 FROM runs WHERE idempotency_key = 'crash-2' AND received_at < now() - interval '7 seconds'`;
			return row ?? null;
		},
		{ what: 'the lease of run crash-2 (7 s) to run out', deadlineMs: 30_000, intervalMs: 100 },
	);

	// nobody calls retry-due: the second processor's start recovers the run, or (when its database
	// was too slow for that at start, on a loaded machine) its own retry loop a pass later
	await startProcessorProcess(env()).then((second) => running.push(second));
	const [item] = await waitFor(
		() => sql<{ reason: string }[]>`
			SELECT d.reason FROM dlq d JOIN runs r USING (run_id) WHERE r.idempotency_key = 'crash-2'`,
		{
			what: 'the orphaned run crash-2 handed to the DLQ',
			until: (rows) => rows.length > 0,
			deadlineMs: 40_000,
			intervalMs: 100,
		},
	);
	expect(item).toEqual({ reason: 'interrupted' });
}, 90_000);

test('kill -9 between the run insert and its same-person check: the recovery checks the run before the DLQ gets it, so the person still has one CRM record', async () => {
	const own = await testDatabase();
	const ownSql = connect(own.url, { maxConnections: 1 });
	try {
		const ownEnv = (extra: Record<string, string> = {}) => env({ DATABASE_URL: own.url, ...extra });
		const first = await startProcessorProcess(
			ownEnv({ TEST_PAUSE_BEFORE_SAME_PERSON_KEY_PREFIX: 'unchecked-' }),
			{ duplicates: 'shipped' },
		);
		running.push(first);
		void postLead(first.url, validLead({ email: 'Una.Checked@example.com' }), {
			key: 'unchecked-1',
		}).catch(() => undefined);
		await first.waitForLine((line) => line.includes('paused before the same-person check'));
		await first.kill('SIGKILL');
		const [orphan] =
			await ownSql`SELECT run_id, status FROM runs WHERE idempotency_key = 'unchecked-1'`;
		expect(orphan).toMatchObject({ status: 'accepted' });

		// the same person again, through a processor that checks it. Either comes first: this lead
		// (the orphan has nothing recorded yet), or the orphan, when the second processor's start
		// finds its lease already run out and checks it then; both ways one is the duplicate
		const second = await startProcessorProcess(ownEnv(), { duplicates: 'shipped' });
		running.push(second);
		const again = await postLead(second.url, validLead({ email: 'una.checked@EXAMPLE.com' }), {
			key: 'checked-2',
		});
		expect(['accepted', 'duplicate']).toContain(again.body.status);

		// once the orphan's lease (7 s) has run out, retry-due's recovery checks it first
		await waitFor(
			async () => {
				await retryDue(second.url);
				return await ownSql<{ status: string }[]>`
					SELECT status FROM runs WHERE idempotency_key IN ('unchecked-1', 'checked-2')`;
			},
			{
				what: 'the recovery to settle the unchecked orphan',
				until: (rows) =>
					rows.length === 2 && rows.every((row) => ['processed', 'duplicate'].includes(row.status)),
				deadlineMs: 30_000,
				intervalMs: 100,
			},
		);
		const crmKeys = ((await (await fetch(`${crm.url}/leads`)).json()) as { leads: CrmLead[] }).leads
			.map((lead) => lead.key)
			.filter((key) => key === 'unchecked-1' || key === 'checked-2');
		expect(crmKeys).toHaveLength(1);
		const runs = await ownSql<
			{ idempotency_key: string; run_id: string; status: string; duplicate_of: string | null }[]
		>`SELECT idempotency_key, run_id, status, duplicate_of FROM runs
			WHERE idempotency_key IN ('unchecked-1', 'checked-2')`;
		const delivered = runs.find((run) => run.idempotency_key === crmKeys[0])!;
		const other = runs.find((run) => run !== delivered)!;
		expect(delivered.status).toBe('processed');
		expect(other).toMatchObject({ status: 'duplicate', duplicate_of: delivered.run_id });
		expect(await ownSql`SELECT 1 FROM dlq WHERE run_id = ${other.run_id}`).toEqual([]);
		const events = await ownSql`
			SELECT event_type FROM audit_events WHERE run_id = ${other.run_id} ORDER BY event_id`;
		expect(events.map((event) => event.event_type)).toEqual(['lead_received', 'lead_same_person']);
	} finally {
		for (const processor of running.splice(0)) await processor.kill('SIGKILL');
		await ownSql.end();
		await own.drop();
	}
}, 60_000);
