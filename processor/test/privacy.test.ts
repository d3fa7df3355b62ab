import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '@lead-intake-hub/stack';
import { claimPerson } from '../src/db/person-identities.js';
import { findRepeat } from '../src/db/runs.js';
import { ledger } from '../src/db/ledger.js';
import { connect, type Sql } from '../src/db/connection.js';
import { migrate } from '../src/db/migrate.js';
import { claimDueCrmErasures, eraseAndRecord, retentionBatch } from '../src/db/privacy.js';
import { recordIntakeFailure } from '../src/db/transitions.js';
import { defaultMigrationsDir } from '../src/paths.js';
import { recordSignatureFailures } from '../src/db/signature-failures.js';
import { retentionLine, type RetentionRemoved } from '../src/kpi/report.js';
import { hashEmail } from '../src/pii/email.js';
import { postLead, startStack, testDatabase, validLead, type Stack } from './support/harness.js';

/**
 * Erasure and access on real Postgres, real files and the mock CRM (docs/privacy.md): after an
 * erasure nothing of the person is found anywhere, another person's records are intact and the
 * KPI rows do not change.
 */
let stack: Stack;
const SALT = 'test-salt-0123';

beforeAll(async () => {
	stack = await startStack({
		env: {
			DLQ_JITTER_RATIO: '0',
			DLQ_BACKOFF_SECONDS: 'seed',
			CRM_BREAKER_FAILURES: '1000000',
			PRIVACY_CRM_ERASE_SECONDS: '1',
			ALERTS_PASS_SECONDS: '0',
		},
	});
});
afterAll(() => stack.close());
beforeEach(() => stack.crm.fail(0));

interface Person {
	email: string;
	phone: string;
	name: string;
	street: string;
}

const lead = (person: Person) =>
	validLead({
		email: person.email,
		name: person.name,
		phone: person.phone,
		address: { zip: '66123', street: person.street },
	});

function post(body: unknown, key: string) {
	return postLead(stack.url, body, {
		key,
		timestamp: String(Math.floor(stack.clock.now.getTime() / 1000)),
	});
}

/** Every text, text[], jsonb and bytea value of every table, every file and every log line holding the needle. */
async function findEverywhere(needle: string): Promise<string[]> {
	const found: string[] = [];
	const columns = await stack.sql<{ table_name: string; column_name: string }[]>`
		SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'ARRAY', 'bytea', 'character varying')`;
	expect(columns.length).toBeGreaterThan(10);
	for (const { table_name, column_name } of columns) {
		const [row] = await stack.sql<{ n: number }[]>`
			SELECT count(*)::int AS n FROM ${stack.sql(table_name)}
			WHERE position(lower(${needle}) IN lower(${stack.sql(column_name)}::text)) > 0`;
		if (row!.n > 0) found.push(`${table_name}.${column_name}`);
	}
	for (const name of await readdir(stack.alertsDir)) {
		const text = await readFile(join(stack.alertsDir, name), 'utf8');
		if (text.toLowerCase().includes(needle.toLowerCase())) found.push(`file ${name}`);
	}
	if (stack.logs.some((line) => line.toLowerCase().includes(needle.toLowerCase()))) {
		found.push('log');
	}
	return found;
}

const needlesOf = (person: Person) => [
	person.email,
	person.phone,
	person.phone.replace(/\D/g, ''),
	person.name,
	person.street,
	hashEmail(person.email, SALT),
];

/** A migrated database of the test's own (its rows staged by hand, nothing else writes them). */
async function withOwnDatabase(connections: number, body: (sql: Sql) => Promise<void>) {
	const database = await testDatabase();
	const sql = connect(database.url, { maxConnections: connections });
	try {
		await migrate(sql, defaultMigrationsDir);
		await body(sql);
	} finally {
		await sql.end();
		await database.drop();
	}
}

/** Until `count` statements on the test's database wait for a lock (the erasure, say). */
function lockWaits(sql: Sql, count: number, what: string, intervalMs?: number) {
	return waitFor(
		() => sql`
			SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`,
		{ what, until: (rows) => rows.length === count, ...(intervalMs ? { intervalMs } : {}) },
	);
}

/** An operator's erasure request, as the privacy service makes one (the CRM asked 10 s on at the earliest). */
function erasureRequest(correlationId: string, askedSubjects: string[], now: Date) {
	return {
		lockTimeoutMs: 10_000,
		alertFiles: 0,
		requestedBy: 'dpo@company',
		correlationId,
		now,
		askedSubjects,
		inFlightSeconds: 10,
	};
}

/** An alert file as the Alert Router writes one for a run (here with the plain data, the worst case). */
async function alertFileFor(runId: string, person: Person, second: number) {
	const name = `20261201T0000${String(second).padStart(2, '0')}Z_${runId}.json`;
	await writeFile(join(stack.alertsDir, name), JSON.stringify({ run_id: runId, lead: person }));
	return name;
}

async function kpiOfToday() {
	const day = stack.clock.now.toISOString().slice(0, 10);
	const answer = await stack.internal('POST', '/internal/kpi/compute-daily', { date: day });
	expect(answer.status).toBe(200);
	const [row] = await stack.sql`
		SELECT received_count, processed_count, rejected_count, failed_count, duplicate_count
		FROM kpi_daily WHERE day = ${day}::date`;
	return row;
}

test('erasure leaves nothing of the person anywhere; another person is intact; KPI rows unchanged; idempotent', async () => {
	const jane: Person = {
		email: 'jane.erase@example.com',
		phone: '+49 170 5550001',
		name: 'Janet Erasewell',
		street: 'Loeschweg 17',
	};
	const max: Person = {
		email: 'max.keep@other.org',
		phone: '+49 151 5550002',
		name: 'Maximilian Keeper',
		street: 'Bleibeallee 3',
	};
	// jane: one delivered lead, a repeat of it, one waiting in the DLQ after a CRM failure
	expect((await post(lead(jane), 'jane-1')).status).toBe(200);
	expect((await post(lead(jane), 'jane-1')).body.status).toBe('duplicate');
	await stack.crm.fail(1, 503);
	const failed = await post(lead(jane), 'jane-2');
	expect(failed.status).toBe(500);
	expect((await post(lead(max), 'max-1')).status).toBe(200);
	const janeRuns = (
		await stack.sql<
			{ run_id: string }[]
		>`SELECT run_id FROM runs WHERE idempotency_key LIKE 'jane-%'`
	).map((row) => row.run_id);
	expect(janeRuns).toHaveLength(2);
	const [maxRun] = await stack.sql`SELECT run_id FROM runs WHERE idempotency_key = 'max-1'`;
	await alertFileFor(janeRuns[0]!, jane, 1);
	const maxFile = await alertFileFor(maxRun!.run_id as string, max, 2);
	for (const needle of needlesOf(jane)) {
		// the needles are real: the salted hash and the DLQ item's lead hold jane before the erasure
		if (needle === hashEmail(jane.email, SALT) || needle === jane.name) {
			expect(await findEverywhere(needle)).not.toEqual([]);
		}
	}
	const kpiBefore = await kpiOfToday();
	const maxBefore = await stack.sql`SELECT * FROM runs WHERE run_id = ${maxRun!.run_id}`;

	const answer = await stack.internal('POST', '/internal/privacy/erase', {
		email: 'Jane.Erase@Example.com',
		actor: 'dpo@company',
	});
	expect(answer.status).toBe(200);
	expect(answer.body).toMatchObject({
		// who asked is kept in the record: an e-mail address in it is masked like any other
		requested_by: 'd***@company',
		nothing_left: false,
		counts: { runs: 2, dlq_items: 1, retries_stopped: 1, alert_files: 1 },
	});
	expect([...(answer.body.run_ids as string[])].sort()).toEqual([...janeRuns].sort());
	expect(JSON.stringify(answer.body)).not.toContain('jane');

	// the CRM is asked to forget the delivered record (the failed one never reached it: a 404 is fine)
	await waitFor(
		async () => (await stack.crm.leads()).every((crmLead) => crmLead.key !== 'jane-1'),
		{
			what: "the CRM's record of jane erased",
		},
	);
	await waitFor(
		async () =>
			(await stack.sql`SELECT crm_status, crm_keys FROM privacy_erasures`)[0]?.crm_status ===
			'done',
		{ what: 'the erasure settled with the CRM' },
	);

	for (const needle of needlesOf(jane))
		expect([needle, await findEverywhere(needle)]).toEqual([needle, []]);
	// max's salted hash is still on his run, his data in his alert file
	for (const needle of [max.email, max.phone, max.name, max.street, hashEmail(max.email, SALT)]) {
		expect(await findEverywhere(needle)).not.toEqual([]);
	}
	expect(await readdir(stack.alertsDir)).toContain(maxFile);
	expect(await stack.sql`SELECT * FROM runs WHERE run_id = ${maxRun!.run_id}`).toEqual(maxBefore);
	expect((await stack.crm.leads()).some((crmLead) => crmLead.key === 'max-1')).toBe(true);
	expect(await kpiOfToday()).toEqual(kpiBefore);

	// the waiting lead is not retried any more
	stack.clock.advance(3600);
	const retried = await stack.internal('POST', '/internal/dlq/retry-due', {});
	expect(retried.body.claimed).toBe(0);

	const [event] =
		await stack.sql`SELECT payload, actor FROM audit_events WHERE event_type = 'person_erased'`;
	expect(event!.payload).toMatchObject({ requested_by: 'd***@company', counts: { runs: 2 } });

	const again = await stack.internal('POST', '/internal/privacy/erase', { email: jane.email });
	expect(again.body).toMatchObject({ nothing_left: true, erasure_id: null, run_ids: [] });
	// a request that overlapped the first one found the runs, deleted a file of theirs, then found
	// them erased: the first one is the record, so it records nothing (no second "not needed")
	const erasures = (await stack.sql`SELECT count(*)::int AS n FROM privacy_erasures`)[0]!.n;
	const overlapping = await eraseAndRecord(stack.sql, janeRuns, {
		lockTimeoutMs: 1000,
		alertFiles: 1,
		requestedBy: 'dpo@company',
		correlationId: 'overlapping',
		now: stack.clock.now,
		inFlightSeconds: 0,
		askedSubjects: [hashEmail(jane.email, SALT)],
	});
	expect(overlapping.record).toBeNull();
	expect((await stack.sql`SELECT count(*)::int AS n FROM privacy_erasures`)[0]!.n).toBe(erasures);
	const exported = await stack.internal('POST', '/internal/privacy/export', { email: jane.email });
	expect(exported.body).toMatchObject({ runs: [], events: [], dlq: [], alert_files: [] });
});

/** The pending-erasure gauges on /metrics. */
async function erasureMetrics(): Promise<{ pending: number; oldestSeconds: number }> {
	const text = await (await fetch(`${stack.url}/metrics`)).text();
	const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
	return {
		pending: read('lih_privacy_erasures_pending'),
		oldestSeconds: read('lih_privacy_erasure_oldest_pending_seconds'),
	};
}

test('erasure during a CRM outage: the lead in the DLQ stops, the CRM erasure waits and is retried until it succeeds', async () => {
	const ann: Person = {
		email: 'ann.outage@example.com',
		phone: '+49 170 5550003',
		name: 'Annabel Outage',
		street: 'Sturmgasse 9',
	};
	await stack.crm.fail(1_000_000, 503);
	const answer = await post(lead(ann), 'ann-1');
	expect(answer.status).toBe(500);

	// found by the phone alone: the raw lead is still held (encrypted)
	const erased = await stack.internal('POST', '/internal/privacy/erase', {
		phone: '0049-170-555 0003'.replace('0049-', '+49 '),
	});
	expect(erased.body).toMatchObject({
		counts: { runs: 1, retries_stopped: 1 },
		crm: { status: 'pending' },
	});
	const erasureId = erased.body.erasure_id as number;
	const pending = await waitFor(
		async () => {
			const list = (await stack.internal('GET', '/internal/privacy/erasures')).body.pending as {
				erasure_id: number;
				crm_attempts: number;
				crm_last_error: string | null;
			}[];
			return list.find((item) => item.erasure_id === erasureId && item.crm_attempts > 0);
		},
		{ what: 'a failed CRM erasure attempt recorded' },
	);
	expect(pending!.crm_last_error).toContain('503');
	// an operator sees it waiting, and for how long, without asking the API
	await stack.sql`UPDATE privacy_erasures SET requested_at = ${stack.clock.now} - interval '2 hours'
		WHERE erasure_id = ${erasureId}`;
	const waiting = await waitFor(
		async () => {
			const metrics = await erasureMetrics();
			return metrics.oldestSeconds >= 7200 ? metrics : null;
		},
		{ what: 'the pending erasure on /metrics' },
	);
	expect(waiting!.pending).toBeGreaterThanOrEqual(1);
	// asked again, by either: nothing is left here, but the CRM still holds the person
	for (const asked of [{ email: ann.email.toUpperCase() }, { phone: '+49 170 5550003' }]) {
		const again = await stack.internal('POST', '/internal/privacy/erase', asked);
		expect(again.body).toMatchObject({
			nothing_left: true,
			erasure_id: null,
			crm: { status: 'pending' },
		});
	}

	await stack.crm.fail(0);
	stack.clock.advance(3600);
	await waitFor(
		async () =>
			(await stack.sql`SELECT crm_status FROM privacy_erasures WHERE erasure_id = ${erasureId}`)[0]
				?.crm_status === 'done',
		{ what: 'the CRM erasure done after the outage' },
	);
	for (const needle of needlesOf(ann)) expect(await findEverywhere(needle)).toEqual([]);
	// the only erasure pending in this test's database
	const settled = await waitFor(
		async () => {
			const metrics = await erasureMetrics();
			return metrics.oldestSeconds < 7200 ? metrics : null;
		},
		{ what: 'the erasure done, off /metrics' },
	);
	expect(settled).toEqual({ pending: 0, oldestSeconds: 0 });
	const afterCrm = await stack.internal('POST', '/internal/privacy/erase', { email: ann.email });
	expect(afterCrm.body).toMatchObject({ nothing_left: true, crm: { status: 'not_needed' } });
	const [crmErased] = await stack.sql`
		SELECT payload FROM audit_events WHERE event_type = 'crm_erased' AND (payload->>'erasure_id')::int = ${erasureId}`;
	expect((crmErased!.payload as { attempts: number }).attempts).toBeGreaterThan(1);

	// the erased lead is accounted for: erased before delivery, not resolved by hand
	const day = 86_400_000;
	const from = new Date(stack.clock.now.getTime() - 15 * day).toISOString();
	const to = new Date(stack.clock.now.getTime() + 15 * day).toISOString();
	const ledger = await stack.internal('GET', `/internal/stats/ledger?from=${from}&to=${to}`);
	expect(ledger.status).toBe(200);
	expect(ledger.body).toMatchObject({ resolved_manually: 0, balanced: true });
	expect(ledger.body.erased).toBeGreaterThanOrEqual(1);
});

test('erasure closes the undelivered DLQ items, dead ones too, as its own: lead.resolved by erasure, nobody asked to act, nothing said delivered', async () => {
	const dora: Person = {
		email: 'dora.dead@example.com',
		phone: '+49 170 5550009',
		name: 'Dora Deadletter',
		street: 'Sackgasse 4',
	};
	// one lead the CRM refuses (dead at once), one it fails (waiting for a retry)
	await stack.crm.fail(1, 400);
	const dead = await post(lead(dora), 'dora-dead-1');
	await stack.crm.fail(1, 503);
	const waiting = await post(lead({ ...dora, street: 'Sackgasse 5' }), 'dora-open-1');
	const runIds = [dead.body.run_id as string, waiting.body.run_id as string];
	const before = await stack.sql<{ status: string }[]>`
		SELECT status FROM dlq WHERE run_id = ANY(${runIds}::uuid[]) ORDER BY status`;
	expect(before.map((item) => item.status)).toEqual(['dead', 'open']);

	const erased = await stack.internal('POST', '/internal/privacy/erase', { email: dora.email });
	expect(erased.body).toMatchObject({ counts: { runs: 2, dlq_items: 2, retries_stopped: 1 } });

	const after = await stack.sql<{ status: string }[]>`
		SELECT status FROM dlq WHERE run_id = ANY(${runIds}::uuid[])`;
	expect(after.map((item) => item.status)).toEqual(['resolved', 'resolved']);
	const resolvedEvents = await stack.sql<{ data: { by: string } }[]>`
		SELECT data FROM outcome_events
		WHERE event_type = 'lead.resolved' AND run_id = ANY(${runIds}::uuid[])`;
	expect(resolvedEvents.map((event) => event.data.by)).toEqual(['erasure', 'erasure']);

	// alerts/index.md, rewritten by the erasure: closed by it, neither needing a person nor delivered
	const index = await readFile(join(stack.alertsDir, 'index.md'), 'utf8');
	const needsPerson = index.slice(
		index.indexOf('## Needs a person'),
		index.indexOf('\n## ', index.indexOf('## Needs a person') + 1),
	);
	for (const runId of runIds) {
		expect(needsPerson).not.toContain(runId);
		const entry = index.slice(index.indexOf(`**Lead \`${runId}\``));
		expect(entry.slice(0, entry.indexOf('What to do'))).toContain(
			'Closed when the person’s data was erased',
		);
	}
	expect(index).not.toMatch(/Delivered to the CRM by automatic retry 0/);
});

test('erasure while a lead is in flight: the run ends erased, not processed, and the CRM is asked after the lease', async () => {
	const bob: Person = {
		email: 'bob.flight@example.com',
		phone: '+49 170 5550004',
		name: 'Bobby Inflight',
		street: 'Flugweg 4',
	};
	// the CRM answers the next upsert after 0.6 s (the CRM timeout is 1 s): the lead is in flight meanwhile
	await fetch(`${stack.crm.url}/admin/faults`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ fail_next: 0, latency_ms: 600, slow_next: 1 }),
	});
	const answer = post(lead(bob), 'bob-1');
	await waitFor(
		async () =>
			(await stack.sql`SELECT status FROM runs WHERE idempotency_key = 'bob-1'`)[0]?.status ===
			'accepted',
		{ what: "bob's run accepted and in flight" },
	);
	const erased = await stack.internal('POST', '/internal/privacy/erase', { email: bob.email });
	expect(erased.body).toMatchObject({ counts: { runs: 1 }, crm: { status: 'pending' } });
	const firstAttempt = Date.parse(
		(erased.body.crm as { first_attempt_at: string }).first_attempt_at,
	);
	expect(firstAttempt).toBeGreaterThan(stack.clock.now.getTime());

	const delivered = await answer;
	expect(delivered.status).toBe(200);
	expect(delivered.body.run_status).not.toBe('processed');
	const runId = (erased.body.run_ids as string[])[0]!;
	const [run] =
		await stack.sql`SELECT status, email_hash, sealed_lead, idempotency_key FROM runs WHERE run_id = ${runId}`;
	expect(run).toEqual({
		status: 'erased',
		email_hash: null,
		sealed_lead: null,
		idempotency_key: `erased:${runId}`,
	});
	// the CRM got the lead during the erasure; it is asked to forget it once the lease is over
	expect((await stack.crm.leads()).some((crmLead) => crmLead.key === 'bob-1')).toBe(true);
	stack.clock.advance(3600);
	await waitFor(async () => (await stack.crm.leads()).every((crmLead) => crmLead.key !== 'bob-1'), {
		what: "bob's CRM record erased after the lease",
	});
	for (const needle of needlesOf(bob)) expect(await findEverywhere(needle)).toEqual([]);
});

test('erasure while a retry holds the lead in a long batch: the CRM is asked only once that claim has run out', async () => {
	const cleo: Person = {
		email: 'cleo.batch@example.com',
		phone: '+49 170 5550014',
		name: 'Cleo Batchwise',
		street: 'Stapelweg 14',
	};
	await stack.crm.fail(1, 503);
	const failed = await post(lead(cleo), 'cleo-1');
	expect(failed.body).toMatchObject({ status: 'failed', dlq_status: 'open' });
	// as a replay of thousands of items claims them: one lease for the whole batch, an hour long,
	// and this item's CRM call still to come within it
	const claimEnds = new Date(stack.clock.now.getTime() + 3600_000);
	await stack.sql`
		UPDATE dlq SET status = 'retrying', locked_until = ${claimEnds}, lease_token = gen_random_uuid()
		WHERE dlq_id = ${failed.body.dlq_id as number}`;
	const erased = await stack.internal('POST', '/internal/privacy/erase', { email: cleo.email });
	expect(erased.body).toMatchObject({
		counts: { runs: 1, retries_stopped: 1 },
		crm: { status: 'pending' },
	});
	expect((erased.body.crm as { first_attempt_at: string }).first_attempt_at).toBe(
		claimEnds.toISOString(),
	);
});

test('a same-person check that comes after the erasure of its run records no identity of the person', async () => {
	const dana: Person = {
		email: 'dana.late@example.com',
		phone: '+49 170 5550015',
		name: 'Dana Latecheck',
		street: 'Spaetweg 15',
	};
	const answer = await post(lead(dana), 'dana-1');
	const runId = answer.body.run_id as string;
	// as a processor that died between its insert and its check leaves a run: accepted, unchecked
	await stack.sql`DELETE FROM person_identities WHERE run_id = ${runId}`;
	await stack.sql`UPDATE runs SET status = 'accepted' WHERE run_id = ${runId}`;
	expect(
		(await stack.internal('POST', '/internal/privacy/erase', { email: dana.email })).body,
	).toMatchObject({ run_ids: [runId] });
	// the recovery's check, holding the lead it read before the erasure, now runs
	const identity = { match: 'email' as const, hash: hashEmail(dana.email, SALT) };
	const same = await claimPerson(
		stack.sql,
		{
			runId,
			correlationId: null,
			identities: [identity],
			windowHours: 24,
			policy: 'drop',
			queue: false,
		},
		5000,
	);
	expect(same).toBeNull();
	expect(
		await stack.sql`SELECT run_id FROM person_identities WHERE identity_hash = ${identity.hash}`,
	).toEqual([]);
	const [run] = await stack.sql`SELECT status FROM runs WHERE run_id = ${runId}`;
	expect(run!.status).toBe('erased');
});

test('a run the recovery marked a duplicate after its CRM call may be in the CRM under its own key: the erasure asks the CRM to forget it too', async () => {
	const ann: Person = {
		email: 'ann.recovered@example.com',
		phone: '+49 170 5550009',
		name: 'Ann Recovered',
		street: 'Wiederweg 9',
	};
	// ann-r reached the CRM, but (as if its processed write was lost and the same-person check
	// was turned on meanwhile) the recovery found it the same person as ann-f and marked it so
	expect((await post(lead(ann), 'ann-r')).status).toBe(200);
	const first = await post(lead(ann), 'ann-f');
	expect(first.status).toBe(200);
	await stack.sql`
		UPDATE runs SET status = 'duplicate', duplicate_of = ${first.body.run_id as string},
			duplicate_match = 'email'
		WHERE idempotency_key = 'ann-r'`;
	const keys = async () => (await stack.crm.leads()).map((crmLead) => crmLead.key);
	expect(await keys()).toEqual(expect.arrayContaining(['ann-r', 'ann-f']));

	const answer = await stack.internal('POST', '/internal/privacy/erase', { email: ann.email });
	expect(answer.status).toBe(200);
	await waitFor(keys, {
		what: "the CRM's records of ann under both keys erased",
		until: (held) => !held.includes('ann-r') && !held.includes('ann-f'),
	});
});

test('export round trip: everything held about a person, with the raw lead while it is held; audited without the person', async () => {
	const eve: Person = {
		email: 'eve.export@example.com',
		phone: '+49 170 5550005',
		name: 'Evelyn Export',
		street: 'Auskunftstrasse 5',
	};
	await stack.crm.fail(1, 503);
	// event ids past 2^31, as a long-lived outbox reaches: the export carries them as they are
	await stack.sql`ALTER TABLE outcome_events ALTER COLUMN event_id RESTART WITH 2147483648`;
	const failed = await post(lead(eve), 'eve-1');
	expect(failed.status).toBe(500);
	const file = await alertFileFor(failed.body.run_id as string, eve, 5);

	const answer = await stack.internal('POST', '/internal/privacy/export', {
		email: eve.email,
		phone: eve.phone,
	});
	expect(answer.status).toBe(200);
	const runs = answer.body.runs as { run_id: string; lead: Record<string, unknown> | null }[];
	expect(runs).toHaveLength(1);
	expect(runs[0]!.lead).toEqual(lead(eve));
	expect((answer.body.dlq as unknown[]).length).toBe(1);
	expect(
		(answer.body.events as { event_type: string }[]).map((event) => event.event_type),
	).toContain('lead_received');
	expect(answer.body.alert_files).toEqual([file]);
	// and what the file says, which the person would otherwise never see
	expect(answer.body.alerts).toEqual([
		{ file, content: { run_id: failed.body.run_id, lead: eve } },
	]);
	// the phone as a number, as a lead may carry it: the same person
	const byNumber = await stack.internal('POST', '/internal/privacy/export', {
		phone: Number(eve.phone.replace(/\D/g, '')),
	});
	expect(byNumber.status).toBe(200);
	expect((byNumber.body.runs as { run_id: string }[]).map((run) => run.run_id)).toEqual([
		failed.body.run_id,
	]);
	expect(answer.body.outcome_events).toEqual([
		expect.objectContaining({
			event_id: expect.stringMatching(/^2147483\d{3}$/),
			event_type: 'lead.failed',
			run_id: failed.body.run_id,
		}),
	]);
	// every table that holds rows of a run is in the export: a new one must be added to it
	const exported: Record<string, string> = {
		runs: 'runs',
		audit_events: 'events',
		delivery_attempts: 'attempts',
		dlq: 'dlq',
		person_identities: 'identities',
		outcome_events: 'outcome_events',
	};
	const tables = await stack.sql<{ table_name: string }[]>`
		SELECT table_name FROM information_schema.columns
		WHERE table_schema = 'public' AND column_name = 'run_id' ORDER BY table_name`;
	expect(tables.map((row) => row.table_name).sort()).toEqual(Object.keys(exported).sort());
	for (const key of Object.values(exported)) expect(answer.body).toHaveProperty(key);
	const [event] = await stack.sql`
		SELECT payload FROM audit_events WHERE event_type = 'person_exported' ORDER BY event_id DESC LIMIT 1`;
	expect(event!.payload).toEqual({ requested_by: 'operator', run_ids: [failed.body.run_id] });
});

test('an erasure that cannot be recorded erases nothing: the next request erases the person and asks the CRM', async () => {
	const olga: Person = {
		email: 'olga.atomic@example.com',
		phone: '+49 170 5550077',
		name: 'Olga Atomic',
		street: 'Ganzweg 7',
	};
	const delivered = await post(lead(olga), 'olga-atomic-1');
	expect(delivered.body.run_status).toBe('processed');
	await stack.sql.unsafe(`
		CREATE FUNCTION refuse_erasure() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'the record of an erasure cannot be written'; END $$;
		CREATE TRIGGER refuse_erasure BEFORE INSERT ON privacy_erasures
			FOR EACH ROW EXECUTE FUNCTION refuse_erasure();`);
	try {
		const failed = await stack.internal('POST', '/internal/privacy/erase', { email: olga.email });
		expect(failed.status).toBeGreaterThanOrEqual(500);
		const [run] = await stack.sql`
			SELECT status, email_hash FROM runs WHERE run_id = ${String(delivered.body.run_id)}`;
		expect(run).toEqual({ status: 'processed', email_hash: hashEmail(olga.email, SALT) });
	} finally {
		await stack.sql.unsafe(
			'DROP TRIGGER refuse_erasure ON privacy_erasures; DROP FUNCTION refuse_erasure();',
		);
	}
	const erased = await stack.internal('POST', '/internal/privacy/erase', { email: olga.email });
	expect(erased.body).toMatchObject({ run_ids: [delivered.body.run_id], nothing_left: false });
	await waitFor(
		async () => (await stack.crm.leads()).every((crmLead) => crmLead.key !== 'olga-atomic-1'),
		{ what: "the CRM's record of olga erased" },
	);
});

test("an erasure's own first CRM attempt claims that erasure only, not other people's due ones", async () => {
	const later = new Date(stack.clock.now.getTime() + 86_400_000);
	const ids = (
		await stack.sql<{ erasure_id: string }[]>`
			INSERT INTO privacy_erasures (requested_by, run_ids, counts, crm_status, crm_keys, crm_next_at)
			SELECT 'test', '{}', '{}', 'pending', ARRAY['claim-only-' || n], ${later}
			FROM generate_series(1, 2) AS n RETURNING erasure_id`
	).map((row) => Number(row.erasure_id));
	try {
		const claimAt = new Date(later.getTime() + 1000);
		const own = await claimDueCrmErasures(stack.sql, {
			now: claimAt,
			leaseSeconds: 60,
			limit: 20,
			erasureId: ids[1],
		});
		expect(own.map((erasure) => erasure.erasure_id)).toEqual([ids[1]]);
		// the other one was due too, and is left to the background pass
		const [other] = await stack.sql`
			SELECT crm_locked_until FROM privacy_erasures WHERE erasure_id = ${ids[0]!}`;
		expect(other).toEqual({ crm_locked_until: null });
	} finally {
		await stack.sql`
			UPDATE privacy_erasures SET crm_status = 'done', crm_keys = NULL, crm_next_at = NULL
			WHERE erasure_id = ANY(${ids}::bigint[])`;
	}
});

test('the person endpoints are strict: a person must be named, unknown fields are refused', async () => {
	const none = await stack.internal('POST', '/internal/privacy/erase', {});
	expect(none.status).toBe(400);
	const unknown = await stack.internal('POST', '/internal/privacy/export', {
		email: 'a@b.c',
		name: 'x',
	});
	expect(unknown.status).toBe(400);
	expect(JSON.stringify(unknown.body)).toContain('name');
	expect(
		(await stack.internal('POST', '/internal/privacy/erase', { email: 'a@b.c' }, null)).status,
	).toBe(401);
});

test('consent: the rules can require it (CONSENT_MISSING); what was consented to stays with the run, also after an erasure', async () => {
	const { document } = (await stack.internal('GET', '/internal/rules')).body as {
		document: { rules: Record<string, unknown> };
	};
	const original = structuredClone(document);
	document.rules.consent = { required: true, text_versions: ['privacy-2026-01'] };
	const saved = await stack.internal('PUT', '/internal/rules', { document, note: 'consent' });
	expect(saved.body).toMatchObject({ saved: true });
	const version = saved.body.version as number;
	await waitFor(
		() =>
			stack.logs.some(
				(line) => line.includes('"rules in force"') && line.includes(`"rules_version":${version},`),
			),
		{ what: `rules version ${version} in force` },
	);
	const carl: Person = {
		email: 'carl.consent@example.com',
		phone: '+49 170 5550006',
		name: 'Carlotta Consent',
		street: 'Zustimmungsweg 6',
	};
	const consent = {
		given: true,
		timestamp: '2026-12-01T10:00:00Z',
		text_version: 'privacy-2026-01',
	};
	try {
		const none = await post(lead(carl), 'carl-none');
		expect(none.body).toMatchObject({ status: 'rejected', reasons: ['CONSENT_MISSING'] });
		const old = await post(
			{ ...lead(carl), consent: { ...consent, text_version: 'privacy-2020' } },
			'carl-old',
		);
		expect(old.body).toMatchObject({ status: 'rejected', reasons: ['CONSENT_MISSING'] });
		const refused = await post({ ...lead(carl), consent: { ...consent, given: false } }, 'carl-no');
		expect(refused.body).toMatchObject({ status: 'rejected', reasons: ['CONSENT_MISSING'] });
		// the consent is kept after an erasure: free text in it (which may name the person) is not
		const noted = await post(
			{
				...lead(carl),
				consent: {
					given: true,
					timestamp: `on the phone with ${carl.name}`,
					text_version: `sent to ${carl.email}, ${carl.phone}`,
				},
			},
			'carl-noted',
		);
		const [notedEvent] = await stack.sql`
			SELECT payload FROM audit_events
			WHERE run_id = ${noted.body.run_id as string} AND event_type = 'lead_received'`;
		expect((notedEvent!.payload as { consent: unknown }).consent).toEqual({
			given: true,
			timestamp: '[withheld]',
			text_version: '[withheld]',
		});
		const given = await post({ ...lead(carl), consent }, 'carl-yes');
		expect(given.body).toMatchObject({ status: 'accepted', run_status: 'processed' });

		const received = async () =>
			(
				await stack.sql`
					SELECT payload FROM audit_events
					WHERE run_id = ${given.body.run_id as string} AND event_type = 'lead_received'`
			)[0]!.payload as Record<string, unknown>;
		expect((await received()).consent).toEqual(consent);
		await stack.internal('POST', '/internal/privacy/erase', { email: carl.email });
		expect(await received()).toEqual({ source: expect.any(String), consent, erased: true });
	} finally {
		const restored = await stack.internal('PUT', '/internal/rules', { document: original });
		expect(restored.status).toBe(200);
	}
});

test('a phone number written nationally finds its person after the rules changed the region such numbers are read in', async () => {
	const own = await startStack({
		duplicates: { window_hours: 24, identity: 'email_or_phone', default_phone_region: 'DE' },
	});
	try {
		const phone = '0170 5550123';
		const lead = await postLead(own.url, validLead({ email: 'rita.region@example.com', phone }));
		// delivered: its raw copy is gone, only its phone identity (read in DE) can find it by phone
		expect(lead.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
		const { document } = (await own.internal('GET', '/internal/rules')).body as {
			document: { duplicates: Record<string, unknown> };
		};
		document.duplicates.default_phone_region = 'AT';
		const saved = await own.internal('PUT', '/internal/rules', { document, note: 'Austria' });
		const version = saved.body.version as number;
		await waitFor(
			() =>
				own.logs.some(
					(line) =>
						line.includes('"rules in force"') && line.includes(`"rules_version":${version},`),
				),
			{ what: `rules version ${version} in force` },
		);
		const exported = await own.internal('POST', '/internal/privacy/export', { phone });
		expect((exported.body.runs as { run_id: string }[]).map((run) => run.run_id)).toEqual([
			lead.body.run_id,
		]);
		const erased = await own.internal('POST', '/internal/privacy/erase', { phone });
		expect(erased.body.run_ids).toEqual([lead.body.run_id]);
	} finally {
		await own.close();
	}
});

test('a lead stored before addresses were taken in NFC is found by its address in either form', async () => {
	const decomposed = 'josé.accent@example.com'.normalize('NFD');
	const [run] = await stack.sql<{ run_id: string }[]>`
		INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
		VALUES (gen_random_uuid(), 'nfd-stored-1', 'seed', 'seed', 'rejected', ${hashEmail(decomposed, SALT)})
		RETURNING run_id`;
	for (const email of ['José.Accent@example.com'.normalize('NFC'), decomposed]) {
		const exported = await stack.internal('POST', '/internal/privacy/export', { email });
		expect([email, (exported.body.runs as { run_id: string }[]).map((r) => r.run_id)]).toEqual([
			email,
			[run!.run_id],
		]);
	}
});

test('a person is found by e-mail through an index, not by reading every run', async () => {
	const connection = await stack.sql.reserve();
	try {
		await connection`SET enable_seqscan = off`;
		const plan = await connection<{ 'QUERY PLAN': string }[]>`
			EXPLAIN SELECT run_id FROM runs WHERE email_hash = ${'a'.repeat(64)}
			ORDER BY received_at, run_id`;
		expect(plan.map((row) => row['QUERY PLAN']).join('\n')).toContain('runs_email_hash_idx');
	} finally {
		await connection`RESET enable_seqscan`;
		connection.release();
	}
});

test("a lead sent under the key an erasure gives a run is refused, so it cannot block that run's erasure", async () => {
	const sam: Person = {
		email: 'sam.squatted@example.com',
		phone: '+49 170 5550011',
		name: 'Sam Squatted',
		street: 'Vorweg 11',
	};
	const first = await post(lead(sam), 'sam-1');
	expect(first.status).toBe(200);
	const placeholder = `erased:${first.body.run_id as string}`;
	const squatter = await post(lead({ ...sam, email: 'mallory@example.com' }), placeholder);
	expect(squatter.status).toBe(400);
	expect(squatter.body).toMatchObject({ code: 'webhook_id_invalid' });
	const legacy = await postLead(stack.url, validLead(), {
		key: placeholder,
		scheme: 'v1',
		timestamp: String(Math.floor(stack.clock.now.getTime() / 1000)),
	});
	expect(legacy.body).toMatchObject({ code: 'idempotency_key_invalid' });

	const erased = await stack.internal('POST', '/internal/privacy/erase', { email: sam.email });
	expect(erased.status).toBe(200);
	expect(erased.body).toMatchObject({ counts: { runs: 1 } });
	const [run] = await stack.sql`
		SELECT idempotency_key FROM runs WHERE run_id = ${first.body.run_id as string}`;
	expect(run!.idempotency_key).toBe(placeholder);
});

test('retention on an injected clock: old runs anonymised, old alert files deleted, KPI rows kept, recent records untouched', async () => {
	const old: Person = {
		email: 'olga.old@example.com',
		phone: '+49 170 5550007',
		name: 'Olga Oldtimer',
		street: 'Altweg 7',
	};
	const fresh: Person = {
		email: 'fred.fresh@example.com',
		phone: '+49 170 5550008',
		name: 'Fred Fresh',
		street: 'Neuweg 8',
	};
	const first = await post(lead(old), 'olga-1');
	expect(first.status).toBe(200);
	// olga's lead arrived 400 days ago (the record's times are the database's: moved back here)
	await stack.sql`
		UPDATE runs SET received_at = received_at - interval '400 days' WHERE idempotency_key = 'olga-1'`;
	const oldFile = `20250101T000000Z_${first.body.run_id as string}.json`;
	await writeFile(join(stack.alertsDir, oldFile), JSON.stringify({ lead: old }));
	// a refused signature recorded 100 days ago, past the alert files' window, and one of today
	const refusal = (bucketKey: string) => ({
		reason: 'signature_invalid',
		bucketKey,
		count: 3,
		payload: {
			bucket_start: '2025-01-01T00:00:00.000Z',
			first_request: { client: '203.0.113.7', headers: {}, body_bytes: 10, body_sha256: 'ab' },
		},
	});
	await recordSignatureFailures(stack.sql, [
		refusal('retention-test:old'),
		refusal('retention-test:new'),
	]);
	await stack.sql`
		UPDATE dlq SET created_at = created_at - interval '100 days'
		WHERE bucket_key = 'retention-test:old'`;
	const kpiBefore = await kpiOfToday();
	const day = stack.clock.now.toISOString().slice(0, 10);

	// the processor's clock a month on: inside every window for what arrived today
	stack.clock.advance(30 * 86_400);
	const recent = await post(lead(fresh), 'fred-1');
	expect(recent.status).toBe(200);

	const pass = await stack.internal('POST', '/internal/privacy/retention', {});
	expect(pass.status).toBe(200);
	expect(pass.body.runs_anonymised).toBeGreaterThanOrEqual(1);
	expect(pass.body.alert_files_deleted).toBeGreaterThanOrEqual(1);
	expect(await readdir(stack.alertsDir)).not.toContain(oldFile);
	expect(pass.body.refused_requests_cleared).toBe(1);
	const refusals = await stack.sql`
		SELECT bucket_key, occurrences, payload FROM dlq
		WHERE bucket_key LIKE 'retention-test:%' ORDER BY bucket_key`;
	expect(refusals).toEqual([
		{
			bucket_key: 'retention-test:new',
			occurrences: 3,
			payload: refusal('retention-test:new').payload,
		},
		// the reason and the count stay; the client address and the request go
		{
			bucket_key: 'retention-test:old',
			occurrences: 3,
			payload: { bucket_start: '2025-01-01T00:00:00.000Z' },
		},
	]);
	for (const needle of needlesOf(old))
		expect([needle, await findEverywhere(needle)]).toEqual([needle, []]);
	expect(await findEverywhere(hashEmail(fresh.email, SALT))).toContain('runs.email_hash');
	const [kpiAfter] = await stack.sql`
		SELECT received_count, processed_count, rejected_count, failed_count, duplicate_count
		FROM kpi_daily WHERE day = ${day}::date`;
	expect(kpiAfter).toEqual(kpiBefore);
	const [event] = await stack.sql`
		SELECT payload FROM audit_events WHERE event_type = 'retention_applied' ORDER BY event_id DESC LIMIT 1`;
	expect(event!.payload).toEqual(pass.body);
	// the day's stakeholder report says what was removed (counts only)
	const [{ passDay }] = await stack.sql<{ passDay: string }[]>`
		SELECT to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS "passDay" FROM audit_events
		WHERE event_type = 'retention_applied' ORDER BY event_id DESC LIMIT 1`;
	const report = await stack.internal('POST', '/internal/kpi/compute-daily', { date: passDay });
	expect(report.status).toBe(200);
	expect(await readFile(join(stack.alertsDir, `kpi_${passDay}.md`), 'utf8')).toContain(
		`## Removed by retention\n\n${retentionLine(pass.body as unknown as RetentionRemoved)}`,
	);

	const again = await stack.internal('POST', '/internal/privacy/retention', {});
	expect(again.body).toEqual({
		raw_leads_purged: 0,
		runs_anonymised: 0,
		alert_files_deleted: 0,
		refused_requests_cleared: 0,
		more: false,
	});
});

test('retention leaves a lead answered on store and still queued for the CRM, however old', async () => {
	// a database of its own: no deliverer claims the queued run while retention looks at it
	await withOwnDatabase(2, async (sql) => {
		const received = new Date(stack.clock.now.getTime() - 400 * 86_400_000);
		for (const [key, status] of [
			['old-queued', 'queued'],
			['old-processed', 'processed'],
		]) {
			await sql`
				INSERT INTO runs (run_id, idempotency_key, fingerprint, source, received_at, status)
				VALUES (gen_random_uuid(), ${key!}, 'seed', 'seed', ${received}, ${status!})`;
		}
		const batch = await retentionBatch(sql, {
			rawCutoff: null,
			runCutoff: new Date(received.getTime() + 86_400_000),
			refusalCutoff: null,
			limit: 10,
		});
		expect(batch).toMatchObject({ anonymised: 1 });
		const runs = await sql`
			SELECT status, erased_at IS NOT NULL AS erased FROM runs ORDER BY status`;
		expect(runs).toEqual([
			{ status: 'processed', erased: true },
			{ status: 'queued', erased: false },
		]);
	});
});

test("retention anonymises a person's first run with its identities, and closes a dead item as an erasure does", async () => {
	// the same-person check on (as shipped): a first run keeps its identities until it is anonymised
	await withOwnDatabase(2, async (sql) => {
		const received = new Date(stack.clock.now.getTime() - 400 * 86_400_000);
		const [first] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, received_at, status, email_hash)
			VALUES (gen_random_uuid(), 'old-first', 'seed', 'seed', ${received}, 'failed', 'hash-of-old')
			RETURNING run_id`;
		await sql`
			INSERT INTO person_identities (identity_hash, run_id, match)
			VALUES (${'e'.repeat(64)}, ${first!.run_id}, 'email'), (${'f'.repeat(64)}, ${first!.run_id}, 'phone')`;
		await sql`
			INSERT INTO dlq (run_id, reason, payload, status, next_retry_at)
			VALUES (${first!.run_id}, 'crm_http_400', '{"body": {"email": "o***@example.com"}}', 'dead', NULL)`;
		const batch = await retentionBatch(sql, {
			rawCutoff: null,
			runCutoff: new Date(received.getTime() + 86_400_000),
			refusalCutoff: null,
			limit: 10,
		});
		expect(batch).toMatchObject({ anonymised: 1 });
		expect(await sql`SELECT identity_hash FROM person_identities`).toEqual([]);
		expect(await sql`SELECT status, payload FROM dlq`).toEqual([
			{ status: 'resolved', payload: { erased: true } },
		]);
		const summary = await ledger(
			sql,
			{ from: received, to: new Date(received.getTime() + 1) },
			new Date(0),
		);
		expect(summary).toMatchObject({ received: 1, erased: 1, dead: 0, balanced: true });
	});
});

test('an erasure that waited for a writer of its run erases what that writer added meanwhile', async () => {
	// a database of its own: the rows are staged by hand, nothing else writes them
	await withOwnDatabase(3, async (sql) => {
		const [run] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
			VALUES (gen_random_uuid(), 'writer-1', 'seed', 'seed', 'accepted', 'hash-of-writer')
			RETURNING run_id`;
		const runId = run!.run_id;
		// a failed delivery writing its attempt, DLQ item and event: it holds the run (its rows
		// reference it) until it commits, and commits only once the erasure is waiting for it
		const writer = await sql.reserve();
		try {
			await writer`BEGIN`;
			await writer`
				INSERT INTO delivery_attempts (run_id, attempt_no, trigger, duration_ms, status_code, success, error)
				VALUES (${runId}, 1, 'intake', 5, 500, false, 'CRM said: writer@example.com is taken')`;
			await writer`
				INSERT INTO dlq (run_id, reason, payload, status, next_retry_at, last_error)
				VALUES (${runId}, 'crm_http_500', '{"body": {"email": "w***@example.com"}}', 'open', now(), 'CRM said: writer@example.com is taken')`;
			await writer`
				INSERT INTO audit_events (run_id, event_type, actor, payload)
				VALUES (${runId}, 'delivery_failed', 'processor', '{"error": "CRM said: writer@example.com is taken"}')`;
			await writer`UPDATE runs SET status = 'failed' WHERE run_id = ${runId}`;
			const erasing = eraseAndRecord(
				sql,
				[runId],
				erasureRequest('erase-behind-writer', ['hash-of-writer'], new Date()),
			);
			await lockWaits(sql, 1, 'the erasure waiting for the writer');
			await writer`COMMIT`;
			const { erased, record } = await erasing;
			expect(erased.counts).toEqual({
				runs: 1,
				audit_events: 1,
				delivery_attempts: 1,
				dlq_items: 1,
				retries_stopped: 1,
			});
			expect(record).toMatchObject({ crm_status: 'pending' });
		} finally {
			writer.release();
		}
		const left = await sql`
			SELECT (SELECT status FROM dlq WHERE run_id = ${runId}) AS dlq_status,
				(SELECT payload FROM dlq WHERE run_id = ${runId}) AS dlq_payload,
				(SELECT last_error FROM dlq WHERE run_id = ${runId}) AS dlq_error,
				(SELECT error FROM delivery_attempts WHERE run_id = ${runId}) AS attempt_error,
				(SELECT payload FROM audit_events WHERE run_id = ${runId} AND event_type = 'delivery_failed') AS event`;
		expect(left).toEqual([
			{
				dlq_status: 'resolved',
				dlq_payload: { erased: true },
				dlq_error: null,
				attempt_error: null,
				event: { erased: true },
			},
		]);
	});
});

test('an erasure that waited for a same-person check of its run deletes the identities that check recorded meanwhile', async () => {
	await withOwnDatabase(3, async (sql) => {
		const [run] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
			VALUES (gen_random_uuid(), 'checked-1', 'seed', 'seed', 'accepted', 'hash-of-checked')
			RETURNING run_id`;
		const runId = run!.run_id;
		const identities = [{ hash: 'c'.repeat(64), match: 'email' as const }];
		// the recovery's same-person check of the run: it holds the run until it commits, and
		// commits only once the erasure is waiting for it
		const checker = await sql.reserve();
		try {
			await checker`BEGIN`;
			await claimPerson(
				checker as unknown as Parameters<typeof claimPerson>[0],
				{ runId, correlationId: null, identities, windowHours: 24, policy: 'drop', queue: false },
				5000,
			);
			const erasing = eraseAndRecord(
				sql,
				[runId],
				erasureRequest('erase-behind-check', ['hash-of-checked'], new Date()),
			);
			await lockWaits(sql, 1, 'the erasure waiting for the check');
			await checker`COMMIT`;
			expect((await erasing).erased.counts.runs).toBe(1);
		} finally {
			checker.release();
		}
		expect(await sql`SELECT identity_hash FROM person_identities`).toEqual([]);
		// a later lead of the person is nobody's repeat: the erased run is no first run
		const [later] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status)
			VALUES (gen_random_uuid(), 'checked-2', 'seed', 'seed', 'accepted') RETURNING run_id`;
		expect(
			await claimPerson(
				sql,
				{
					runId: later!.run_id,
					correlationId: null,
					identities,
					windowHours: 24,
					policy: 'drop',
					queue: false,
				},
				5000,
			),
		).toBeNull();
	});
});

test('a repeat of a lead that waited for the erasure of its run records no key', async () => {
	await withOwnDatabase(4, async (sql) => {
		const [run] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
			VALUES (gen_random_uuid(), 'repeat-key-1', 'fp-1', 'seed', 'failed', 'hash-of-repeat')
			RETURNING run_id`;
		const runId = run!.run_id;
		await sql`
			INSERT INTO audit_events (run_id, event_type, actor, payload)
			VALUES (${runId}, 'delivery_failed', 'processor', '{}')`;
		// the test holds the run's event: the erasure locks the run, then waits here
		const holder = await sql.reserve();
		try {
			await holder`BEGIN`;
			await holder`SELECT 1 FROM audit_events WHERE run_id = ${runId} FOR UPDATE`;
			const erasing = eraseAndRecord(
				sql,
				[runId],
				erasureRequest('erase-under-repeat', ['hash-of-repeat'], new Date()),
			);
			const waiting = (count: number) => lockWaits(sql, count, `${count} statements waiting`);
			await waiting(1);
			// the repeat finds the run by its key, then waits for the erasure to record its event
			const repeating = findRepeat(sql, {
				idempotencyKey: 'repeat-key-1',
				fingerprint: 'fp-1',
				correlationId: 'repeat-under-erasure',
				inFlightIsRepeat: false,
				deadlineMs: 10_000,
			});
			await waiting(2);
			await holder`COMMIT`;
			await erasing;
			expect((await repeating)?.runId).toBe(runId);
		} finally {
			holder.release();
		}
		expect(
			await sql`
				SELECT payload FROM audit_events WHERE run_id = ${runId} AND event_type = 'lead_duplicate'`,
		).toEqual([{ payload: { erased: true } }]);
	});
});

test("the CRM is asked to erase a first run's record only after the later leads on their way under its key, a housemate's too", async () => {
	await withOwnDatabase(3, async (sql) => {
		const erase = (runId: string, now: Date) =>
			eraseAndRecord(sql, [runId], erasureRequest(`erase-${runId}`, ['hash-of-first'], now));
		const firstRun = async (key: string) => {
			const [row] = await sql<{ run_id: string }[]>`
				INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
				VALUES (gen_random_uuid(), ${key}, 'fp', 'seed', 'processed', 'hash-of-first')
				RETURNING run_id`;
			await sql`
				INSERT INTO person_identities (identity_hash, run_id, match)
				VALUES (${key.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a')}, ${row!.run_id}, 'email')`;
			return row!.run_id;
		};
		// a first run alone: a lead of the person checked during the erasure may be on its way under
		// its key, so the CRM is asked no sooner than the accepted lease
		const now = new Date();
		const alone = await firstRun('first-alone');
		const { record: aloneRecord } = await erase(alone, now);
		expect(aloneRecord!.crm_next_at!.getTime()).toBeGreaterThanOrEqual(now.getTime() + 10_000);

		// a housemate's lead (same phone, another e-mail, so not erased with it), sent under the
		// first run's key and being retried under a claim of an hour
		const first = await firstRun('first-with-housemate');
		const [housemate] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash, duplicate_of, duplicate_match)
			VALUES (gen_random_uuid(), 'housemate-1', 'fp', 'seed', 'failed', 'hash-of-housemate', ${first}, 'phone')
			RETURNING run_id`;
		const claimEnds = new Date(now.getTime() + 3600_000);
		await sql`
			INSERT INTO dlq (run_id, reason, payload, status, next_retry_at, locked_until, lease_token)
			VALUES (${housemate!.run_id}, 'crm_http_500', '{}', 'retrying', NULL, ${claimEnds}, gen_random_uuid())`;
		const { record } = await erase(first, now);
		expect(record!.crm_next_at!.getTime()).toBeGreaterThanOrEqual(claimEnds.getTime());
	});
});

test.each([
	['a DLQ retry', 'open'],
	["an operator's retry of a dead lead", 'dead'],
	['a deliverer', 'queued'],
] as const)(
	"a housemate's lead claimed by %s while the erasure runs is waited for: the CRM is asked only after its claim",
	async (_claimant, waiting) => {
		const status = waiting === 'queued' ? 'queued' : 'failed';
		await withOwnDatabase(4, async (sql) => {
			const [first] = await sql<{ run_id: string }[]>`
				INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
				VALUES (gen_random_uuid(), 'first-claimed', 'fp', 'seed', 'processed', 'hash-of-first')
				RETURNING run_id`;
			// sent as an update of the first lead's record (policy update), under its key
			const [housemate] = await sql<{ run_id: string }[]>`
				INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash, duplicate_of, duplicate_match)
				VALUES (gen_random_uuid(), 'housemate-claimed', 'fp', 'seed', ${status}, 'hash-of-housemate', ${first!.run_id}, 'phone')
				RETURNING run_id`;
			const housemateId = housemate!.run_id;
			if (status === 'failed') {
				await sql`
					INSERT INTO dlq (run_id, reason, payload, status, next_retry_at)
					VALUES (${housemateId}, 'crm_http_500', '{}', ${waiting}, now())`;
			}
			const now = new Date();
			const claimEnds = new Date(now.getTime() + 3600_000);
			// the claim is being made (it has read the first run's key) when the erasure starts
			const claimant = await sql.reserve();
			try {
				await claimant`BEGIN`;
				if (status === 'failed') {
					await claimant`
						UPDATE dlq SET status = 'retrying', next_retry_at = NULL, locked_until = ${claimEnds},
							lease_token = gen_random_uuid()
						WHERE run_id = ${housemateId}`;
				} else {
					await claimant`
						UPDATE runs SET status = 'accepted', lease_owner = 'deliverer', lease_until = ${claimEnds}
						WHERE run_id = ${housemateId}`;
				}
				const erasing = eraseAndRecord(
					sql,
					[first!.run_id],
					erasureRequest('erase-while-claimed', ['hash-of-first'], now),
				);
				await lockWaits(sql, 1, 'the erasure waiting for the claim');
				await claimant`COMMIT`;
				const { record } = await erasing;
				expect(record!.crm_next_at!.getTime()).toBeGreaterThanOrEqual(claimEnds.getTime());
			} finally {
				claimant.release();
			}
		});
	},
);

test('an erasure that deadlocks with a writer of its rows is made again, not failed', async () => {
	await withOwnDatabase(4, async (sql) => {
		const [first] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
			VALUES (gen_random_uuid(), 'first-deadlock', 'fp', 'seed', 'processed', 'hash-of-first')
			RETURNING run_id`;
		const [housemate] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash, duplicate_of, duplicate_match)
			VALUES (gen_random_uuid(), 'housemate-deadlock', 'fp', 'seed', 'failed', 'hash-of-housemate', ${first!.run_id}, 'phone')
			RETURNING run_id`;
		await sql`
			INSERT INTO dlq (run_id, reason, payload, status, next_retry_at)
			VALUES (${housemate!.run_id}, 'crm_http_500', '{}', 'open', now())`;
		// another transaction holds the housemate's item, then wants the first run the erasure holds
		const writer = await sql.reserve();
		try {
			await writer`BEGIN`;
			await writer`SELECT 1 FROM dlq WHERE run_id = ${housemate!.run_id} FOR UPDATE`;
			const erasing = eraseAndRecord(
				sql,
				[first!.run_id],
				erasureRequest('erase-deadlock', ['hash-of-first'], new Date()),
			);
			await lockWaits(sql, 1, 'the erasure waiting for the item', 10);
			// the erasure, waiting longest (its deadlock check comes first, a second after its wait
			// began), finds the deadlock and gives way; its next attempt waits for this transaction and
			// then erases
			await writer`SELECT 1 FROM runs WHERE run_id = ${first!.run_id} FOR UPDATE`;
			await writer`COMMIT`;
			const { erased } = await erasing;
			expect(erased.runIds).toEqual([first!.run_id]);
		} finally {
			writer.release();
		}
	});
});

test("an erasure takes its runs' DLQ items before the runs, as a retry's settle does: the two never deadlock", async () => {
	await withOwnDatabase(4, async (sql) => {
		const [run] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
			VALUES (gen_random_uuid(), 'settling-1', 'fp', 'seed', 'failed', 'hash-of-settling')
			RETURNING run_id`;
		const runId = run!.run_id;
		await sql`
			INSERT INTO dlq (run_id, reason, payload, status, next_retry_at)
			VALUES (${runId}, 'crm_http_500', '{}', 'open', now())`;
		// a retry's settle (or an operator's resolve) has written the person's own item ...
		const settle = await sql.reserve();
		try {
			await settle`BEGIN`;
			await settle`UPDATE dlq SET retry_count = retry_count + 1 WHERE run_id = ${runId}`;
			const erasing = eraseAndRecord(
				sql,
				[runId],
				erasureRequest('erase-while-settling', ['hash-of-settling'], new Date()),
			);
			await lockWaits(sql, 1, 'the erasure waiting for the item');
			// ... and goes on to its run: the erasure, waiting for the item, holds no run yet
			await settle`SELECT 1 FROM runs WHERE run_id = ${runId} FOR UPDATE NOWAIT`;
			await settle`UPDATE runs SET updated_at = now() WHERE run_id = ${runId}`;
			await settle`COMMIT`;
			const { erased } = await erasing;
			expect(erased.runIds).toEqual([runId]);
			expect(erased.counts.dlq_items).toBe(1);
		} finally {
			settle.release();
		}
	});
});

test("retention passes over a run whose dead item a replay's settle holds: the two never deadlock, the next batch takes it", async () => {
	await withOwnDatabase(4, async (sql) => {
		const received = new Date(stack.clock.now.getTime() - 400 * 86_400_000);
		const [run] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, received_at, status, email_hash)
			VALUES (gen_random_uuid(), 'old-replayed', 'seed', 'seed', ${received}, 'failed', 'hash-of-replayed')
			RETURNING run_id`;
		const runId = run!.run_id;
		await sql`
			INSERT INTO dlq (run_id, reason, payload, status, next_retry_at)
			VALUES (${runId}, 'crm_http_500', '{}', 'dead', NULL)`;
		const oldRuns = {
			rawCutoff: null,
			runCutoff: new Date(received.getTime() + 86_400_000),
			refusalCutoff: null,
			limit: 10,
		};
		// a replay's settle has written the dead item, and goes on to its run ...
		const settle = await sql.reserve();
		try {
			await settle`BEGIN`;
			await settle`UPDATE dlq SET retry_count = retry_count + 1 WHERE run_id = ${runId}`;
			// ... while retention runs: it neither waits for the item nor holds the run
			const batch = await retentionBatch(sql, oldRuns);
			expect(batch).toMatchObject({ anonymised: 0 });
			await settle`SELECT 1 FROM runs WHERE run_id = ${runId} FOR UPDATE NOWAIT`;
			await settle`UPDATE runs SET updated_at = now() WHERE run_id = ${runId}`;
			await settle`COMMIT`;
		} finally {
			settle.release();
		}
		expect(await retentionBatch(sql, oldRuns)).toMatchObject({ anonymised: 1 });
		expect(await sql`SELECT status, payload FROM dlq`).toEqual([
			{ status: 'resolved', payload: { erased: true } },
		]);
	});
});

test('an erasure behind a table another statement holds (a migration altering it) is busy after its lock timeout, not the statement timeout', async () => {
	const held: Person = {
		email: 'held.table@example.com',
		phone: '+49 170 5550077',
		name: 'Tabitha Held',
		street: 'Sperrgasse 1',
	};
	expect((await post(lead(held), 'held-table-1')).status).toBe(200);
	const migration = await stack.sql.reserve();
	try {
		await migration`BEGIN`;
		await migration`LOCK TABLE dlq IN ACCESS EXCLUSIVE MODE`;
		const answer = await stack.internal('POST', '/internal/privacy/erase', { email: held.email });
		// the statement timeout (30 s) would answer "the database is unavailable"
		expect(answer.status).toBe(503);
		expect(answer.body).toMatchObject({
			code: 'database_unavailable',
			detail: expect.stringContaining('held by other work'),
		});
	} finally {
		await migration`ROLLBACK`;
		migration.release();
	}
	const again = await stack.internal('POST', '/internal/privacy/erase', { email: held.email });
	expect(again.status).toBe(200);
	expect(again.body).toMatchObject({ counts: { runs: 1 } });
}, 60_000);

test('a CRM call that fails after its person was erased writes its attempt and event without the error text', async () => {
	await withOwnDatabase(2, async (sql) => {
		const [run] = await sql<{ run_id: string }[]>`
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, status, email_hash)
			VALUES (gen_random_uuid(), 'late-1', 'seed', 'seed', 'accepted', 'hash-of-late')
			RETURNING run_id`;
		const runId = run!.run_id;
		// the delivery's call is under way when the person is erased ...
		await eraseAndRecord(sql, [runId], {
			lockTimeoutMs: 1000,
			alertFiles: 0,
			requestedBy: 'dpo@company',
			correlationId: 'erase-before-failure',
			now: new Date(),
			askedSubjects: [],
			inFlightSeconds: 10,
		});
		// ... and then fails, quoting the lead
		const quoted = 'CRM said: late@example.com is taken';
		const item = await recordIntakeFailure(
			sql,
			{
				runId,
				correlationId: 'late-failure',
				errorCode: 'crm_http_500',
				errorMessage: quoted,
				attempt: {
					runId,
					trigger: 'intake',
					attempt: { durationMs: 5, statusCode: 500, success: false, error: quoted },
				},
				dlq: {
					reason: 'crm_http_500',
					payload: { body: { email: 'l***@example.com' } },
					status: 'open',
					nextRetryAt: new Date(),
					lastError: quoted,
				},
				events: [
					{
						type: 'delivery_failed',
						actor: 'processor',
						payload: {
							reason: 'crm_http_500',
							status_code: 500,
							error: quoted,
							trigger: 'intake',
						},
					},
				],
			},
			5000,
		);
		expect(item).toBeNull();
		const written = await sql`
			SELECT (SELECT count(*)::int FROM delivery_attempts WHERE run_id = ${runId}) AS attempts,
				(SELECT count(error)::int FROM delivery_attempts WHERE run_id = ${runId}) AS errors,
				(SELECT array_agg(payload) FROM audit_events WHERE run_id = ${runId} AND event_type = 'delivery_failed') AS events,
				(SELECT count(*)::int FROM dlq WHERE run_id = ${runId}) AS items`;
		expect(written).toEqual([
			{
				attempts: 1,
				errors: 0,
				events: [{ erased: true, reason: 'crm_http_500', status_code: 500, trigger: 'intake' }],
				items: 0,
			},
		]);
	});
});
