import type postgres from 'postgres';
import {
	ALL_PERSONAL_PAYLOAD_FIELDS,
	DELETED_WITH_THE_RUN,
	PERSONAL_COLUMNS,
	type Anonymise,
} from '../pii/personal-data.js';
import type { ErasureCounts, EventPayloads, IdentityMatch } from '../vocabulary.js';
import { DEADLOCK_DETECTED, ERASURE_MISSED_ROWS, type Sql } from './connection.js';
import { clearRefusedRequests } from './signature-failures.js';

/*
 * The privacy_erasures table and the erasure of a person's rows (docs/privacy.md). What is
 * personal, and how it is made anonymous, is declared in pii/personal-data.ts; the statements
 * below are built from that list.
 */

type Fragment = postgres.PendingQuery<postgres.Row[]>;

/** The runs whose salted e-mail hash is one of these (erased runs have none left). */
export async function runsWithEmailHash(sql: Sql, emailHash: string): Promise<string[]> {
	const rows = await sql<{ run_id: string }[]>`
		SELECT run_id FROM runs WHERE email_hash = ${emailHash} ORDER BY received_at, run_id`;
	return rows.map((row) => row.run_id);
}

export interface DuplicateRun {
	run_id: string;
	duplicate_of: string;
	duplicate_match: IdentityMatch | null;
	email_hash: string | null;
}

/** The runs marked as the same person again as one of these runs (they share an identifier). */
export async function duplicatesOfRuns(
	sql: Sql,
	runIds: readonly string[],
): Promise<DuplicateRun[]> {
	if (runIds.length === 0) return [];
	return sql<DuplicateRun[]>`
		SELECT run_id, duplicate_of, duplicate_match, email_hash FROM runs
		WHERE duplicate_of = ANY(${[...runIds]}::uuid[]) ORDER BY run_id`;
}

/** Runs still holding their encrypted raw lead (undelivered), a page at a time by run id. */
export async function sealedLeadsPage(
	sql: Sql,
	after: string | null,
	limit: number,
): Promise<{ run_id: string; sealed_lead: Buffer; rules_version: number | null }[]> {
	const from = after === null ? sql`` : sql`AND run_id > ${after}`;
	return sql<{ run_id: string; sealed_lead: Buffer; rules_version: number | null }[]>`
		SELECT run_id, sealed_lead, rules_version FROM runs WHERE sealed_lead IS NOT NULL ${from}
		ORDER BY run_id LIMIT ${limit}`;
}

function anonymised(sql: Sql, column: string, how: Anonymise, runId: Fragment): Fragment {
	switch (how) {
		case 'null':
			return sql`${sql(column)} = NULL`;
		case 'erased':
			return sql`${sql(column)} = 'erased:' || ${runId}::text`;
		case 'constant':
			return sql`${sql(column)} = 'erased'`;
		case 'empty':
			return sql`${sql(column)} = '{"erased": true}'::jsonb`;
	}
}

function setList(sql: Sql, table: keyof typeof PERSONAL_COLUMNS, runId: Fragment): Fragment[] {
	return Object.entries(PERSONAL_COLUMNS[table].columns as Record<string, Anonymise>).map(
		([column, how]) => anonymised(sql, column, how, runId),
	);
}

function joined(sql: Sql, fragments: Fragment[]): Fragment {
	return fragments.reduce((all, fragment, index) =>
		index === 0 ? fragment : sql`${all}, ${fragment}`,
	);
}

export interface ErasedRows {
	runIds: string[];
	/** The keys the CRM knows these runs' records by (runs that may have reached it). */
	crmKeys: string[];
	/** Whether one of the leads was in flight (an intake or a retry may still reach the CRM). */
	inFlight: boolean;
	/** The latest lease end of the deliveries and retries that held these runs. */
	inFlightUntil: Date | null;
	/** The salted hashes these runs' person was found by (e-mail hash, phone identity). */
	subjects: string[];
	counts: Omit<ErasureCounts, 'alert_files'>;
}

export interface ErasureRecord {
	erasure_id: number;
	requested_by: string;
	requested_at: Date;
	run_ids: string[];
	counts: ErasureCounts;
	crm_status: 'pending' | 'done' | 'not_needed';
	crm_attempts: number;
	crm_next_at: Date | null;
	crm_last_error: string | null;
	crm_done_at: Date | null;
}

const ERASURE_COLUMNS = [
	'erasure_id',
	'requested_by',
	'requested_at',
	'run_ids',
	'counts',
	'crm_status',
	'crm_attempts',
	'crm_next_at',
	'crm_last_error',
	'crm_done_at',
];

/** What an erasure records with the runs it erased (a request; retention records its own). */
interface ErasureRequest {
	alertFiles: number;
	requestedBy: string;
	correlationId: string;
	now: Date;
	/** The salted hashes the request asked by: kept with a pending CRM part (migration 0014). */
	askedSubjects: readonly string[];
	/**
	 * A run in flight may still reach the CRM: the CRM is asked this much later at the earliest,
	 * and not before the leases its deliverers and retries hold have run out.
	 */
	inFlightSeconds: number;
}

interface ErasureFacts {
	run_ids: string[];
	seen: string;
	crm_keys: string[];
	in_flight: boolean;
	in_flight_until: Date | null;
	subjects: string[];
	runs: number;
	audit_events: number;
	delivery_attempts: number;
	dlq_items: number;
	retries_stopped: number;
}

/**
 * Erases the personal data of these runs and of every row that belongs to them, and records the
 * erasure, in ONE statement (ADR 0005) that locks the runs' rows: a run is erased whole or not at
 * all, never without the record that drives the CRM's part, and the intake, a retry or the
 * recovery that wants the run waits, then finds it no longer theirs. Records nothing when no run
 * was left to erase.
 */
export async function eraseAndRecord(
	sql: Sql,
	candidateIds: readonly string[],
	erasure: ErasureRequest & { lockTimeoutMs: number },
): Promise<{ erased: ErasedRows; record: ErasureRecord | null }> {
	const chosen = {
		where: sql`r.run_id = ANY(${candidateIds as string[]}::uuid[])`,
		held: 'wait',
	} as const;
	return eraseRuns(sql, chosen, erasure.lockTimeoutMs, erasure);
}

/** Which runs an erasure takes, and how; see eraseRunsOnce. */
interface ChosenRuns {
	/**
	 * On `runs r`: the runs to take (those already erased are left out). Checked again on each run
	 * as it is locked, so a run that changed meanwhile (a replay claimed it) is left.
	 */
	where: Fragment;
	/** The first of them to take, as many as the batch has room for (retention). */
	batch?: { orderBy: Fragment; limit: number };
	/**
	 * A run or a DLQ item another statement holds: waited for (an erasure asked for, which must be
	 * done whole), or passed over with its run (retention: the next pass takes it).
	 */
	held: 'wait' | 'skip';
}

/**
 * The erasure statement: `chosen` says which runs not yet erased it takes and whether it waits
 * for those another statement holds. It locks the runs' DLQ items before the runs, in the order a
 * retry's settle and an operator's resolve take them (the item, then its run), so that it never
 * deadlocks with either. The statement sets its lock timeout before it takes a lock; its
 * data-modifying CTEs each change a row once, and all of them see the rows as they were when it
 * began (so the CRM key of a repeat is read before its first lead is erased).
 */
async function eraseRuns(
	sql: Sql,
	chosen: ChosenRuns,
	lockTimeoutMs: number,
	request: ErasureRequest | null,
): Promise<{ erased: ErasedRows; record: ErasureRecord | null }> {
	for (let attempt = 1; ; attempt++) {
		try {
			return await eraseRunsOnce(sql, chosen, lockTimeoutMs, request);
		} catch (error) {
			// a writer of these runs committed while the statement waited for them (migration 0018):
			// it has finished, so the next attempt sees its rows; a deadlock with a writer of the same
			// rows rolled the whole statement back, so it is simply made again
			const code = (error as { code?: string }).code;
			const again = code === ERASURE_MISSED_ROWS || code === DEADLOCK_DETECTED;
			if (!again || attempt === ERASURE_ATTEMPTS) throw error;
		}
	}
}

/** Each retry follows a writer that held the runs; this many in a row means they are busy. */
const ERASURE_ATTEMPTS = 5;

async function eraseRunsOnce(
	sql: Sql,
	chosen: ChosenRuns,
	lockTimeoutMs: number,
	request: ErasureRequest | null,
): Promise<{ erased: ErasedRows; record: ErasureRecord | null }> {
	const runId = sql`runs.run_id`;
	const dlqRun = sql`dlq.run_id`;
	const attemptsRun = sql`delivery_attempts.run_id`;
	const closing = sql`locked.status IN ('open', 'retrying', 'dead')`;
	const deletions = DELETED_WITH_THE_RUN.map(
		(table) => sql`, ${sql(`deleted_${table}`)} AS (
			DELETE FROM ${sql(table)} WHERE run_id IN (SELECT run_id FROM target)
			RETURNING ${table === 'person_identities' ? sql`identity_hash, match` : sql`1`})`,
	);
	const recording = request
		? sql`,
		erasure AS (
			INSERT INTO privacy_erasures
				(requested_by, run_ids, counts, crm_status, crm_keys, crm_subjects, crm_next_at)
			SELECT ${request.requestedBy}, f.run_ids,
				jsonb_build_object('runs', f.runs, 'audit_events', f.audit_events,
					'delivery_attempts', f.delivery_attempts, 'dlq_items', f.dlq_items,
					'retries_stopped', f.retries_stopped, 'alert_files', ${request.alertFiles}::int),
				CASE WHEN pending THEN 'pending' ELSE 'not_needed' END,
				CASE WHEN pending THEN f.crm_keys END,
				CASE WHEN pending THEN ARRAY(
					SELECT DISTINCT subject FROM unnest(${request.askedSubjects as string[]}::text[] || f.subjects) subject
				) END,
				CASE WHEN pending THEN CASE WHEN f.in_flight
					THEN greatest(${request.now}::timestamptz + make_interval(secs => ${request.inFlightSeconds}), f.in_flight_until)
					ELSE ${request.now}::timestamptz END END
			FROM facts f, LATERAL (SELECT cardinality(f.crm_keys) > 0 AS pending) crm
			WHERE f.runs > 0
			RETURNING ${sql(ERASURE_COLUMNS)}
		),
		recorded AS (
			INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
			SELECT NULL, 'person_erased', 'operator',
				jsonb_build_object('erasure_id', erasure_id, 'requested_by', requested_by,
					'run_ids', to_jsonb(run_ids), 'counts', counts, 'crm_status', crm_status),
				${request.correlationId}
			FROM erasure
		)`
		: sql``;
	const lockTimeout = sql`(SELECT set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)) IS NOT NULL`;
	const batch = chosen.batch
		? sql`ORDER BY ${chosen.batch.orderBy} LIMIT ${chosen.batch.limit}`
		: sql``;
	const skipHeld = chosen.held === 'skip' ? sql`SKIP LOCKED` : sql``;
	// a run whose item another statement holds is passed over with it
	const itemsHeld =
		chosen.held === 'skip'
			? sql`AND NOT EXISTS (SELECT 1 FROM dlq d WHERE d.run_id = r.run_id
				AND d.dlq_id <> ALL(ARRAY(SELECT dlq_id FROM items_first)))`
			: sql``;
	const [row] = await sql<(ErasureFacts & { record: ErasureRecord | null })[]>`
		WITH chosen_runs AS MATERIALIZED (
			SELECT ARRAY(SELECT r.run_id FROM runs r WHERE r.erased_at IS NULL AND ${chosen.where} ${batch})
				AS run_ids
		),
		-- evaluated by target's WHERE, so before target locks a run
		items_first AS MATERIALIZED (
			SELECT dlq_id FROM dlq WHERE ${lockTimeout}
				AND run_id = ANY((SELECT run_ids FROM chosen_runs)::uuid[])
			ORDER BY dlq_id FOR UPDATE ${skipHeld}
		),
		target AS MATERIALIZED (
			SELECT r.run_id, r.status, r.lease_until, r.email_hash, r.idempotency_key AS own_key,
				-- the key the lead went to the CRM under; a repeat sent as an update of the person's
				-- first lead (policy update) went under the first lead's key, as dlq.ts reads it, and
				-- under its own once that first lead was erased or anonymised (docs/privacy.md)
				CASE WHEN r.duplicate_of IS NULL THEN r.idempotency_key
					ELSE coalesce(
						(SELECT f.idempotency_key FROM runs f WHERE f.run_id = r.duplicate_of AND f.erased_at IS NULL),
						r.idempotency_key)
				END AS crm_key
			FROM runs r
			WHERE ${lockTimeout} AND (SELECT count(*) FROM items_first) >= 0 AND r.erased_at IS NULL
				AND r.run_id = ANY((SELECT run_ids FROM chosen_runs)::uuid[]) AND ${chosen.where} ${itemsHeld}
			ORDER BY r.run_id FOR UPDATE OF r ${skipHeld}
		),
		locked AS MATERIALIZED (
			SELECT dlq_id, status, locked_until FROM dlq
			WHERE run_id IN (SELECT run_id FROM target) ORDER BY dlq_id FOR UPDATE
		),
		-- later leads sent to the CRM under one of these runs' keys (policy update) and on their
		-- way there now, this erasure's or not (a housemate's: the same phone, another e-mail):
		-- their call may land after the CRM's erasure and write the record again
		-- An erasure share-locks those still to be claimed or delivered, then the DLQ items of the
		-- rest (a failed run is not locked: a retry's settle takes its item before its run): a claim
		-- being made now (a deliverer's, a retry's, a replay's), which may have read the key before
		-- this erasure commits, is waited for and seen with its lease; one made later skips them
		-- until this erasure is done, and then reads the key without the erased run. Retention asks
		-- the CRM nothing: it locks none of them.
		repeat_runs AS MATERIALIZED (
			SELECT r.status, r.lease_until FROM runs r
			WHERE r.duplicate_of IN (SELECT run_id FROM target) AND r.status IN ('queued', 'accepted')
			ORDER BY r.run_id ${request ? sql`FOR SHARE` : sql``}
		),
		repeat_items AS MATERIALIZED (
			SELECT d.status, d.locked_until FROM dlq d JOIN runs r ON r.run_id = d.run_id
			WHERE r.duplicate_of IN (SELECT run_id FROM target) AND d.status IN ('open', 'retrying', 'dead')
			ORDER BY d.dlq_id ${request ? sql`FOR SHARE OF d` : sql``}
		),
		repeats_in_flight AS MATERIALIZED (
			-- runs first: a UNION ALL reads its parts in order
			SELECT lease_until AS until FROM repeat_runs WHERE status = 'accepted'
			UNION ALL
			SELECT locked_until FROM repeat_items WHERE status = 'retrying'
		),
		-- undelivered leads stop (dead ones too: nothing is left to send), anonymised as they close,
		-- so the closing reports itself as the erasure's (migration 0013), with no follow-up file
		closed AS (
			UPDATE dlq SET ${joined(sql, setList(sql, 'dlq', dlqRun))},
				status = 'resolved',
				resolved_at = CASE WHEN ${closing} THEN now() ELSE dlq.resolved_at END,
				updated_at = CASE WHEN ${closing} THEN now() ELSE dlq.updated_at END,
				next_retry_at = CASE WHEN ${closing} THEN NULL ELSE dlq.next_retry_at END,
				locked_until = CASE WHEN ${closing} THEN NULL ELSE dlq.locked_until END,
				lease_token = CASE WHEN ${closing} THEN NULL ELSE dlq.lease_token END,
				followup_status = 'resolved', followup_claim = NULL, followup_claimed_until = NULL
			FROM locked WHERE locked.dlq_id = dlq.dlq_id
			RETURNING 1
		),
		attempts AS (
			UPDATE delivery_attempts SET ${joined(sql, setList(sql, 'delivery_attempts', attemptsRun))}
			WHERE run_id IN (SELECT run_id FROM target)
			RETURNING 1
		),
		events AS (
			UPDATE audit_events
			SET payload = (payload - ${ALL_PERSONAL_PAYLOAD_FIELDS}::text[]) || '{"erased": true}'::jsonb
			WHERE run_id IN (SELECT run_id FROM target)
			RETURNING 1
		)${deletions},
		erased_runs AS (
			UPDATE runs SET ${joined(sql, setList(sql, 'runs', runId))},
				status = CASE WHEN runs.status IN ('accepted', 'queued') THEN 'erased' ELSE runs.status END,
				erased_at = now(), updated_at = now()
			FROM target WHERE target.run_id = runs.run_id
			RETURNING 1
		),
		-- MATERIALIZED: computed (so every delete above done) before the checks in WHERE run; inlined
		-- where only WHERE reads it (retention), the checks could run before the deletes
		facts AS MATERIALIZED (
			SELECT
				ARRAY(SELECT run_id FROM target ORDER BY run_id) AS run_ids,
				-- a rejected run never reached the CRM; a duplicate may have, under its own key: the
				-- recovery marks a run whose check never finished, and its call may have been made
				-- before its processor died (the CRM's 404 for a key it never had is fine)
				ARRAY(SELECT DISTINCT key FROM target, LATERAL (VALUES
						(CASE WHEN status NOT IN ('rejected', 'duplicate') THEN crm_key END),
						(CASE WHEN status = 'duplicate' THEN own_key END)) AS keys(key)
					WHERE key IS NOT NULL ORDER BY key) AS crm_keys,
				EXISTS (SELECT 1 FROM target WHERE status IN ('accepted', 'queued'))
					OR EXISTS (SELECT 1 FROM locked WHERE status = 'retrying')
					OR EXISTS (SELECT 1 FROM repeats_in_flight)
					-- a person's first run: a lead of theirs checked while this statement ran was matched
					-- to it and goes to the CRM under its key (the check's locks are not this statement's)
					OR EXISTS (SELECT 1 FROM deleted_person_identities) AS in_flight,
				-- a claim's lease covers its whole batch (a replay of thousands: far longer than one call)
				greatest(
					(SELECT max(lease_until) FROM target WHERE status = 'accepted'),
					(SELECT max(locked_until) FROM locked WHERE status = 'retrying'),
					(SELECT max(until) FROM repeats_in_flight)) AS in_flight_until,
				ARRAY(SELECT email_hash FROM target WHERE email_hash IS NOT NULL
					UNION SELECT identity_hash FROM deleted_person_identities WHERE match = 'phone') AS subjects,
				(SELECT count(*)::int FROM erased_runs) AS runs,
				(SELECT count(*)::int FROM events) AS audit_events,
				(SELECT count(*)::int FROM attempts) AS delivery_attempts,
				(SELECT count(*)::int FROM closed) AS dlq_items,
				(SELECT count(*)::int FROM locked WHERE status IN ('open', 'retrying')) AS retries_stopped,
				(SELECT count(*) FROM locked) + (SELECT count(*) FROM attempts)
					+ (SELECT count(*) FROM events) AS seen
		)${recording}
		SELECT facts.*, ${request ? sql`(SELECT to_jsonb(erasure) FROM erasure)` : sql`NULL::jsonb`} AS record
		FROM facts
		WHERE erasure_saw_every_row(facts.run_ids, facts.seen) AND erasure_left_no_identity(facts.run_ids)`;
	const facts = row!;
	const record = facts.record;
	return {
		erased: {
			runIds: facts.run_ids,
			crmKeys: facts.crm_keys,
			inFlight: facts.in_flight,
			inFlightUntil: facts.in_flight_until,
			subjects: facts.subjects,
			counts: {
				runs: facts.runs,
				audit_events: facts.audit_events,
				delivery_attempts: facts.delivery_attempts,
				dlq_items: facts.dlq_items,
				retries_stopped: facts.retries_stopped,
			},
		},
		record: record && {
			...record,
			erasure_id: Number(record.erasure_id),
			requested_at: new Date(record.requested_at),
			crm_next_at: record.crm_next_at === null ? null : new Date(record.crm_next_at),
			crm_done_at: record.crm_done_at === null ? null : new Date(record.crm_done_at),
		},
	};
}

/** The erasures whose CRM part is still to be done (newest first), for the answer and the docs. */
export async function pendingErasures(sql: Sql): Promise<ErasureRecord[]> {
	const rows = await sql<ErasureRecord[]>`
		SELECT ${sql(ERASURE_COLUMNS)} FROM privacy_erasures WHERE crm_status = 'pending'
		ORDER BY erasure_id DESC LIMIT 100`;
	return rows.map((row) => ({ ...row, erasure_id: Number(row.erasure_id) }));
}

/** How many erasures wait for the CRM, and since when the oldest does (for /metrics). */
export async function pendingErasureSummary(
	sql: Sql,
): Promise<{ pending: number; oldest_requested_at: Date | null }> {
	const [row] = await sql<{ pending: number; oldest_requested_at: Date | null }[]>`
		SELECT count(*)::int AS pending, min(requested_at) AS oldest_requested_at
		FROM privacy_erasures WHERE crm_status = 'pending'`;
	return row!;
}

/**
 * The earliest next CRM attempt of the pending erasures of a person found by one of these salted
 * hashes (a repeated request, whose runs the first one erased); null when none is pending.
 */
export async function pendingCrmErasureOf(
	sql: Sql,
	subjects: readonly string[],
): Promise<Date | null> {
	if (subjects.length === 0) return null;
	const [row] = await sql<{ next_at: Date | null }[]>`
		SELECT min(crm_next_at) AS next_at FROM privacy_erasures
		WHERE crm_status = 'pending' AND crm_subjects && ${subjects as string[]}::text[]`;
	return row?.next_at ?? null;
}

export interface DueCrmErasure {
	erasure_id: number;
	crm_keys: string[];
	crm_attempts: number;
}

/** Claims due CRM erasures with a lease (a processor that dies leaves them to expire). */
export async function claimDueCrmErasures(
	sql: Sql,
	claim: { now: Date; leaseSeconds: number; limit: number; erasureId?: number | undefined },
): Promise<DueCrmErasure[]> {
	const until = new Date(claim.now.getTime() + claim.leaseSeconds * 1000);
	const rows = await sql<DueCrmErasure[]>`
		UPDATE privacy_erasures e SET crm_locked_until = ${until}
		-- ARRAY(...): the locking subquery runs once, so never more than LIMIT rows
		WHERE e.erasure_id = ANY(ARRAY(
			SELECT erasure_id FROM privacy_erasures
			WHERE crm_status = 'pending' AND crm_next_at <= ${claim.now}
				AND (${claim.erasureId ?? null}::bigint IS NULL OR erasure_id = ${claim.erasureId ?? null})
				AND (crm_locked_until IS NULL OR crm_locked_until <= ${claim.now})
			ORDER BY crm_next_at LIMIT ${claim.limit}
			FOR UPDATE SKIP LOCKED))
		RETURNING e.erasure_id, e.crm_keys, e.crm_attempts`;
	return rows.map((row) => ({ ...row, erasure_id: Number(row.erasure_id) }));
}

/** The CRM confirmed: the keys are dropped (nothing of the person is left) and it is audited. */
export async function settleCrmErasure(
	sql: Sql,
	erasureId: number,
	outcome: { ok: true } | { ok: false; error: string; nextAt: Date },
	correlationId: string,
): Promise<void> {
	if (!outcome.ok) {
		await sql`
			UPDATE privacy_erasures SET crm_attempts = crm_attempts + 1, crm_last_error = ${outcome.error},
				crm_next_at = ${outcome.nextAt}, crm_locked_until = NULL
			WHERE erasure_id = ${erasureId} AND crm_status = 'pending'`;
		return;
	}
	await sql`
		WITH done AS (
			UPDATE privacy_erasures SET crm_status = 'done', crm_keys = NULL, crm_subjects = NULL,
				crm_attempts = crm_attempts + 1,
				crm_next_at = NULL, crm_locked_until = NULL, crm_last_error = NULL, crm_done_at = now()
			WHERE erasure_id = ${erasureId} AND crm_status = 'pending'
			RETURNING erasure_id, crm_attempts
		)
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		SELECT NULL, 'crm_erased', 'processor',
			jsonb_build_object('erasure_id', erasure_id, 'attempts', crm_attempts), ${correlationId}
		FROM done`;
}

/** Everything held about these runs, for the person's copy (docs/privacy.md, "Access"). */
export async function exportRuns(sql: Sql, runIds: readonly string[]) {
	const ids = sql`${runIds as string[]}::uuid[]`;
	const [runs, events, attempts, dlq, identities, outcomeEvents] = await Promise.all([
		sql`
			SELECT run_id, idempotency_key, source, correlation_id, status, error_code, error_message,
				rejection_reasons, email_masked, crm_id, rules_version, duplicate_of, duplicate_match,
				received_at, processed_at, updated_at, sealed_lead
			FROM runs WHERE run_id = ANY(${ids}) ORDER BY received_at, run_id`,
		sql`
			SELECT event_id, run_id, event_time, event_type, actor, payload - 'email_hash' AS payload
			FROM audit_events WHERE run_id = ANY(${ids}) ORDER BY event_id`,
		sql`
			SELECT run_id, attempt_no, trigger, attempted_at, duration_ms, status_code, success, error
			FROM delivery_attempts WHERE run_id = ANY(${ids}) ORDER BY run_id, attempt_no`,
		sql`
			SELECT dlq_id, run_id, reason, status, retry_count, next_retry_at, last_error, created_at,
				resolved_at, resolution_note, payload
			FROM dlq WHERE run_id = ANY(${ids}) ORDER BY dlq_id`,
		// what is kept for the same-person check: the kind and since when (the salted hash itself
		// identifies the person to nobody but this system)
		sql`
			SELECT run_id, match, received_at
			FROM person_identities WHERE run_id = ANY(${ids}) ORDER BY run_id, match`,
		sql`
			SELECT event_id, webhook_id, event_type, run_id, occurred_at, status, sent_at, data
			FROM outcome_events WHERE run_id = ANY(${ids}) ORDER BY event_id`,
	]);
	return { runs, events, attempts, dlq, identities, outcomeEvents };
}

/** An export is audited: who asked and which runs it held, never the person. */
export async function recordExport(
	sql: Sql,
	payload: EventPayloads['person_exported'],
	correlationId: string,
): Promise<void> {
	await sql`
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		VALUES (NULL, 'person_exported', 'operator', ${sql.json(payload as never)}, ${correlationId})`;
}

/**
 * One batch of the retention pass, each part one statement (ADR 0005): purges the raw leads of
 * DLQ items dead since before `rawCutoff`, anonymises runs received before `runCutoff` that are
 * settled (never one in flight or waiting for a retry) and not yet anonymised, as an erasure does,
 * and clears refused requests. Rows another processor's batch, the intake or a retry holds are
 * skipped (SKIP LOCKED), so processors running it at once share the work, the intake goes first,
 * and a retry's settle, which takes a run's DLQ item before the run, never deadlocks with it.
 */
export async function retentionBatch(
	sql: Sql,
	batch: {
		rawCutoff: Date | null;
		runCutoff: Date | null;
		refusalCutoff: Date | null;
		limit: number;
	},
): Promise<{
	rawLeadsPurged: number;
	selected: number;
	anonymised: number;
	refusalsCleared: number;
}> {
	let rawLeadsPurged = 0;
	if (batch.rawCutoff) {
		const purged = await sql`
			UPDATE runs SET sealed_lead = NULL, updated_at = now()
			WHERE sealed_lead IS NOT NULL AND run_id IN (
				SELECT d.run_id FROM dlq d JOIN runs r ON r.run_id = d.run_id
				WHERE d.status = 'dead' AND d.updated_at < ${batch.rawCutoff} AND r.sealed_lead IS NOT NULL
				LIMIT ${batch.limit}
			)`;
		rawLeadsPurged = purged.count;
	}
	let anonymised = 0;
	if (batch.runCutoff) {
		const { erased } = await eraseRuns(
			sql,
			{
				// in flight: queued for the deliverer (answered on store) or with one now
				where: sql`r.received_at < ${batch.runCutoff} AND r.status NOT IN ('accepted', 'queued')
					AND NOT EXISTS (SELECT 1 FROM dlq d WHERE d.run_id = r.run_id AND d.status IN ('open', 'retrying'))`,
				batch: { orderBy: sql`r.received_at`, limit: batch.limit },
				held: 'skip',
			},
			// runs and their DLQ items another statement holds are passed over; any other row held is
			// waited for briefly, never long: the intake goes first
			2000,
			null,
		);
		anonymised = erased.counts.runs;
	}
	const refusalsCleared = batch.refusalCutoff
		? await clearRefusedRequests(sql, batch.refusalCutoff, batch.limit)
		: 0;
	return { rawLeadsPurged, selected: anonymised, anonymised, refusalsCleared };
}

export async function recordRetention(
	sql: Sql,
	payload: EventPayloads['retention_applied'],
	correlationId: string,
): Promise<void> {
	await sql`
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		VALUES (NULL, 'retention_applied', 'system', ${sql.json(payload as never)}, ${correlationId})`;
}
