import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockCrm, type RunningServer } from '@lead-intake-hub/mocks';
import { waitFor } from '@lead-intake-hub/stack';
import type { ReservedSql } from 'postgres';
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
 * A processor process whose database connection dies in the middle of its work: the backend is
 * terminated while the statement waits for a row lock this test holds. The request fails with a
 * clear answer and the process stays up (postgres.js 3.4.x writes to the dead socket of a
 * transaction it rolls back, from a callback nobody can catch: upstream #1154, #1208).
 */
let database: Awaited<ReturnType<typeof testDatabase>>;
let crm: RunningServer;
let sql: Sql;
let processor: ProcessorProcess;
let alertsDir: string;

beforeAll(async () => {
	database = await testDatabase();
	alertsDir = await mkdtemp(join(tmpdir(), 'lih-connection-loss-'));
	crm = await startMockCrm({ token: 'loss-crm-token' });
	sql = connect(database.url, { maxConnections: 3 });
	processor = await startProcessorProcess({
		DATABASE_URL: database.url,
		WEBHOOK_HMAC_SECRET: TEST_SECRET,
		EMAIL_HASH_SALT: 'loss-salt-0123',
		LEAD_ENCRYPTION_KEY: 'loss-lead-encryption-key-0123456789',
		SERVICE_TOKEN: TEST_SERVICE_TOKEN,
		CRM_URL: `${crm.url}/leads/upsert`,
		CRM_TOKEN: 'loss-crm-token',
		ALERTS_DIR: alertsDir,
	});
}, 60_000);
afterAll(async () => {
	await processor?.kill('SIGKILL');
	await sql?.end();
	await crm?.close();
	await database?.drop();
	if (alertsDir) await rm(alertsDir, { recursive: true, force: true });
});

function internal(path: string, body: unknown) {
	return fetch(`${processor.url}${path}`, {
		method: 'POST',
		headers: { authorization: `Bearer ${TEST_SERVICE_TOKEN}`, 'content-type': 'application/json' },
		body: JSON.stringify(body),
	}).then(async (response) => ({
		status: response.status,
		body: (await response.json()) as Record<string, unknown>,
	}));
}

/** Terminates the processor's backend that waits for a lock this test holds. */
async function terminateTheWaiter(): Promise<void> {
	await waitFor(
		async () => {
			const [row] = await sql<{ terminated: boolean }[]>`
				SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = 'lead-intake-processor'
					AND wait_event_type = 'Lock'
				LIMIT 1`;
			return row?.terminated ? true : null;
		},
		{ what: "the processor's statement waiting for the test's lock", intervalMs: 20 },
	);
}

async function stillUp(): Promise<void> {
	// a crash from a dead socket comes within a turn of the event loop: a later request shows it
	for (let probe = 0; probe < 5; probe++) {
		const alive = await fetch(`${processor.url}/livez`).catch((error: unknown) => {
			throw new Error(
				`the processor is gone (${String(error)}); it printed:\n${processor.lines.slice(-20).join('\n')}`,
			);
		});
		expect(alive.status).toBe(200);
	}
	expect(processor.child.exitCode).toBeNull();
	expect(processor.child.signalCode).toBeNull();
}

/**
 * Makes `call` wait for a lock this test holds (`lock`, in the test's own transaction),
 * terminates the processor's waiting backend, and returns the call's answer once the lock is
 * released and the process shown to be up.
 */
async function cutWhileWaiting(
	lock: (holder: ReservedSql) => Promise<unknown>,
	call: () => ReturnType<typeof internal>,
) {
	const holder = await sql.reserve();
	try {
		await holder`BEGIN`;
		await lock(holder);
		const answering = call();
		await terminateTheWaiter();
		return await answering;
	} finally {
		await holder`ROLLBACK`;
		holder.release();
		await stillUp();
	}
}

test('an erasure whose connection dies answers 503 and the process stays up; asked again, it erases', async () => {
	const lead = validLead({ email: 'lost.connection@example.com' });
	const stored = await postLead(processor.url, lead, { key: 'loss-1' });
	expect(stored.status).toBe(200);

	const answer = await cutWhileWaiting(
		(holder) => holder`SELECT 1 FROM runs WHERE idempotency_key = 'loss-1' FOR UPDATE`,
		() => internal('/internal/privacy/erase', { email: lead.email }),
	);
	expect(answer.status).toBe(503);
	expect(answer.body).toMatchObject({ code: 'database_unavailable' });

	const again = await internal('/internal/privacy/erase', { email: lead.email });
	expect(again).toMatchObject({ status: 200, body: { counts: { runs: 1 } } });
}, 60_000);

test('an alert whose connection dies answers 503 and the process stays up; sent again, it is written once', async () => {
	const alert = {
		alert_id: 'evt_connection_lost',
		severity: 'high',
		summary: 'CRM failed',
		run_id: null,
	};
	// an earlier call's claim that ran out, held by this test: the next call waits for its row
	await sql`
		INSERT INTO routed_alerts (alert_id, file, claimed_until)
		VALUES (${alert.alert_id}, NULL, now() - interval '1 minute')`;
	const answer = await cutWhileWaiting(
		async (holder) => {
			await holder`SELECT 1 FROM routed_alerts WHERE alert_id = ${alert.alert_id} FOR UPDATE`;
			// (a processor that serialises alerts with an advisory lock waits for this one instead)
			await holder`SELECT pg_advisory_xact_lock(hashtextextended(${`routed_alert:${alert.alert_id}`}, 0))`;
		},
		() => internal('/internal/alerts', alert),
	);
	expect(answer).toMatchObject({ status: 503, body: { code: 'database_unavailable' } });

	const again = await internal('/internal/alerts', alert);
	expect(again).toMatchObject({ status: 201, body: { created: true } });
	const repeat = await internal('/internal/alerts', alert);
	expect(repeat).toMatchObject({ status: 200, body: { file: again.body.file, created: false } });
}, 60_000);

test('a retention batch whose connection dies leaves the process up; the next pass anonymises', async () => {
	const stored = await postLead(processor.url, validLead(), { key: 'loss-old' });
	expect(stored.status).toBe(200);
	const runId = stored.body.run_id as string;
	await sql`UPDATE runs SET received_at = now() - interval '400 days' WHERE run_id = ${runId}`;
	const answer = await cutWhileWaiting(
		async (holder) => {
			const held = await holder`SELECT 1 FROM delivery_attempts WHERE run_id = ${runId} FOR UPDATE`;
			expect(held.length).toBeGreaterThan(0);
		},
		() => internal('/internal/privacy/retention', {}),
	);
	expect(answer).toMatchObject({ status: 503, body: { code: 'database_unavailable' } });

	const again = await internal('/internal/privacy/retention', {});
	expect(again).toMatchObject({ status: 200, body: { runs_anonymised: 1 } });
	const [run] = await sql`SELECT erased_at IS NOT NULL AS erased FROM runs WHERE run_id = ${runId}`;
	expect(run).toEqual({ erased: true });
}, 60_000);
