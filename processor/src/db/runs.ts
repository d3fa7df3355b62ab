import type postgres from 'postgres';
import type { JsonObject } from '../intake/lead-schema.js';
import { insertEvents, type AuditEvent } from './audit-events.js';
import type { Sql } from './connection.js';
import { insertDlqEntry, type NewDlqEntry } from './dlq.js';

/*
 * A run changes together with its satellites (audit events, delivery attempts, the encrypted
 * lead), so each transition below is atomic. The two on every lead's path (open, processed)
 * are single statements: one round trip, measurably faster under load than BEGIN..COMMIT.
 */

type Queryable = Sql | postgres.TransactionSql;

export type RunStatus = 'accepted' | 'processed' | 'failed' | 'rejected';
export type AttemptTrigger = 'intake' | 'retry' | 'operator';

export interface NewRun {
	runId: string;
	idempotencyKey: string;
	fingerprint: string;
	source: string;
	correlationId: string;
	emailHash: string | null;
	emailMasked: string | null;
	/** Set when the rules refused the lead: the run is born `rejected` and never sent on. */
	rejection: { reasons: string[]; message: string; event: JsonObject } | null;
	/** The encrypted raw lead, kept until delivery; absent for rejected leads. */
	sealedLead: Buffer | null;
	receivedEvent: JsonObject;
}

export interface ExistingRun {
	runId: string;
	status: RunStatus;
	fingerprint: string;
}

export interface AttemptRecord {
	durationMs: number;
	statusCode: number | null;
	success: boolean;
	error: string | null;
}

/**
 * Creates the run unless its idempotency key is taken. The unique index decides, so
 * concurrent requests with one key create exactly one run. Returns false when the key exists.
 */
export async function openRun(sql: Sql, run: NewRun): Promise<boolean> {
	const events: AuditEvent[] = [{ type: 'lead_received', actor: 'webhook', payload: run.receivedEvent }];
	if (run.rejection) events.push({ type: 'lead_rejected', actor: 'processor', payload: run.rejection.event });
	const rows = await sql`
		WITH new_run AS (
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, correlation_id, status,
				rejection_reasons, error_code, error_message, email_hash, email_masked, sealed_lead)
			VALUES (${run.runId}, ${run.idempotencyKey}, ${run.fingerprint}, ${run.source}, ${run.correlationId},
				${run.rejection ? 'rejected' : 'accepted'}, ${run.rejection?.reasons ?? null},
				${run.rejection?.reasons[0] ?? null}, ${run.rejection?.message ?? null}, ${run.emailHash}, ${run.emailMasked}, ${run.sealedLead})
			ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING run_id
		), events AS (${insertEventsOf(sql, sql`SELECT run_id FROM new_run`, run.correlationId, events)})
		SELECT run_id FROM new_run`;
	return rows.length === 1;
}

/**
 * The run holding this key. When the fingerprint matches, the repeat is audited as
 * `lead_duplicate` (KPI counts them); a different body is the caller's 422 and not audited.
 */
export async function findDuplicate(
	sql: Sql,
	idempotencyKey: string,
	fingerprint: string,
	correlationId: string,
): Promise<ExistingRun> {
	const [row] = await sql<{ run_id: string; status: RunStatus; fingerprint: string }[]>`
		WITH existing AS (
			SELECT run_id, status, fingerprint FROM runs WHERE idempotency_key = ${idempotencyKey}
		), repeat AS (
			INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
			SELECT run_id, 'lead_duplicate', 'webhook', ${sql.json({ idempotency_key: idempotencyKey })}, ${correlationId}
			FROM existing WHERE fingerprint = ${fingerprint}
		)
		SELECT run_id, status, fingerprint FROM existing`;
	if (!row) throw new Error(`run for idempotency key vanished`);
	return { runId: row.run_id, status: row.status, fingerprint: row.fingerprint };
}

export interface Delivery {
	runId: string;
	correlationId: string | null;
	trigger: AttemptTrigger;
	attempt: AttemptRecord;
	crmId: string | null;
	events: AuditEvent[];
}

/** The CRM has the lead: run `processed`, attempt recorded, events written, raw lead purged. */
export async function markProcessed(sql: Queryable, delivery: Delivery): Promise<void> {
	await sql`
		WITH run AS (
			UPDATE runs SET status = 'processed', crm_id = ${delivery.crmId}, processed_at = now(),
				updated_at = now(), error_code = NULL, error_message = NULL, sealed_lead = NULL
			WHERE run_id = ${delivery.runId}
			RETURNING run_id
		), attempt AS (${insertAttempt(sql, delivery.runId, delivery.trigger, delivery.attempt)}
		), events AS (${insertEventsOf(sql, sql`SELECT run_id FROM run`, delivery.correlationId, delivery.events)}
		)
		SELECT run_id FROM run`;
}

export interface IntakeFailure {
	runId: string;
	correlationId: string;
	errorCode: string;
	errorMessage: string;
	/** Absent when nothing was sent (forced failure). */
	attempt: AttemptRecord | null;
	dlq: Omit<NewDlqEntry, 'runId'>;
	/** Written after the DLQ row; each payload gains the `dlq_id`. */
	events: AuditEvent[];
}

/** After accept, delivery failed: run `failed`, DLQ entry and its events, one transaction. */
export async function markFailed(sql: Sql, failure: IntakeFailure): Promise<number> {
	return sql.begin(async (tx) => {
		await tx`
			UPDATE runs SET status = 'failed', error_code = ${failure.errorCode},
				error_message = ${failure.errorMessage}, updated_at = now()
			WHERE run_id = ${failure.runId}`;
		if (failure.attempt) await insertAttempt(tx, failure.runId, 'intake', failure.attempt);
		const dlqId = await insertDlqEntry(tx, { runId: failure.runId, ...failure.dlq });
		const events = failure.events.map((event) => ({ ...event, payload: { ...event.payload, dlq_id: dlqId } }));
		await insertEvents(tx, failure.runId, failure.correlationId, events);
		return dlqId;
	});
}

/** The attempt number is the run's next one, so intake and retries share one sequence. */
export function insertAttempt(
	sql: Queryable,
	runId: string,
	trigger: AttemptTrigger,
	attempt: AttemptRecord,
) {
	return sql`
		INSERT INTO delivery_attempts (run_id, attempt_no, trigger, duration_ms, status_code, success, error)
		SELECT ${runId}, COALESCE(MAX(attempt_no), 0) + 1, ${trigger}, ${attempt.durationMs},
			${attempt.statusCode}, ${attempt.success}, ${attempt.error}
		FROM delivery_attempts WHERE run_id = ${runId}`;
}

/**
 * Events for the run(s) a subquery yields, in list order (one INSERT, so event_id order is the
 * timeline order; sibling CTEs would run in no guaranteed order).
 */
function insertEventsOf(
	sql: Queryable,
	runs: postgres.PendingQuery<postgres.Row[]>,
	correlationId: string | null,
	events: readonly AuditEvent[],
) {
	return sql`
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		SELECT target.run_id, e.type, e.actor, e.payload, ${correlationId}
		FROM (${runs}) AS target
		CROSS JOIN jsonb_to_recordset(${sql.json(events as unknown as postgres.JSONValue)})
			AS e(type text, actor text, payload jsonb)`;
}

/** The raw lead is no longer needed (an operator closed its DLQ item by hand). */
export async function purgeSealedLead(sql: Queryable, runId: string): Promise<void> {
	await sql`UPDATE runs SET sealed_lead = NULL, updated_at = now() WHERE run_id = ${runId}`;
}

export interface RunRow {
	run_id: string;
	idempotency_key: string;
	source: string;
	correlation_id: string | null;
	status: RunStatus;
	error_code: string | null;
	error_message: string | null;
	rejection_reasons: string[] | null;
	email_hash: string | null;
	email_masked: string | null;
	crm_id: string | null;
	received_at: Date;
	processed_at: Date | null;
	updated_at: Date;
}

const RUN_COLUMNS = [
	'run_id',
	'idempotency_key',
	'source',
	'correlation_id',
	'status',
	'error_code',
	'error_message',
	'rejection_reasons',
	'email_hash',
	'email_masked',
	'crm_id',
	'received_at',
	'processed_at',
	'updated_at',
];

export async function findRun(sql: Sql, runId: string): Promise<RunRow | null> {
	const [row] = await sql<RunRow[]>`SELECT ${sql(RUN_COLUMNS)} FROM runs WHERE run_id = ${runId}`;
	return row ?? null;
}

export async function recentRuns(sql: Sql, filter: { status: RunStatus | null; limit: number }): Promise<RunRow[]> {
	const where = filter.status ? sql`WHERE status = ${filter.status}` : sql``;
	return sql<RunRow[]>`SELECT ${sql(RUN_COLUMNS)} FROM runs ${where} ORDER BY received_at DESC, run_id LIMIT ${filter.limit}`;
}

export async function runCountsByStatus(sql: Sql): Promise<Record<RunStatus, number>> {
	const rows = await sql<{ status: RunStatus; count: string }[]>`SELECT status, count(*) FROM runs GROUP BY status`;
	const counts: Record<RunStatus, number> = { accepted: 0, processed: 0, failed: 0, rejected: 0 };
	for (const row of rows) counts[row.status] = Number(row.count);
	return counts;
}

export async function attemptsOfRun(sql: Sql, runId: string) {
	return sql`
		SELECT attempt_no, trigger, attempted_at, duration_ms, status_code, success, error
		FROM delivery_attempts WHERE run_id = ${runId} ORDER BY attempt_no`;
}
