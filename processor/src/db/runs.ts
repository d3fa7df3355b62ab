import type postgres from 'postgres';
import type { JsonObject } from '../intake/lead-schema.js';
import { insertEventRows, insertEvents, type AuditEvent } from './audit-events.js';
import type { Sql } from './connection.js';
import { insertDlqEntry, type NewDlqEntry } from './dlq.js';
import { createBatcher } from './write-batcher.js';

/*
 * A run changes together with its satellites (audit events, delivery attempts, the encrypted
 * lead), so each transition below is atomic. The two on every lead's path (open, processed)
 * go to the database together: the intake groups the writes of concurrent leads, of both kinds,
 * into one statement (writeIntakeBatch, write-batcher.ts).
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
 * The intake's writes for a batch of leads, as one statement: creates each new run unless its
 * idempotency key is taken (the unique index decides, so concurrent requests with one key, in
 * one batch or not, create exactly one run) with its events, and marks delivered runs processed
 * (markProcessed). Returns the ids of the runs created.
 */
export async function writeIntakeBatch(
	sql: Sql,
	runs: readonly NewRun[],
	deliveries: readonly Delivery[],
): Promise<Set<string>> {
	if (runs.length === 0) {
		await markProcessed(sql, deliveries);
		return new Set();
	}
	// Postgres plans every part of a statement, empty or not: leave out what the batch lacks
	const processed = deliveries.length > 0 ? sql`, ${processedStatement(sql, deliveries)}` : sql``;
	const created = await sql<{ run_id: string }[]>`
		WITH ${newRunsStatement(sql, runs)}${processed}
		SELECT run_id FROM new_runs`;
	return new Set(created.map((row) => row.run_id));
}

/** CTEs `new_runs` (the runs created) and their events. Keys in order, so concurrent batches cannot deadlock. */
function newRunsStatement(sql: Queryable, runs: readonly NewRun[]) {
	const rows = runs.map((run) => ({
		run_id: run.runId,
		idempotency_key: run.idempotencyKey,
		fingerprint: run.fingerprint,
		source: run.source,
		correlation_id: run.correlationId,
		status: run.rejection ? 'rejected' : 'accepted',
		rejection_reasons: run.rejection?.reasons ?? null,
		error_code: run.rejection?.reasons[0] ?? null,
		error_message: run.rejection?.message ?? null,
		email_hash: run.emailHash,
		email_masked: run.emailMasked,
		sealed_lead: run.sealedLead?.toString('base64') ?? null,
	}));
	const events = runs.flatMap((run) => {
		const received: AuditEvent = {
			type: 'lead_received',
			actor: 'webhook',
			payload: run.receivedEvent,
		};
		const rejected: AuditEvent[] = run.rejection
			? [{ type: 'lead_rejected', actor: 'processor', payload: run.rejection.event }]
			: [];
		return [received, ...rejected].map((event) => ({
			...event,
			run_id: run.runId,
			correlation_id: run.correlationId,
		}));
	});
	return sql`
		new_run_input AS (
			SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}) AS x(
				run_id uuid, idempotency_key text, fingerprint text, source text, correlation_id text, status text,
				rejection_reasons text[], error_code text, error_message text, email_hash text, email_masked text,
				sealed_lead text)
		), new_runs AS (
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, correlation_id, status,
				rejection_reasons, error_code, error_message, email_hash, email_masked, sealed_lead)
			SELECT run_id, idempotency_key, fingerprint, source, correlation_id, status,
				rejection_reasons, error_code, error_message, email_hash, email_masked, decode(sealed_lead, 'base64')
			FROM new_run_input
			ORDER BY idempotency_key
			ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING run_id
		), new_run_events AS (${insertEventRows(sql, events, sql`WHERE e.run_id IN (SELECT run_id FROM new_runs)`)})`;
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

/** The CRM has the leads: runs `processed`, attempts recorded, events written, raw leads purged. */
export async function markProcessed(
	sql: Queryable,
	deliveries: readonly Delivery[],
): Promise<void> {
	await sql`WITH ${processedStatement(sql, deliveries)} SELECT 1`;
}

function processedStatement(sql: Queryable, deliveries: readonly Delivery[]) {
	const rows = deliveries.map((delivery) => ({ run_id: delivery.runId, crm_id: delivery.crmId }));
	const events = deliveries.flatMap((delivery) =>
		delivery.events.map((event) => ({
			...event,
			run_id: delivery.runId,
			correlation_id: delivery.correlationId,
		})),
	);
	return sql`
		delivered AS (
			SELECT * FROM jsonb_to_recordset(${sql.json(rows)}) AS x(run_id uuid, crm_id text)
		), processed_runs AS (
			UPDATE runs r SET status = 'processed', crm_id = d.crm_id, processed_at = now(), updated_at = now(),
				error_code = NULL, error_message = NULL, sealed_lead = NULL
			FROM delivered d
			-- the id list makes the run lookups index scans: the planner takes jsonb_to_recordset for
			-- 100 rows and, while runs holds a few thousand, would hash-join it against a full scan
			WHERE r.run_id = d.run_id AND r.run_id = ANY(${deliveries.map((delivery) => delivery.runId)}::uuid[])
		), delivery_attempts_written AS (${insertAttempts(sql, deliveries)}
		), delivered_events AS (${insertEventRows(sql, events)})`;
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
		if (failure.attempt)
			await insertAttempts(tx, [
				{ runId: failure.runId, trigger: 'intake', attempt: failure.attempt },
			]);
		const dlqId = await insertDlqEntry(tx, { runId: failure.runId, ...failure.dlq });
		const events = failure.events.map((event) => ({
			...event,
			payload: { ...event.payload, dlq_id: dlqId },
		}));
		await insertEvents(tx, failure.runId, failure.correlationId, events);
		return dlqId;
	});
}

/**
 * The one INSERT into delivery_attempts (one attempt per run per statement). The attempt number
 * is the run's next one, so intake and retries share one sequence.
 */
export function insertAttempts(
	sql: Queryable,
	attempts: readonly { runId: string; trigger: AttemptTrigger; attempt: AttemptRecord }[],
) {
	const rows = attempts.map(({ runId, trigger, attempt }) => ({
		run_id: runId,
		trigger,
		duration_ms: attempt.durationMs,
		status_code: attempt.statusCode,
		success: attempt.success,
		error: attempt.error,
	}));
	return sql`
		INSERT INTO delivery_attempts (run_id, attempt_no, trigger, duration_ms, status_code, success, error)
		SELECT a.run_id, COALESCE((SELECT max(d.attempt_no) FROM delivery_attempts d WHERE d.run_id = a.run_id), 0) + 1,
			a.trigger, a.duration_ms, a.status_code, a.success, a.error
		FROM jsonb_to_recordset(${sql.json(rows)})
			AS a(run_id uuid, trigger text, duration_ms integer, status_code integer, success boolean, error text)`;
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

export async function recentRuns(
	sql: Sql,
	filter: { status: RunStatus | null; limit: number },
): Promise<RunRow[]> {
	const where = filter.status ? sql`WHERE status = ${filter.status}` : sql``;
	return sql<
		RunRow[]
	>`SELECT ${sql(RUN_COLUMNS)} FROM runs ${where} ORDER BY received_at DESC, run_id LIMIT ${filter.limit}`;
}

export async function runCountsByStatus(sql: Sql): Promise<Record<RunStatus, number>> {
	const rows = await sql<
		{ status: RunStatus; count: string }[]
	>`SELECT status, count(*) FROM runs GROUP BY status`;
	const counts: Record<RunStatus, number> = { accepted: 0, processed: 0, failed: 0, rejected: 0 };
	for (const row of rows) counts[row.status] = Number(row.count);
	return counts;
}

export async function attemptsOfRun(sql: Sql, runId: string) {
	return sql`
		SELECT attempt_no, trigger, attempted_at, duration_ms, status_code, success, error
		FROM delivery_attempts WHERE run_id = ${runId} ORDER BY attempt_no`;
}

/** The intake's two hot writes, grouped with other leads in flight (see write-batcher.ts). */
export interface RunWriter {
	/** false when the idempotency key was taken. */
	open(run: NewRun): Promise<boolean>;
	processed(delivery: Delivery): Promise<void>;
}

type IntakeWrite = { kind: 'open'; run: NewRun } | { kind: 'processed'; delivery: Delivery };

/** Both kinds of write share one queue, so a batch is one statement and one commit whatever its mix. */
export function createRunWriter(
	sql: Sql,
	options: { maxBatch: number; maxInFlight: number },
): RunWriter {
	const write = createBatcher(async (writes: IntakeWrite[]) => {
		const runs = writes.flatMap((write) => (write.kind === 'open' ? [write.run] : []));
		const deliveries = writes.flatMap((write) =>
			write.kind === 'processed' ? [write.delivery] : [],
		);
		const created = await writeIntakeBatch(sql, runs, deliveries);
		return writes.map((write) => write.kind === 'open' && created.has(write.run.runId));
	}, options);
	return {
		open: (run) => write({ kind: 'open', run }),
		processed: async (delivery) => void (await write({ kind: 'processed', delivery })),
	};
}
