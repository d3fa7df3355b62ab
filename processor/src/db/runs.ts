import type postgres from 'postgres';
import type { AuditEvent, EventPayloads, IdentityMatch, RunStatus } from '../vocabulary.js';
import { insertEventRows, type EventRow } from './audit-events.js';
import type { Queryable, Sql } from './connection.js';
import { withDeadline } from './deadline.js';
import { insertAttempts, type RunAttempt } from './delivery-attempts.js';
import { createBatcher } from './write-batcher.js';

/*
 * A run changes together with its satellites (audit events, delivery attempts, the encrypted
 * lead), so each transition below is atomic. The two on every lead's path (open, processed)
 * go to the database together: the intake groups the writes of concurrent leads, of both kinds,
 * into one statement (writeIntakeBatch, write-batcher.ts).
 *
 * Ownership: an `accepted` run belongs to the request delivering it until its lease runs out;
 * then the recovery (dlq/recovery.ts) takes it by moving it to `failed` with a DLQ item. Every
 * later write of the intake is conditional on the run still being `accepted`, so exactly one of
 * the two settles it.
 */

type Fragment = postgres.PendingQuery<postgres.Row[]>;

export interface NewRun {
	runId: string;
	idempotencyKey: string;
	fingerprint: string;
	source: string;
	correlationId: string;
	emailHash: string | null;
	emailMasked: string | null;
	/** Set when the rules refused the lead: the run is born `rejected` and never sent on. */
	rejection: { reasons: string[]; missingFields: string[]; message: string } | null;
	/** The encrypted raw lead, kept until delivery; absent for rejected leads. */
	sealedLead: Buffer | null;
	/** Answered on store: born `queued`, for a deliverer to claim (ignored for a rejection). */
	queued?: boolean;
	/** Legacy-signed requests only: the signature may create this one run and no other. */
	signatureGuard: string | null;
	/** The rules version that decided the lead. */
	rulesVersion: number;
	receivedEvent: EventPayloads['lead_received'];
}

export interface ExistingRun {
	runId: string;
	status: RunStatus;
	fingerprint: string;
	receivedAt: Date;
	/** A deliverer's claim: it holds the run until then (null: the request's own, by receivedAt). */
	leaseUntil: Date | null;
}

export interface Delivery extends RunAttempt {
	correlationId: string | null;
	crmId: string | null;
	events: AuditEvent[];
	/** The run is marked processed only while it still has this status (see Ownership above). */
	fromStatus: 'accepted' | 'failed';
}

export interface IntakeBatchResult {
	/** Runs created (the others' keys, or signatures, were taken). */
	created: Set<string>;
	/** Runs marked processed (the others had changed hands). */
	processed: Set<string>;
}

/**
 * The intake's writes for a batch of leads, as one statement: creates each new run unless its
 * idempotency key is taken (the unique index decides, so concurrent requests with one key, in
 * one batch or not, create exactly one run) with its events, and marks delivered runs processed.
 */
export async function writeIntakeBatch(
	sql: Sql,
	runs: readonly NewRun[],
	deliveries: readonly Delivery[],
	deadlineMs: number,
): Promise<IntakeBatchResult> {
	// Postgres plans every part of a statement, empty or not: leave out what the batch lacks
	const grouped = runs.length + deliveries.length > 1;
	const parts = [
		...(runs.length > 0 ? [newRunsStatement(sql, runs)] : []),
		...(deliveries.length > 0 ? [processedStatement(sql, deliveries, { nowait: grouped })] : []),
	];
	const results = [
		...(runs.length > 0 ? [sql`SELECT run_id, true AS created FROM new_runs`] : []),
		...(deliveries.length > 0 ? [sql`SELECT run_id, false AS created FROM processed_runs`] : []),
	];
	const rows = await withDeadline(
		sql<{ run_id: string; created: boolean }[]>`
			WITH ${join(sql, parts, sql`, `)} ${join(sql, results, sql` UNION ALL `)}`,
		deadlineMs,
	);
	const result: IntakeBatchResult = { created: new Set(), processed: new Set() };
	for (const row of rows) (row.created ? result.created : result.processed).add(row.run_id);
	return result;
}

function join(
	sql: Queryable,
	fragments: postgres.PendingQuery<postgres.Row[]>[],
	separator: postgres.PendingQuery<postgres.Row[]>,
) {
	return fragments.reduce((joined, fragment, index) =>
		index === 0 ? fragment : sql`${joined}${separator}${fragment}`,
	);
}

/**
 * CTEs `new_runs` (the runs created) and their events. Keys in order, so concurrent batches cannot
 * deadlock. `samePerson`: the statement also has a CTE `first` of at most one row (run_id, match),
 * the first run of the lead's person (person-identities.ts); a run it finds is born naming it,
 * and under policy `drop` born `duplicate` without its sealed lead.
 */
export function newRunsStatement(
	sql: Queryable,
	runs: readonly NewRun[],
	samePerson?: { drop: boolean },
) {
	const rows = runs.map((run) => ({
		run_id: run.runId,
		idempotency_key: run.idempotencyKey,
		fingerprint: run.fingerprint,
		source: run.source,
		correlation_id: run.correlationId,
		status: run.rejection ? 'rejected' : run.queued ? 'queued' : 'accepted',
		rejection_reasons: run.rejection?.reasons ?? null,
		error_code: run.rejection?.reasons[0] ?? null,
		error_message: run.rejection?.message ?? null,
		email_hash: run.emailHash,
		email_masked: run.emailMasked,
		sealed_lead: run.sealedLead?.toString('base64') ?? null,
		signature_guard: run.signatureGuard,
		rules_version: run.rulesVersion,
	}));
	const events: EventRow[] = runs.flatMap((run) => {
		const events: AuditEvent[] = [
			{ type: 'lead_received', actor: 'webhook', payload: run.receivedEvent },
		];
		if (run.rejection) {
			const { reasons, missingFields } = run.rejection;
			events.push({
				type: 'lead_rejected',
				actor: 'processor',
				payload: { reasons, missing_fields: missingFields },
			});
		}
		return events.map((event) => ({
			...event,
			run_id: run.runId,
			correlation_id: run.correlationId,
		}));
	});
	const sealedLead = sql`decode(x.sealed_lead, 'base64')`;
	const dropped = samePerson?.drop ? sql`f.run_id IS NOT NULL` : sql`false`;
	const status = samePerson
		? sql`CASE WHEN ${dropped} THEN 'duplicate' ELSE x.status END`
		: sql`x.status`;
	const sealed = samePerson
		? sql`CASE WHEN ${dropped} THEN NULL ELSE ${sealedLead} END`
		: sealedLead;
	const duplicateOf = samePerson ? sql`f.run_id, f.match` : sql`NULL::uuid, NULL`;
	const firstOfPerson = samePerson ? sql`LEFT JOIN first f ON true` : sql``;
	return sql`
		new_run_input AS (
			SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}) AS x(
				run_id uuid, idempotency_key text, fingerprint text, source text, correlation_id text, status text,
				rejection_reasons text[], error_code text, error_message text, email_hash text, email_masked text,
				sealed_lead text, signature_guard text, rules_version integer)
			-- a legacy signature already used (with any key) creates nothing: the caller sorts out why
			WHERE (x.signature_guard IS NULL
				OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.signature_guard = x.signature_guard))
		), new_runs AS (
			INSERT INTO runs (run_id, idempotency_key, fingerprint, source, correlation_id, status,
				rejection_reasons, error_code, error_message, email_hash, email_masked, sealed_lead, signature_guard,
				rules_version, duplicate_of, duplicate_match)
			SELECT x.run_id, x.idempotency_key, x.fingerprint, x.source, x.correlation_id, ${status},
				x.rejection_reasons, x.error_code, x.error_message, x.email_hash, x.email_masked, ${sealed},
				x.signature_guard, x.rules_version, ${duplicateOf}
			FROM new_run_input x ${firstOfPerson}
			ORDER BY x.idempotency_key
			-- any unique index: the key, or a legacy signature another statement stored after this one
			-- began (its NOT EXISTS above could not see it); the caller sorts out which
			ON CONFLICT DO NOTHING
			RETURNING run_id
		), new_run_events AS (${insertEventRows(sql, events, { where: sql`e.run_id IN (SELECT run_id FROM new_runs)` })} RETURNING run_id)`;
}

export interface RepeatQuery {
	idempotencyKey: string;
	fingerprint: string;
	correlationId: string;
	/** Whether a run still in flight (`accepted`) answers the repeat `duplicate` too (answer on store). */
	inFlightIsRepeat: boolean;
	deadlineMs: number;
}

/**
 * The run holding this key, or null. A repeat that will be answered `duplicate` (same body, the
 * run past its delivery, or any stage when the repeat is answered on store) is audited as
 * `lead_duplicate` (the KPI counts them); a different body (the caller's 422) or a run still in
 * flight answered 409 is not.
 */
export async function findRepeat(
	sql: Sql,
	{ idempotencyKey, fingerprint, correlationId, inFlightIsRepeat, deadlineMs }: RepeatQuery,
): Promise<ExistingRun | null> {
	const payload: EventPayloads['lead_duplicate'] = { idempotency_key: idempotencyKey };
	const [row] = await withDeadline(
		sql<
			{
				run_id: string;
				status: RunStatus;
				fingerprint: string;
				received_at: Date;
				lease_until: Date | null;
			}[]
		>`
			WITH existing AS (
				SELECT run_id, status, fingerprint, received_at, lease_until FROM runs WHERE idempotency_key = ${idempotencyKey}
			), repeat AS (
				-- the key is the person's (a CRM record key): an erasure of the run that this statement
				-- waited for (the event references the run) leaves it out
				INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
				SELECT x.run_id, 'lead_duplicate', 'webhook',
					CASE WHEN (SELECT r.erased_at IS NOT NULL FROM runs r WHERE r.run_id = x.run_id FOR KEY SHARE)
						THEN '{"erased": true}'::jsonb ELSE ${sql.json(payload)} END,
					${correlationId}
				FROM existing x WHERE x.fingerprint = ${fingerprint} AND (x.status <> 'accepted' OR ${inFlightIsRepeat})
			)
			SELECT run_id, status, fingerprint, received_at, lease_until FROM existing`,
		deadlineMs,
	);
	return row
		? {
				runId: row.run_id,
				status: row.status,
				fingerprint: row.fingerprint,
				receivedAt: row.received_at,
				leaseUntil: row.lease_until,
			}
		: null;
}

/** Whether a legacy signature already created a run (so a request carrying it again is a replay). */
export async function signatureGuardTaken(
	sql: Sql,
	guard: string,
	deadlineMs: number,
): Promise<boolean> {
	const rows = await withDeadline(
		sql`SELECT 1 FROM runs WHERE signature_guard = ${guard}`,
		deadlineMs,
	);
	return rows.length > 0;
}

/** The CRM has the leads: runs `processed`, attempts recorded, events written, raw leads purged. */
export function processedStatement(
	sql: Queryable,
	deliveries: readonly Delivery[],
	options: {
		/** Nothing is written unless this holds (a retry's claim still held, say). */
		when?: Fragment;
		/**
		 * A group's write: a run another statement holds fails it at once (55P03) instead of
		 * holding up every lead in it until the deadline; the group is then written one by one
		 * (write-batcher.ts), and only the held run waits.
		 */
		nowait?: boolean;
	} = {},
) {
	const when = options.when ?? sql`true`;
	const ids = deliveries.map((delivery) => delivery.runId);
	const rows = deliveries.map((delivery) => ({
		run_id: delivery.runId,
		crm_id: delivery.crmId,
		from_status: delivery.fromStatus,
	}));
	const events: EventRow[] = deliveries.flatMap((delivery) =>
		delivery.events.map((event) => ({
			...event,
			run_id: delivery.runId,
			correlation_id: delivery.correlationId,
		})),
	);
	// every run of the group locked, in full, before the update reads any: it waits for no row,
	// and neither do the attempt and event inserts (their foreign keys share the runs' locks)
	const locked = options.nowait
		? sql`batch_locks AS MATERIALIZED (
			SELECT run_id FROM runs WHERE run_id = ANY(${ids}::uuid[]) FOR NO KEY UPDATE NOWAIT
		), `
		: sql``;
	const lockedFirst = options.nowait ? sql`AND (SELECT count(*) FROM batch_locks) >= 0` : sql``;
	// the attempt and its events are recorded whoever holds the run: the CRM did get the lead
	return sql`
		${locked}delivered AS (
			SELECT * FROM jsonb_to_recordset(${sql.json(rows)}) AS x(run_id uuid, crm_id text, from_status text)
		), processed_runs AS (
			UPDATE runs r SET status = 'processed', crm_id = d.crm_id, processed_at = now(), updated_at = now(),
				error_code = NULL, error_message = NULL, sealed_lead = NULL
			FROM delivered d
			-- the id list makes the run lookups index scans: the planner takes jsonb_to_recordset for
			-- 100 rows and, while runs holds a few thousand, would hash-join it against a full scan
			WHERE r.run_id = d.run_id AND r.run_id = ANY(${ids}::uuid[])
				AND r.status = d.from_status AND ${when} ${lockedFirst}
			RETURNING r.run_id
		), delivery_attempts_written AS (${insertAttempts(sql, deliveries, when)}
		), delivered_events AS (${insertEventRows(sql, events, { where: when })})`;
}

/**
 * The intake's delivery failed: a CTE body moving the run to `failed` if this request still
 * holds it (returns run_id), else nothing.
 */
export function failAcceptedStatement(
	sql: Queryable,
	failure: { runId: string; errorCode: string; errorMessage: string },
) {
	return sql`
		UPDATE runs SET status = 'failed', error_code = ${failure.errorCode},
			error_message = ${failure.errorMessage}, updated_at = now()
		WHERE run_id = ${failure.runId} AND status = 'accepted'
		RETURNING run_id`;
}

/**
 * A CTE body taking the runs left `accepted` since before `cutoff` (their request died, or lost
 * its database write) by moving them to `failed`. SKIP LOCKED: a run a live request is writing
 * right now is left to it; several processors can recover side by side. Returns (run_id,
 * correlation_id, idempotency_key, source, received_at).
 */
export function failExpiredStatement(
	sql: Queryable,
	expired: { cutoff: Date; now: Date; limit: number; errorMessage: string },
) {
	return sql`
		UPDATE runs r SET status = 'failed', error_code = 'interrupted', error_message = ${expired.errorMessage},
			updated_at = now()
		-- ARRAY(...): the locking subquery runs once; as a joined subquery a plan could rescan it,
		-- and each rescan SKIPs the rows it locked before and takes others: more than LIMIT rows
		WHERE r.run_id = ANY(ARRAY(
			SELECT run_id FROM runs
			WHERE status = 'accepted' AND received_at < ${expired.cutoff}
				-- claimed from the queue: its deliverer's lease decides
				AND (lease_until IS NULL OR lease_until < ${expired.now})
			ORDER BY received_at
			LIMIT ${expired.limit}
			FOR UPDATE SKIP LOCKED))
		RETURNING r.run_id, r.correlation_id, r.idempotency_key, r.source, r.received_at`;
}

export interface QueuedRun {
	run_id: string;
	idempotency_key: string;
	source: string;
	correlation_id: string | null;
	sealed_lead: Buffer | null;
	/** Policy update: the first run's key, under which the CRM updates the first record. */
	first_idempotency_key: string | null;
}

/**
 * SQL: run `other` writes the same CRM record as run `run` (table aliases). Policy update: a first
 * run and its updates share the first run's key, so the record is named by the first run's id.
 */
export function sameCrmRecord(sql: Queryable, other: string, run: string) {
	const [o, r] = [sql(other), sql(run)];
	return sql`(${o}.run_id = coalesce(${r}.duplicate_of, ${r}.run_id)
		OR ${o}.duplicate_of = coalesce(${r}.duplicate_of, ${r}.run_id))`;
}

/**
 * A deliverer takes up to `limit` queued runs, oldest first: each becomes `accepted`, leased to
 * `owner` until `leaseUntil` (past it the recovery hands it to the DLQ). SKIP LOCKED: several
 * processors claim side by side, never the same run. A run waits while an older run of its CRM
 * record (policy update: the first run and its updates) is queued, in flight, or being retried
 * from the DLQ under a live lease, so the CRM gets one person's details in the order they came
 * and keeps the newest (an older one left in the DLQ is then not sent again: db/dlq.ts).
 */
export async function claimQueued(
	sql: Sql,
	claim: { owner: string; now: Date; leaseUntil: Date; limit: number; deadlineMs: number },
): Promise<QueuedRun[]> {
	return withDeadline(
		sql<QueuedRun[]>`
			UPDATE runs r SET status = 'accepted', lease_owner = ${claim.owner},
				lease_until = ${claim.leaseUntil}, updated_at = now()
			-- ARRAY(...): one run of the locking subquery, so never more than LIMIT runs (see above)
			WHERE r.run_id = ANY(ARRAY(
				SELECT q.run_id FROM runs q WHERE q.status = 'queued'
				AND NOT EXISTS (
					SELECT 1 FROM runs o
					WHERE ${sameCrmRecord(sql, 'o', 'q')}
					AND (o.received_at, o.run_id) < (q.received_at, q.run_id)
					AND (o.status IN ('queued', 'accepted') OR (o.status = 'failed' AND EXISTS (
						SELECT 1 FROM dlq od WHERE od.run_id = o.run_id
						AND od.status = 'retrying' AND od.locked_until > ${claim.now}))))
				ORDER BY q.received_at LIMIT ${claim.limit}
				FOR UPDATE OF q SKIP LOCKED)) AND r.status = 'queued'
			RETURNING r.run_id, r.idempotency_key, r.source, r.correlation_id, r.sealed_lead,
				-- an erased first run's record is gone from the CRM, its key a placeholder: the repeat
				-- becomes a record of its own, under its own key, which its own erasure can name; read
				-- as committed now, not as this statement began (migration 0022)
				living_run_key(r.duplicate_of) AS first_idempotency_key`,
		claim.deadlineMs,
	);
}

/**
 * A claimed run whose CRM call did not happen (calls paused) goes back to the queue, first in
 * line again; only while this owner still holds it.
 */
export async function requeueClaimed(
	sql: Sql,
	runId: string,
	owner: string,
	deadlineMs: number,
): Promise<void> {
	await withDeadline(
		sql`
			UPDATE runs SET status = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = now()
			WHERE run_id = ${runId} AND status = 'accepted' AND lease_owner = ${owner}`,
		deadlineMs,
	);
}

/**
 * Whether run `runId`, accepted for a delivery of its own (answered on delivery), must wait its
 * turn: an older run of its CRM record (policy update) is queued or in flight, or one of the
 * record's DLQ items is being retried. The claims above already keep that order; this is the
 * same rule for a request that delivers its lead itself. The record's DLQ items are share-locked
 * first, whatever their status: a retry claimed while this statement runs is waited for and seen
 * retrying, and a retry's claim skips the items this statement holds (SKIP LOCKED).
 */
export async function olderOfRecordOnItsWay(
	sql: Sql,
	runId: string,
	now: Date,
	deadlineMs: number,
): Promise<boolean> {
	const [row] = await withDeadline(
		sql<{ waits: boolean }[]>`
			WITH run AS (SELECT run_id, duplicate_of, received_at FROM runs WHERE run_id = ${runId}),
			items AS MATERIALIZED (
				SELECT d.status, d.locked_until FROM dlq d
				JOIN runs o ON o.run_id = d.run_id
				JOIN run r ON ${sameCrmRecord(sql, 'o', 'r')} AND o.run_id <> r.run_id
				ORDER BY d.dlq_id FOR SHARE OF d
			)
			SELECT EXISTS (SELECT 1 FROM items WHERE status = 'retrying' AND locked_until > ${now})
				OR EXISTS (
					SELECT 1 FROM runs o JOIN run r ON ${sameCrmRecord(sql, 'o', 'r')}
					WHERE (o.received_at, o.run_id) < (r.received_at, r.run_id)
					AND o.status IN ('queued', 'accepted')) AS waits`,
		deadlineMs,
	);
	return row?.waits ?? false;
}

/**
 * A run accepted for a delivery of its own goes to the queue instead (its request stopped
 * waiting for its turn), unless the recovery took it meanwhile.
 */
export async function queueAccepted(sql: Sql, runId: string, deadlineMs: number): Promise<void> {
	await withDeadline(
		sql`
			UPDATE runs SET status = 'queued', updated_at = now()
			WHERE run_id = ${runId} AND status = 'accepted' AND lease_owner IS NULL`,
		deadlineMs,
	);
}

/** The raw lead is no longer needed (its DLQ item was closed by hand): for the runs of `runs`. */
export function purgeSealedLeadsStatement(sql: Queryable, runs: Fragment) {
	return sql`
		UPDATE runs SET sealed_lead = NULL, updated_at = now()
		WHERE run_id IN (SELECT run_id FROM ${runs})
		RETURNING run_id`;
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
	/** The rules version that decided it (null: before rules were versioned). */
	rules_version: number | null;
	/** The same person's first run, and what matched (docs/contract.md, "The same person"). */
	duplicate_of: string | null;
	duplicate_match: IdentityMatch | null;
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
	'rules_version',
	'duplicate_of',
	'duplicate_match',
	'received_at',
	'processed_at',
	'updated_at',
];

export async function findRun(sql: Sql, runId: string): Promise<RunRow | null> {
	const [row] = await sql<RunRow[]>`SELECT ${sql(RUN_COLUMNS)} FROM runs WHERE run_id = ${runId}`;
	return row ?? null;
}

export async function findRunByKey(sql: Sql, idempotencyKey: string): Promise<RunRow | null> {
	const [row] = await sql<
		RunRow[]
	>`SELECT ${sql(RUN_COLUMNS)} FROM runs WHERE idempotency_key = ${idempotencyKey}`;
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

/**
 * Whether the run's person was erased; an erasure under way is waited for (the share lock), so
 * the answer is never that of an erasure half done.
 */
export async function isErased(sql: Queryable, runId: string): Promise<boolean> {
	const [row] = await sql<{ erased: boolean }[]>`
		SELECT erased_at IS NOT NULL AS erased FROM runs WHERE run_id = ${runId} FOR SHARE`;
	return row?.erased ?? false;
}

/** Runs waiting in the queue (answered on store, not yet claimed). */
export async function queuedCount(sql: Sql): Promise<number> {
	const [row] = await sql<{ count: string }[]>`SELECT count(*) FROM runs WHERE status = 'queued'`;
	return Number(row!.count);
}

export async function runCountsByStatus(sql: Sql): Promise<Record<RunStatus, number>> {
	const rows = await sql<
		{ status: RunStatus; count: string }[]
	>`SELECT status, count(*) FROM runs GROUP BY status`;
	const counts: Record<RunStatus, number> = {
		accepted: 0,
		processed: 0,
		failed: 0,
		rejected: 0,
		queued: 0,
		erased: 0,
		duplicate: 0,
	};
	for (const row of rows) counts[row.status] = Number(row.count);
	return counts;
}

/** The intake's two hot writes, grouped with other leads in flight (see write-batcher.ts). */
export interface RunWriter {
	/** false when the idempotency key (or the legacy signature) was taken. */
	open(run: NewRun): Promise<boolean>;
	/** false when the run is no longer this request's to settle (the recovery took it). */
	processed(delivery: Delivery): Promise<boolean>;
}

type IntakeWrite = { kind: 'open'; run: NewRun } | { kind: 'processed'; delivery: Delivery };

/**
 * Both kinds of write share one queue, so a batch is one statement and one commit whatever its
 * mix. A batch the database refuses is split: each write is tried alone, so only the write that
 * cannot be made fails (write-batcher.ts).
 */
export function createRunWriter(
	sql: Sql,
	options: { maxBatch: number; maxInFlight: number; deadlineMs: number },
): RunWriter {
	const write = createBatcher(
		async (writes: IntakeWrite[]) => {
			const runs = writes.flatMap((write) => (write.kind === 'open' ? [write.run] : []));
			const deliveries = writes.flatMap((write) =>
				write.kind === 'processed' ? [write.delivery] : [],
			);
			const { created, processed } = await writeIntakeBatch(
				sql,
				runs,
				deliveries,
				options.deadlineMs,
			);
			return writes.map((write) =>
				write.kind === 'open' ? created.has(write.run.runId) : processed.has(write.delivery.runId),
			);
		},
		{ ...options, maxWaitMs: options.deadlineMs },
	);
	return {
		open: (run) => write({ kind: 'open', run }),
		processed: (delivery) => write({ kind: 'processed', delivery }),
	};
}
