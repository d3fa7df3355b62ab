import type postgres from 'postgres';
import {
	ALL_PERSONAL_PAYLOAD_FIELDS,
	DELETED_WITH_THE_RUN,
	PERSONAL_COLUMNS,
	type Anonymise,
} from '../pii/personal-data.js';
import type { ErasureCounts, EventPayloads, IdentityMatch } from '../vocabulary.js';
import type { Sql } from './connection.js';
import { clearRefusedRequests } from './signature-failures.js';

/*
 * The privacy_erasures table and the erasure of a person's rows (docs/privacy.md). What is
 * personal, and how it is made anonymous, is declared in pii/personal-data.ts; the statements
 * below are built from that list.
 */

type Queryable = Sql | postgres.TransactionSql;
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
): Promise<{ run_id: string; sealed_lead: Buffer }[]> {
	const from = after === null ? sql`` : sql`AND run_id > ${after}`;
	return sql<{ run_id: string; sealed_lead: Buffer }[]>`
		SELECT run_id, sealed_lead FROM runs WHERE sealed_lead IS NOT NULL ${from}
		ORDER BY run_id LIMIT ${limit}`;
}

function anonymised(sql: Queryable, column: string, how: Anonymise, runId: Fragment): Fragment {
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

function setList(
	sql: Queryable,
	table: keyof typeof PERSONAL_COLUMNS,
	runId: Fragment,
): Fragment[] {
	return Object.entries(PERSONAL_COLUMNS[table].columns as Record<string, Anonymise>).map(
		([column, how]) => anonymised(sql, column, how, runId),
	);
}

function joined(sql: Queryable, fragments: Fragment[]): Fragment {
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

/**
 * Erases the personal data of these runs and of every row that belongs to them, and records the
 * erasure, in one transaction that holds the runs' row locks: a run is erased whole or not at
 * all, never without the record that drives the CRM's part, and the intake, a retry or the
 * recovery that wants the run waits, then finds it no longer theirs. Records nothing when
 * no run was left to erase.
 */
export async function eraseAndRecord(
	sql: Sql,
	candidateIds: readonly string[],
	erasure: {
		lockTimeoutMs: number;
		alertFiles: number;
		requestedBy: string;
		correlationId: string;
		now: Date;
		/** The salted hashes the request asked by: kept with a pending CRM part (migration 0014). */
		askedSubjects: readonly string[];
		/**
		 * A run in flight may still reach the CRM: the CRM is asked this much later at the
		 * earliest, and not before the leases its deliverers and retries hold have run out.
		 */
		inFlightSeconds: number;
	},
): Promise<{ erased: ErasedRows; record: ErasureRecord | null }> {
	return sql.begin(async (tx) => {
		await tx`SELECT set_config('lock_timeout', ${`${erasure.lockTimeoutMs}ms`}, true)`;
		const erased = await eraseRunsIn(tx, candidateIds);
		// alert files alone are of runs another request erased meanwhile: that one is the record
		if (erased.runIds.length === 0) return { erased, record: null };
		const crmNextAt = new Date(
			erased.inFlight
				? Math.max(
						erasure.now.getTime() + erasure.inFlightSeconds * 1000,
						erased.inFlightUntil?.getTime() ?? 0,
					)
				: erasure.now.getTime(),
		);
		const record = await recordErasureIn(tx, {
			requestedBy: erasure.requestedBy,
			runIds: erased.runIds,
			counts: { ...erased.counts, alert_files: erasure.alertFiles },
			crmKeys: erased.crmKeys,
			subjects: [...new Set([...erasure.askedSubjects, ...erased.subjects])],
			crmNextAt,
			correlationId: erasure.correlationId,
		});
		return { erased, record };
	});
}

/** The runs' part of an erasure, within the caller's transaction. */
async function eraseRunsIn(
	tx: postgres.TransactionSql,
	candidateIds: readonly string[],
): Promise<ErasedRows> {
	{
		const sql = tx;
		// crm_key: the key the lead went to the CRM under; a repeat sent as an update of the
		// person's first lead (policy update) went under the first lead's key, as dlq.ts reads it,
		// unknown (null) once that first lead was anonymised (docs/privacy.md, outside this system)
		const runs = await tx<
			{
				run_id: string;
				status: string;
				crm_key: string | null;
				lease_until: Date | null;
				email_hash: string | null;
			}[]
		>`
			SELECT r.run_id, r.status, r.lease_until, r.email_hash,
				CASE WHEN r.duplicate_of IS NULL THEN r.idempotency_key
					ELSE (SELECT f.idempotency_key FROM runs f WHERE f.run_id = r.duplicate_of AND f.erased_at IS NULL)
				END AS crm_key
			FROM runs r
			WHERE r.run_id = ANY(${candidateIds as string[]}::uuid[]) AND r.erased_at IS NULL
			ORDER BY r.run_id FOR UPDATE OF r`;
		const runIds = runs.map((run) => run.run_id);
		const empty: ErasedRows = {
			runIds: [],
			crmKeys: [],
			inFlight: false,
			inFlightUntil: null,
			subjects: [],
			counts: {
				runs: 0,
				audit_events: 0,
				delivery_attempts: 0,
				dlq_items: 0,
				retries_stopped: 0,
			},
		};
		if (runIds.length === 0) return empty;
		const ids = sql`${runIds}::uuid[]`;

		const dlq = await tx<{ dlq_id: number; status: string; locked_until: Date | null }[]>`
			SELECT dlq_id, status, locked_until FROM dlq WHERE run_id = ANY(${ids}) ORDER BY dlq_id FOR UPDATE`;
		// anonymised first: the closing below then reports itself as the erasure's (migration 0013)
		const dlqRun = sql`dlq.run_id`;
		await tx`UPDATE dlq SET ${joined(tx, setList(tx, 'dlq', dlqRun))} WHERE run_id = ANY(${ids})`;
		// undelivered leads stop (dead ones too: nothing is left to send), closed with no
		// follow-up file to write about them
		const closed = await tx<{ was: string }[]>`
			UPDATE dlq SET status = 'resolved', resolved_at = now(), updated_at = now(),
				next_retry_at = NULL, locked_until = NULL, lease_token = NULL,
				followup_status = 'resolved', followup_claim = NULL, followup_claimed_until = NULL
			FROM dlq AS before
			WHERE before.dlq_id = dlq.dlq_id AND dlq.run_id = ANY(${ids})
				AND dlq.status IN ('open', 'retrying', 'dead')
			RETURNING before.status AS was`;
		const stopped = closed.filter((item) => item.was !== 'dead');
		await tx`
			UPDATE dlq SET followup_status = status, followup_claim = NULL, followup_claimed_until = NULL
			WHERE run_id = ANY(${ids}) AND status = 'resolved'`;

		const attemptsRun = sql`delivery_attempts.run_id`;
		const attempts = await tx`
			UPDATE delivery_attempts SET ${joined(tx, setList(tx, 'delivery_attempts', attemptsRun))}
			WHERE run_id = ANY(${ids})`;

		const events = await tx`
			UPDATE audit_events
			SET payload = (payload - ${ALL_PERSONAL_PAYLOAD_FIELDS}::text[]) || '{"erased": true}'::jsonb
			WHERE run_id = ANY(${ids})`;

		const phoneIdentities = await tx<{ identity_hash: string }[]>`
			SELECT identity_hash FROM person_identities WHERE run_id = ANY(${ids}) AND match = 'phone'`;
		for (const table of DELETED_WITH_THE_RUN) {
			await tx`DELETE FROM ${tx(table)} WHERE run_id = ANY(${ids})`;
		}

		const runsRun = sql`runs.run_id`;
		await tx`
			UPDATE runs SET ${joined(tx, setList(tx, 'runs', runsRun))},
				status = CASE WHEN status IN ('accepted', 'queued') THEN 'erased' ELSE status END,
				erased_at = now(), updated_at = now()
			WHERE run_id = ANY(${ids})`;

		const inFlight =
			runs.some((run) => run.status === 'accepted' || run.status === 'queued') ||
			dlq.some((item) => item.status === 'retrying');
		// a claim's lease covers its whole batch (a replay of thousands: far longer than one call)
		const leaseEnds = [
			...runs.filter((run) => run.status === 'accepted').map((run) => run.lease_until),
			...dlq.filter((item) => item.status === 'retrying').map((item) => item.locked_until),
		].flatMap((until) => (until ? [until.getTime()] : []));
		return {
			runIds,
			// rejected and duplicate runs never reached the CRM
			crmKeys: [
				...new Set(
					runs
						.filter((run) => run.status !== 'rejected' && run.status !== 'duplicate')
						.flatMap((run) => (run.crm_key === null ? [] : [run.crm_key])),
				),
			],
			inFlight,
			inFlightUntil: leaseEnds.length > 0 ? new Date(Math.max(...leaseEnds)) : null,
			subjects: [
				...runs.flatMap((run) => (run.email_hash ? [run.email_hash] : [])),
				...phoneIdentities.map((identity) => identity.identity_hash),
			],
			counts: {
				runs: runIds.length,
				audit_events: events.count,
				delivery_attempts: attempts.count,
				dlq_items: dlq.length,
				retries_stopped: stopped.length,
			},
		};
	}
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

/** Records an erasure and its audit event (no person in either), within the caller's transaction. */
async function recordErasureIn(
	tx: postgres.TransactionSql,
	erasure: {
		requestedBy: string;
		runIds: string[];
		counts: ErasureCounts;
		crmKeys: string[];
		subjects: string[];
		crmNextAt: Date;
		correlationId: string;
	},
): Promise<ErasureRecord> {
	const crmStatus = erasure.crmKeys.length > 0 ? 'pending' : 'not_needed';
	const [row] = await tx<ErasureRecord[]>`
		INSERT INTO privacy_erasures
			(requested_by, run_ids, counts, crm_status, crm_keys, crm_subjects, crm_next_at)
		VALUES (${erasure.requestedBy}, ${erasure.runIds}::uuid[], ${tx.json(erasure.counts as never)},
			${crmStatus}, ${crmStatus === 'pending' ? erasure.crmKeys : null},
			${crmStatus === 'pending' ? erasure.subjects : null},
			${crmStatus === 'pending' ? erasure.crmNextAt : null})
		RETURNING ${tx(ERASURE_COLUMNS)}`;
	const payload: EventPayloads['person_erased'] = {
		erasure_id: Number(row!.erasure_id),
		requested_by: erasure.requestedBy,
		run_ids: erasure.runIds,
		counts: erasure.counts,
		crm_status: crmStatus,
	};
	await tx`
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		VALUES (NULL, 'person_erased', 'operator', ${tx.json(payload as never)}, ${erasure.correlationId})`;
	return { ...row!, erasure_id: Number(row!.erasure_id) };
}

/** The erasures whose CRM part is still to be done (newest first), for the answer and the docs. */
export async function pendingErasures(sql: Sql): Promise<ErasureRecord[]> {
	const rows = await sql<ErasureRecord[]>`
		SELECT ${sql(ERASURE_COLUMNS)} FROM privacy_erasures WHERE crm_status = 'pending'
		ORDER BY erasure_id DESC LIMIT 100`;
	return rows.map((row) => ({ ...row, erasure_id: Number(row.erasure_id) }));
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
			SELECT event_id::int AS event_id, webhook_id, event_type, run_id, occurred_at, status, sent_at, data
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

/** One retention pass at a time across processors: held for one batch's transaction only. */
const RETENTION_LOCK = 0x6c6968_72; // "lih" + "r"

/**
 * One batch of the retention pass, in a transaction that holds the advisory lock (null: another
 * processor's batch holds it). Purges the raw leads of DLQ items dead since before `rawCutoff`
 * and returns the ids of runs received before `runCutoff` that are settled (never one in
 * flight or waiting for a retry) and not yet anonymised.
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
} | null> {
	return sql.begin(async (tx) => {
		const [lock] = await tx<{ locked: boolean }[]>`
			SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK}) AS locked`;
		if (!lock!.locked) return null;
		// a row another transaction holds is waited for briefly, never long: the intake goes first
		await tx`SELECT set_config('lock_timeout', '2000ms', true)`;
		let rawLeadsPurged = 0;
		if (batch.rawCutoff) {
			const purged = await tx`
				UPDATE runs SET sealed_lead = NULL, updated_at = now()
				WHERE run_id IN (
					SELECT d.run_id FROM dlq d JOIN runs r ON r.run_id = d.run_id
					WHERE d.status = 'dead' AND d.updated_at < ${batch.rawCutoff} AND r.sealed_lead IS NOT NULL
					LIMIT ${batch.limit}
				)`;
			rawLeadsPurged = purged.count;
		}
		let runIds: string[] = [];
		if (batch.runCutoff) {
			const rows = await tx<{ run_id: string }[]>`
				SELECT r.run_id FROM runs r
				-- in flight: queued for the deliverer (answered on store) or with one now
				WHERE r.erased_at IS NULL AND r.received_at < ${batch.runCutoff}
					AND r.status NOT IN ('accepted', 'queued')
					AND NOT EXISTS (SELECT 1 FROM dlq d WHERE d.run_id = r.run_id AND d.status IN ('open', 'retrying'))
				ORDER BY r.received_at LIMIT ${batch.limit}
				FOR UPDATE OF r SKIP LOCKED`;
			runIds = rows.map((row) => row.run_id);
		}
		// anonymised in the same transaction: nothing can change hands between choosing and erasing
		const erased = runIds.length > 0 ? await eraseRunsIn(tx, runIds) : null;
		const refusalsCleared = batch.refusalCutoff
			? await clearRefusedRequests(tx, batch.refusalCutoff, batch.limit)
			: 0;
		return {
			rawLeadsPurged,
			selected: runIds.length,
			anonymised: erased?.counts.runs ?? 0,
			refusalsCleared,
		};
	});
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
