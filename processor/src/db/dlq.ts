import type postgres from 'postgres';
import type { JsonObject } from '../json.js';
import type { DlqStatus, RunStatus } from '../vocabulary.js';
import type { Queryable, Sql } from './connection.js';
import { sameCrmRecord } from './runs.js';

type Fragment = postgres.PendingQuery<postgres.Row[]>;

export interface NewDlqEntry {
	runId: string;
	reason: string;
	/** Sanitized headers and body: what an operator needs to investigate, no plain PII. */
	payload: JsonObject;
	status: 'open' | 'dead';
	nextRetryAt: Date | null;
	lastError: string;
}

/**
 * The one INSERT of lead items into the DLQ, as a CTE body: one item per row of `runs` (a
 * relation with run_id), all alike but for the run. Returns (dlq_id, run_id).
 */
export function insertDlqItemsStatement(
	sql: Queryable,
	runs: Fragment,
	entry: Omit<NewDlqEntry, 'runId' | 'payload'> & { payload: JsonObject | Fragment },
) {
	const payload = isFragment(entry.payload)
		? entry.payload
		: sql`${sql.json(entry.payload as postgres.JSONValue)}::jsonb`;
	return sql`
		INSERT INTO dlq (run_id, reason, payload, status, next_retry_at, last_error, alert)
		SELECT r.run_id, ${entry.reason}, ${payload}, ${entry.status}, ${entry.nextRetryAt},
			${entry.lastError}, ${entry.status === 'dead'}
		FROM ${runs} r
		RETURNING dlq_id, run_id`;
}

function isFragment(value: unknown): value is Fragment {
	return typeof (value as { execute?: unknown }).execute === 'function';
}

export interface DlqEntry {
	dlq_id: string;
	run_id: string | null;
	reason: string;
	status: DlqStatus;
	retry_count: number;
	next_retry_at: Date | null;
	locked_until: Date | null;
	last_error: string | null;
	alert: boolean;
	occurrences: number;
	payload: JsonObject;
	created_at: Date;
	updated_at: Date;
	resolved_at: Date | null;
	resolution_note: string | null;
	superseded_by: string | null;
}

/** A claimed item with what its re-delivery needs (the sealed lead is still encrypted). */
export interface ClaimedItem {
	dlqId: number;
	runId: string;
	runStatus: RunStatus;
	retryCount: number;
	leaseToken: string;
	/** Until when the claim holds: after it, another processor may claim and send the item. */
	leaseUntil: Date;
	idempotencyKey: string;
	/** The key the CRM record is upserted under: the first run's for a policy-update same person. */
	crmKey: string;
	/**
	 * A newer run of the same CRM record (policy update) already delivered: re-delivering this one
	 * would write its older details over the newer ones. Null otherwise.
	 */
	supersededBy: string | null;
	correlationId: string | null;
	sealedLead: Buffer | null;
}

export interface Claim {
	now: Date;
	leaseUntil: Date;
	leaseToken: string;
	limit: number;
}

/**
 * Claims up to `limit` due items: `open` ones whose time has come and `retrying` ones whose
 * lease ran out (their processor died). SKIP LOCKED lets several processors claim side by side
 * without ever taking the same item; the lease token fences out a holder that lost its lease.
 * An item waits while a newer run of its CRM record (policy update) is still to be delivered
 * (queued, in flight, or in the DLQ itself): the newest goes first, and this one is then found
 * superseded and not sent over it.
 */
export async function claimDue(sql: Sql, claim: Claim): Promise<ClaimedItem[]> {
	return claimWhere(
		sql,
		claim,
		sql`((d.status = 'open' AND d.next_retry_at <= ${claim.now}) OR (d.status = 'retrying' AND d.locked_until <= ${claim.now}))
			AND ${noNewerToDeliver(sql, ['open', 'retrying'])}`,
	);
}

/**
 * SQL on `dlq d`: no newer run of the item's CRM record (policy update) is still to be delivered:
 * queued, in flight, or in the DLQ with one of `waiting`.
 */
function noNewerToDeliver(sql: Queryable, waiting: readonly DlqStatus[]) {
	return sql`NOT EXISTS (
		SELECT 1 FROM runs r0, runs n
		WHERE r0.run_id = d.run_id AND ${sameCrmRecord(sql, 'n', 'r0')}
		AND (n.received_at, n.run_id) > (r0.received_at, r0.run_id)
		AND (n.status IN ('queued', 'accepted') OR EXISTS (
			SELECT 1 FROM dlq nd WHERE nd.run_id = n.run_id AND nd.status = ANY(${waiting as string[]}))))`;
}

/**
 * An operator's "retry now": an open or dead item that is not being retried by someone else, and
 * has no newer lead of its CRM record still on its way (policy update: that one goes first).
 */
export async function claimOne(sql: Sql, dlqId: number, claim: Claim): Promise<ClaimedItem | null> {
	const [item] = await claimWhere(
		sql,
		claim,
		sql`d.dlq_id = ${dlqId} AND d.run_id IS NOT NULL AND (d.status IN ('open', 'dead') OR (d.status = 'retrying' AND d.locked_until <= ${claim.now}))
			AND ${noNewerToDeliver(sql, ['open', 'retrying'])}`,
	);
	return item ?? null;
}

/** Which items a bulk replay takes: lead items (never signature refusals) that are open or dead. */
export interface ReplayFilter {
	statuses: readonly ('open' | 'dead')[];
	reason: string | null;
	source: string | null;
	/** Created at or after / before. */
	from: Date | null;
	to: Date | null;
}

function replayCondition(sql: Queryable, filter: ReplayFilter) {
	const reason = filter.reason === null ? sql`` : sql`AND d.reason = ${filter.reason}`;
	const source =
		filter.source === null
			? sql``
			: sql`AND EXISTS (SELECT 1 FROM runs r WHERE r.run_id = d.run_id AND r.source = ${filter.source})`;
	const from = filter.from === null ? sql`` : sql`AND d.created_at >= ${filter.from}`;
	const to = filter.to === null ? sql`` : sql`AND d.created_at < ${filter.to}`;
	// a newer lead of the record goes first, a dead one too when this replay takes dead ones: this
	// one waits, and the next replay finds it superseded rather than send it over the newer one
	const waiting: DlqStatus[] = filter.statuses.includes('dead')
		? ['open', 'retrying', 'dead']
		: ['open', 'retrying'];
	return sql`d.run_id IS NOT NULL AND d.status = ANY(${filter.statuses as string[]}) ${reason} ${source} ${from} ${to}
		AND ${noNewerToDeliver(sql, waiting)}`;
}

export async function countReplayable(sql: Sql, filter: ReplayFilter): Promise<number> {
	const [row] = await sql<{ count: string }[]>`
		SELECT count(*) FROM dlq d WHERE ${replayCondition(sql, filter)}`;
	return Number(row!.count);
}

/** Claims up to `claim.limit` matching items, oldest first (an item claimed elsewhere is skipped). */
export async function claimReplayable(
	sql: Sql,
	filter: ReplayFilter,
	claim: Claim,
): Promise<ClaimedItem[]> {
	return claimWhere(sql, claim, replayCondition(sql, filter), sql`d.dlq_id`);
}

async function claimWhere(
	sql: Sql,
	claim: Claim,
	condition: postgres.PendingQuery<postgres.Row[]>,
	order = sql`d.next_retry_at NULLS FIRST, d.dlq_id`,
): Promise<ClaimedItem[]> {
	const rows = await sql<
		{
			dlq_id: string;
			run_id: string;
			run_status: RunStatus;
			retry_count: number;
			idempotency_key: string;
			crm_key: string;
			superseded_by: string | null;
			correlation_id: string | null;
			sealed_lead: Buffer | null;
		}[]
	>`
		WITH due AS MATERIALIZED (
			SELECT d.dlq_id FROM dlq d
			WHERE ${condition}
			ORDER BY ${order}
			LIMIT ${claim.limit}
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE dlq SET status = 'retrying', locked_until = ${claim.leaseUntil}, lease_token = ${claim.leaseToken},
				updated_at = now()
			FROM due WHERE dlq.dlq_id = due.dlq_id
			RETURNING dlq.dlq_id, dlq.run_id, dlq.retry_count
		)
		SELECT c.dlq_id, c.run_id, r.status AS run_status, c.retry_count, r.idempotency_key, r.correlation_id,
			r.sealed_lead,
			-- the first run erased: its own key (runs.ts, claimQueued)
			coalesce(f.first_key, r.idempotency_key) AS crm_key,
			(SELECT n.run_id FROM runs n
				WHERE ${sameCrmRecord(sql, 'n', 'r')}
				AND n.status = 'processed' AND n.erased_at IS NULL
				-- a record shared through a first run only while that run lives (see crm_key)
				AND (r.duplicate_of IS NULL OR f.first_key IS NOT NULL)
				AND (n.received_at, n.run_id) > (r.received_at, r.run_id)
				ORDER BY n.received_at DESC LIMIT 1) AS superseded_by
		FROM claimed c JOIN runs r ON r.run_id = c.run_id
			-- read once per item (a volatile call in the subquery above would run per candidate)
			CROSS JOIN LATERAL (SELECT living_run_key(r.duplicate_of) AS first_key) f
		ORDER BY c.dlq_id`;
	return rows.map((row) => ({
		dlqId: Number(row.dlq_id),
		runId: row.run_id,
		runStatus: row.run_status,
		retryCount: row.retry_count,
		leaseToken: claim.leaseToken,
		leaseUntil: claim.leaseUntil,
		idempotencyKey: row.idempotency_key,
		crmKey: row.crm_key,
		supersededBy: row.superseded_by,
		correlationId: row.correlation_id,
		sealedLead: row.sealed_lead,
	}));
}

export type Settlement =
	| { status: 'resolved'; note: string | null; supersededBy?: string }
	| { status: 'open'; nextRetryAt: Date; lastError: string }
	| { status: 'dead'; lastError: string };

/**
 * A claimed item settled, only while its lease token still holds: a CTE body returning the item
 * (dlq_id, run_id), or nothing when another claim took it over, so the statement it is part
 * of writes nothing else (see db/transitions.ts).
 */
export function settleClaimedStatement(
	sql: Queryable,
	item: Pick<ClaimedItem, 'dlqId' | 'leaseToken'>,
	settlement: Settlement,
	countsAsRetry: boolean,
) {
	return sql`
		UPDATE dlq SET
			status = ${settlement.status},
			retry_count = retry_count + ${countsAsRetry ? 1 : 0},
			next_retry_at = ${settlement.status === 'open' ? settlement.nextRetryAt : null},
			last_error = COALESCE(${settlement.status === 'resolved' ? null : settlement.lastError}, last_error),
			alert = alert OR ${settlement.status === 'dead'},
			resolved_at = ${settlement.status === 'resolved' ? sql`now()` : null},
			resolution_note = ${settlement.status === 'resolved' ? settlement.note : null},
			superseded_by = ${settlement.status === 'resolved' ? (settlement.supersededBy ?? null) : null},
			locked_until = NULL, lease_token = NULL, updated_at = now()
		WHERE dlq_id = ${item.dlqId} AND lease_token = ${item.leaseToken} AND status = 'retrying'
		RETURNING dlq_id, run_id`;
}

/** Puts a claimed item back as it was due, no retry counted (CRM calls were paused meanwhile). */
export async function releaseClaimed(
	sql: Queryable,
	item: Pick<ClaimedItem, 'dlqId' | 'leaseToken'>,
	nextRetryAt: Date,
): Promise<boolean> {
	const rows = await sql`
		UPDATE dlq SET status = 'open', next_retry_at = ${nextRetryAt}, locked_until = NULL, lease_token = NULL,
			updated_at = now()
		WHERE dlq_id = ${item.dlqId} AND lease_token = ${item.leaseToken} AND status = 'retrying'
		RETURNING dlq_id`;
	return rows.length === 1;
}

/** An operator closes an item by hand: a CTE body returning (dlq_id, run_id, retry_count). */
export function resolveManuallyStatement(sql: Queryable, dlqId: number, note: string) {
	return sql`
		UPDATE dlq SET status = 'resolved', resolved_at = now(), resolution_note = ${note},
			next_retry_at = NULL, locked_until = NULL, lease_token = NULL, updated_at = now()
		WHERE dlq_id = ${dlqId} AND status IN ('open', 'dead')
		RETURNING dlq_id, run_id, retry_count`;
}

export async function findDlqEntry(sql: Sql, dlqId: number): Promise<DlqEntry | null> {
	const [row] = await sql<DlqEntry[]>`SELECT ${sql(DLQ_COLUMNS)} FROM dlq WHERE dlq_id = ${dlqId}`;
	return row ?? null;
}

export async function listDlq(
	sql: Sql,
	filter: { status: DlqStatus | null; reason: string | null; limit: number; offset: number },
): Promise<{ items: DlqEntry[]; total: number }> {
	const status = filter.status ? sql`AND status = ${filter.status}` : sql``;
	const reason = filter.reason ? sql`AND reason = ${filter.reason}` : sql``;
	const where = sql`WHERE true ${status} ${reason}`;
	const [items, [count]] = await Promise.all([
		sql<
			DlqEntry[]
		>`SELECT ${sql(DLQ_COLUMNS)} FROM dlq ${where} ORDER BY dlq_id DESC LIMIT ${filter.limit} OFFSET ${filter.offset}`,
		sql<{ total: string }[]>`SELECT count(*) AS total FROM dlq ${where}`,
	]);
	return { items, total: Number(count!.total) };
}

export async function dlqEntriesOfRun(sql: Sql, runId: string): Promise<DlqEntry[]> {
	return sql<
		DlqEntry[]
	>`SELECT ${sql(DLQ_COLUMNS)} FROM dlq WHERE run_id = ${runId} ORDER BY dlq_id`;
}

export async function dlqDepth(sql: Sql): Promise<Record<DlqStatus, number>> {
	const rows = await sql<
		{ status: DlqStatus; count: string }[]
	>`SELECT status, count(*) FROM dlq GROUP BY status`;
	const depth: Record<DlqStatus, number> = { open: 0, retrying: 0, resolved: 0, dead: 0 };
	for (const row of rows) depth[row.status] = Number(row.count);
	return depth;
}

const DLQ_COLUMNS = [
	'dlq_id',
	'run_id',
	'reason',
	'status',
	'retry_count',
	'next_retry_at',
	'locked_until',
	'last_error',
	'alert',
	'occurrences',
	'payload',
	'created_at',
	'updated_at',
	'resolved_at',
	'resolution_note',
	'superseded_by',
];
