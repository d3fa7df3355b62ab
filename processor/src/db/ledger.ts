import type { Sql } from './connection.js';

/**
 * Where every lead received in a time range is now. Each run is in exactly one bucket, so
 * received = processed + rejected + same_person + waiting + dead + resolved_manually + superseded +
 * queued + in_flight + erased holds exactly when nothing is stuck (accepted past its lease: nobody is
 * delivering it) or unaccounted (failed without a DLQ item). `duplicates` (the same request again) are
 * repeats that create no run, counted apart; `same_person` (the same person again) are runs of
 * their own.
 */
export interface LedgerSummary {
	received: number;
	processed: number;
	rejected: number;
	/** Runs of a person already received within the window (run status `duplicate`). */
	same_person: number;
	/** In the DLQ, waiting for a retry (open or being retried). */
	waiting: number;
	/** In the DLQ and given up on: a person must replay or resolve them. */
	dead: number;
	/** Failed, and closed by an operator by hand. */
	resolved_manually: number;
	/** Failed, and not sent again: a newer lead of the same CRM record was delivered first. */
	superseded: number;
	/**
	 * Erased before they were delivered (no longer to be delivered): on their person's request, or
	 * anonymised by retention while dead in the DLQ (retention closes the item as an erasure does).
	 */
	erased: number;
	/** Answered on store, waiting for a deliverer. */
	queued: number;
	/** Accepted and still within their lease: being delivered right now. */
	in_flight: number;
	stuck: number;
	unaccounted: number;
	duplicates: number;
	balanced: boolean;
}

export async function ledger(
	sql: Sql,
	range: { from: Date; to: Date },
	leaseCutoff: Date,
	/** The processor's clock: a run claimed from the queue is in flight until its lease_until. */
	now: Date = new Date(),
): Promise<LedgerSummary> {
	const [row] = await sql<Record<Exclude<keyof LedgerSummary, 'balanced'>, string>[]>`
		WITH ranged AS (
			SELECT CASE WHEN r.erased_at IS NOT NULL AND r.status = 'failed' THEN 'erased' ELSE r.status END AS status,
				r.received_at, r.lease_until,
				(SELECT d.status FROM dlq d WHERE d.run_id = r.run_id ORDER BY d.dlq_id DESC LIMIT 1) AS dlq_status,
				EXISTS (SELECT 1 FROM dlq d WHERE d.run_id = r.run_id AND d.superseded_by IS NOT NULL) AS superseded
			FROM runs r WHERE r.received_at >= ${range.from} AND r.received_at < ${range.to}
		)
		SELECT count(*) AS received,
			count(*) FILTER (WHERE status = 'processed') AS processed,
			count(*) FILTER (WHERE status = 'rejected') AS rejected,
			count(*) FILTER (WHERE status = 'duplicate') AS same_person,
			count(*) FILTER (WHERE status = 'failed' AND dlq_status IN ('open', 'retrying')) AS waiting,
			count(*) FILTER (WHERE status = 'failed' AND dlq_status = 'dead') AS dead,
			count(*) FILTER (WHERE status = 'failed' AND dlq_status = 'resolved' AND NOT superseded) AS resolved_manually,
			count(*) FILTER (WHERE status = 'failed' AND dlq_status = 'resolved' AND superseded) AS superseded,
			count(*) FILTER (WHERE status = 'queued') AS queued,
			count(*) FILTER (WHERE status = 'erased') AS erased,
			count(*) FILTER (WHERE status = 'accepted'
				AND (received_at >= ${leaseCutoff} OR lease_until >= ${now})) AS in_flight,
			count(*) FILTER (WHERE status = 'accepted' AND received_at < ${leaseCutoff}
				AND (lease_until IS NULL OR lease_until < ${now})) AS stuck,
			count(*) FILTER (WHERE status = 'failed' AND dlq_status IS NULL) AS unaccounted,
			(SELECT count(*) FROM audit_events e WHERE e.event_type = 'lead_duplicate'
				AND e.event_time >= ${range.from} AND e.event_time < ${range.to}) AS duplicates
		FROM ranged`;
	const counts = Object.fromEntries(
		Object.entries(row!).map(([name, value]) => [name, Number(value)]),
	) as Omit<LedgerSummary, 'balanced'>;
	const accounted =
		counts.processed +
		counts.rejected +
		counts.same_person +
		counts.waiting +
		counts.dead +
		counts.resolved_manually +
		counts.superseded +
		counts.queued +
		counts.in_flight +
		counts.erased;
	return { ...counts, balanced: counts.received === accounted };
}
