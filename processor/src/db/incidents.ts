import type postgres from 'postgres';
import type { Queryable, Sql } from './connection.js';
import type { DlqStatus } from '../vocabulary.js';

/*
 * What alerts/ says about incidents, read from the record: DLQ items of leads (with how they
 * ended), rejected leads, refused signatures. The follow-up outbox lives on dlq (migration 0003).
 */

/** A lead's DLQ item with what a reader needs to know about it. */
export interface DlqIncident {
	dlq_id: number;
	run_id: string;
	status: DlqStatus;
	reason: string;
	retry_count: number;
	last_error: string | null;
	next_retry_at: Date | null;
	created_at: Date;
	/** When it ended: resolved_at, or the last change of a dead item. */
	ended_at: Date | null;
	resolution_note: string | null;
	followup_file: string | null;
	source: string;
	crm_id: string | null;
	/** Why it died (the last `dlq_dead` event): `retries_exhausted`, `crm_http_400`, ... */
	dead_reason: string | null;
	/** What the successful delivery was: an automatic retry, an operator's retry (or intake). */
	delivered_by: 'intake' | 'retry' | 'operator' | null;
	/** The person's data was erased (on request or by retention): the note and errors are gone. */
	erased: boolean;
	/** The erasure itself closed the item: it was never delivered, and nothing is left to send. */
	closed_by_erasure: boolean;
	/** Policy update: a newer run of the same CRM record was delivered first; this one was not sent. */
	superseded_by: string | null;
}

export interface RejectedLead {
	run_id: string;
	received_at: Date;
	source: string;
	rejection_reasons: string[];
}

export interface IncidentState {
	dead: DlqIncident[];
	deadTotal: number;
	waiting: DlqIncident[];
	waitingTotal: number;
	/** Resolved since `since`, newest first. */
	resolved: DlqIncident[];
	resolvedTotal: number;
	/** Rejected since `since`, newest first. */
	rejected: RejectedLead[];
	rejectedTotal: number;
	/** Requests refused for their signature since `signaturesSince` (never a lead record). */
	signatureFailures: { reason: string; count: number }[];
}

const INCIDENT_COLUMNS = (sql: Queryable) => sql`
	d.dlq_id::int AS dlq_id, d.run_id, d.status, d.reason, d.retry_count, d.last_error, d.next_retry_at,
	d.created_at,
	CASE WHEN d.status = 'resolved' THEN d.resolved_at WHEN d.status = 'dead' THEN d.updated_at END AS ended_at,
	d.resolution_note, d.followup_file, r.source, r.crm_id, d.superseded_by,
	(SELECT e.payload->>'reason' FROM audit_events e
		WHERE d.status = 'dead' AND e.run_id = d.run_id AND e.event_type = 'dlq_dead'
		ORDER BY e.event_id DESC LIMIT 1) AS dead_reason,
	(SELECT a.trigger FROM delivery_attempts a
		WHERE d.status = 'resolved' AND a.run_id = d.run_id AND a.success
		ORDER BY a.attempt_no DESC LIMIT 1) AS delivered_by,
	r.erased_at IS NOT NULL AS erased,
	-- one transaction closes the item and erases the run: both times are its now()
	(d.status = 'resolved' AND d.resolved_at = r.erased_at) AS closed_by_erasure`;

/**
 * Claims up to `limit` items whose ending has no follow-up yet, with a lease: `write` puts each
 * file down, then the claim is settled with the files written. A pass that dies leaves its
 * claims to expire, and the next pass takes the items again (and `write` finds the file it made).
 * SKIP LOCKED and the lease keep two processors off the same item. `write` answers the file
 * written per dlq_id; an item it could not write stays due. Returns the items written, and
 * apart the files written for items an erasure took meanwhile (the caller deletes them).
 */
export async function settleFollowUps(
	sql: Sql,
	claim: { limit: number; leaseSeconds: number; token: string },
	write: (items: DlqIncident[]) => Promise<Map<number, string>>,
): Promise<{ written: { item: DlqIncident; file: string }[]; erasedMeanwhile: string[] }> {
	const items = await sql<DlqIncident[]>`
		WITH due AS MATERIALIZED (
			SELECT dlq_id FROM dlq
			WHERE run_id IS NOT NULL AND status IN ('resolved', 'dead')
				AND followup_status IS DISTINCT FROM status
				AND (followup_claimed_until IS NULL OR followup_claimed_until < now())
			ORDER BY dlq_id
			LIMIT ${claim.limit}
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE dlq SET followup_claim = ${claim.token},
				followup_claimed_until = now() + make_interval(secs => ${claim.leaseSeconds})
			FROM due WHERE dlq.dlq_id = due.dlq_id
			RETURNING dlq.dlq_id
		)
		SELECT ${INCIDENT_COLUMNS(sql)}
		FROM dlq d JOIN runs r ON r.run_id = d.run_id
		WHERE d.dlq_id IN (SELECT dlq_id FROM claimed)
		ORDER BY d.dlq_id`;
	if (items.length === 0) return { written: [], erasedMeanwhile: [] };
	const files = await write([...items]);
	const written = items.flatMap((item) => {
		const file = files.get(item.dlq_id);
		return file ? [{ item, file }] : [];
	});
	// the ending the file was written for: an item that changed again since is due again
	const settled = await sql<{ dlq_id: string }[]>`
		UPDATE dlq SET followup_status = COALESCE(w.status, dlq.followup_status),
			followup_file = COALESCE(w.file, dlq.followup_file),
			followup_at = CASE WHEN w.file IS NULL THEN dlq.followup_at ELSE now() END,
			followup_claim = NULL, followup_claimed_until = NULL
		FROM unnest(${items.map((item) => item.dlq_id)}::bigint[],
			${items.map((item) => files.get(item.dlq_id) ?? null)}::text[],
			${items.map((item) => (files.has(item.dlq_id) ? item.status : null))}::text[]) AS w (dlq_id, file, status)
		WHERE dlq.dlq_id = w.dlq_id AND dlq.followup_claim = ${claim.token}
		RETURNING dlq.dlq_id`;
	// a claim lost while its file was written: when an erasure took it (it clears the claims of
	// its person's items and deletes their files before and after), the file written meanwhile
	// still holds what the erasure removed from the record, and must go too
	const kept = new Set(settled.map((row) => Number(row.dlq_id)));
	const lost = written.filter((entry) => !kept.has(Number(entry.item.dlq_id)));
	const erased =
		lost.length === 0
			? new Set<string>()
			: new Set(
					(
						await sql<{ run_id: string }[]>`
							SELECT run_id FROM runs
							WHERE run_id = ANY(${lost.map((entry) => entry.item.run_id)}::uuid[])
								AND erased_at IS NOT NULL`
					).map((row) => row.run_id),
				);
	return {
		written: written.filter((entry) => !erased.has(entry.item.run_id)),
		erasedMeanwhile: lost.filter((entry) => erased.has(entry.item.run_id)).map((e) => e.file),
	};
}

/**
 * Everything alerts/index.md shows, each list newest first and cut at `limit` (the totals say
 * how many there are).
 */
export async function readIncidentState(
	sql: Queryable,
	options: { since: Date; signaturesSince: Date; limit: number },
): Promise<IncidentState> {
	const { since, limit } = options;
	type Fragment = postgres.PendingQuery<postgres.Row[]>;
	const incidents = (where: Fragment, order: Fragment) => sql<DlqIncident[]>`
		SELECT ${INCIDENT_COLUMNS(sql)} FROM dlq d JOIN runs r ON r.run_id = d.run_id
		WHERE ${where} ORDER BY ${order} LIMIT ${limit}`;
	const count = async (query: postgres.PendingQuery<{ count: string }[]>) =>
		Number((await query)[0]!.count);

	const [dead, deadTotal, waiting, waitingTotal, resolved, resolvedTotal, rejected, rejectedTotal] =
		await Promise.all([
			incidents(sql`d.status = 'dead'`, sql`d.created_at DESC, d.dlq_id DESC`),
			count(sql`SELECT count(*) FROM dlq WHERE status = 'dead' AND run_id IS NOT NULL`),
			incidents(sql`d.status IN ('open', 'retrying')`, sql`d.created_at DESC, d.dlq_id DESC`),
			count(
				sql`SELECT count(*) FROM dlq WHERE status IN ('open', 'retrying') AND run_id IS NOT NULL`,
			),
			incidents(
				sql`d.status = 'resolved' AND d.resolved_at >= ${since}`,
				sql`d.resolved_at DESC, d.dlq_id DESC`,
			),
			count(
				sql`SELECT count(*) FROM dlq WHERE status = 'resolved' AND resolved_at >= ${since} AND run_id IS NOT NULL`,
			),
			sql<RejectedLead[]>`
				SELECT run_id, received_at, source, rejection_reasons FROM runs
				WHERE status = 'rejected' AND received_at >= ${since}
				ORDER BY received_at DESC, run_id LIMIT ${limit}`,
			count(sql`SELECT count(*) FROM runs WHERE status = 'rejected' AND received_at >= ${since}`),
		]);
	const signatureFailures = await sql<{ reason: string; count: number }[]>`
		SELECT reason, sum(occurrences)::int AS count FROM dlq
		WHERE run_id IS NULL AND updated_at >= ${options.signaturesSince}
		GROUP BY reason ORDER BY count DESC, reason`;
	return {
		dead,
		deadTotal,
		waiting,
		waitingTotal,
		resolved,
		resolvedTotal,
		rejected,
		rejectedTotal,
		signatureFailures: [...signatureFailures],
	};
}

/** Which of these ids are runs in the record (alert files named after one belong to a lead). */
export async function existingRunIds(sql: Queryable, ids: string[]): Promise<Set<string>> {
	if (ids.length === 0) return new Set();
	const rows = await sql<{ run_id: string }[]>`
		SELECT run_id FROM runs WHERE run_id = ANY(${ids}::uuid[])`;
	return new Set(rows.map((row) => row.run_id));
}

/**
 * Takes the lease on rewriting alerts/index.md unless another pass holds it (until it expires).
 * One statement each way: nothing is left held if the connection dies.
 */
export async function takeIndexLease(sql: Sql, holder: string, seconds: number): Promise<boolean> {
	const rows = await sql`
		INSERT INTO alerts_index_lease (holder, until) VALUES (${holder}, now() + make_interval(secs => ${seconds}))
		ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
			WHERE alerts_index_lease.until < now()
		RETURNING holder`;
	return rows.length === 1;
}

export async function releaseIndexLease(sql: Sql, holder: string): Promise<void> {
	await sql`DELETE FROM alerts_index_lease WHERE holder = ${holder}`;
}
