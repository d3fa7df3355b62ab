import type { OutcomeEventType } from '../vocabulary.js';
import type { Sql } from './connection.js';
import { withDeadline } from './deadline.js';

/*
 * The outcome events outbox. Rows are written by the database's triggers (migration 0008) in the
 * statement that changes the run or DLQ item they report, never by this module; it claims,
 * settles, counts and prunes them.
 */

export interface OutboxEvent {
	event_id: string;
	webhook_id: string;
	event_type: OutcomeEventType;
	run_id: string | null;
	data: Record<string, unknown>;
	occurred_at: Date;
	attempts: number;
}

/**
 * Up to `limit` due events, oldest first, leased to `owner` until `leaseUntil`: a claimed event
 * whose lease ran out (its dispatcher died) is due again. Each claim counts an attempt.
 */
export async function claimDueEvents(
	sql: Sql,
	claim: {
		owner: string;
		now: Date;
		leaseUntil: Date;
		limit: number;
		types: readonly OutcomeEventType[];
		deadlineMs: number;
	},
): Promise<OutboxEvent[]> {
	return withDeadline(
		sql<OutboxEvent[]>`
			UPDATE outcome_events o SET lease_owner = ${claim.owner}, lease_until = ${claim.leaseUntil},
				attempts = o.attempts + 1
			-- ARRAY(...): the locking subquery runs once, so never more than LIMIT events (a rescan
			-- of a joined subquery would SKIP the rows it locked and take others)
			WHERE o.event_id = ANY(ARRAY(
				SELECT event_id FROM outcome_events
				WHERE status = 'pending' AND next_attempt_at <= ${claim.now}
					AND (lease_until IS NULL OR lease_until < ${claim.now})
					AND event_type = ANY(${claim.types as string[]}::text[])
				ORDER BY next_attempt_at, event_id LIMIT ${claim.limit}
				FOR UPDATE SKIP LOCKED))
			RETURNING o.event_id, o.webhook_id, o.event_type, o.run_id, o.data, o.occurred_at, o.attempts`,
		claim.deadlineMs,
	);
}

/**
 * Deletes up to `limit` pending events of types the receiver does not subscribe to (EVENTS_TYPES),
 * written by another tool or before the setting changed: nothing here will send them. Only those
 * older than `before` that nobody is sending: during a rolling deploy that adds a type, the new
 * processors send its events while the old ones still run. Never waits for a row. Returns how many.
 */
export async function dropUnsubscribed(
	sql: Sql,
	drop: {
		types: readonly OutcomeEventType[];
		before: Date;
		now: Date;
		limit: number;
		deadlineMs: number;
	},
): Promise<number> {
	const rows = await withDeadline(
		sql`
			DELETE FROM outcome_events WHERE event_id IN (
				SELECT event_id FROM outcome_events
				WHERE status = 'pending' AND NOT (event_type = ANY(${drop.types as string[]}::text[]))
					AND occurred_at < ${drop.before} AND (lease_until IS NULL OR lease_until < ${drop.now})
				LIMIT ${drop.limit}
				FOR UPDATE SKIP LOCKED)
			RETURNING event_id`,
		drop.deadlineMs,
	);
	return rows.length;
}

/**
 * Extends this dispatcher's claim on those of `eventIds` it still holds (unsettled, not taken by
 * another dispatcher after a lapse) to `leaseUntil`. Returns how many.
 */
export async function renewClaims(
	sql: Sql,
	renewal: { eventIds: readonly string[]; owner: string; leaseUntil: Date; deadlineMs: number },
): Promise<number> {
	if (renewal.eventIds.length === 0) return 0;
	const rows = await withDeadline(
		sql`
			UPDATE outcome_events SET lease_until = ${renewal.leaseUntil}
			WHERE event_id = ANY(${renewal.eventIds as string[]}::bigint[])
				AND lease_owner = ${renewal.owner} AND status = 'pending'
			RETURNING event_id`,
		renewal.deadlineMs,
	);
	return rows.length;
}

/**
 * Gives back this dispatcher's claims on pending events other than `except` (those it is sending):
 * a claim whose answer never reached it (its deadline passed) may have committed all the same,
 * and would hold its events until the lease ends. Their claim's attempt is not counted.
 */
export async function releaseClaims(
	sql: Sql,
	release: { owner: string; except: readonly string[]; deadlineMs: number },
): Promise<number> {
	const rows = await withDeadline(
		sql`
			UPDATE outcome_events SET lease_owner = NULL, lease_until = NULL,
				attempts = greatest(attempts - 1, 0)
			WHERE lease_owner = ${release.owner} AND status = 'pending'
				AND NOT (event_id = ANY(${release.except as string[]}::bigint[]))
			RETURNING event_id`,
		release.deadlineMs,
	);
	return rows.length;
}

/** The receiver acknowledged: sent, while this dispatcher's claim still holds. */
export async function markSent(
	sql: Sql,
	eventIds: readonly string[],
	owner: string,
	deadlineMs: number,
): Promise<void> {
	if (eventIds.length === 0) return;
	await withDeadline(
		sql`
			UPDATE outcome_events SET status = 'sent', sent_at = now(), lease_owner = NULL,
				lease_until = NULL, last_error = NULL
			WHERE event_id = ANY(${eventIds as string[]}::bigint[]) AND lease_owner = ${owner}
				AND status = 'pending'`,
		deadlineMs,
	);
}

/**
 * Not acknowledged: due again at `nextAttemptAt`, the claim released. `uncount`: the attempt never
 * reached an answer through no fault of the receiver (the processor stopped), so it does not count
 * towards the backoff.
 */
export async function reschedule(
	sql: Sql,
	failure: {
		eventId: string;
		owner: string;
		nextAttemptAt: Date;
		error: string;
		uncount?: boolean;
	},
	deadlineMs: number,
): Promise<void> {
	await withDeadline(
		sql`
			UPDATE outcome_events SET next_attempt_at = ${failure.nextAttemptAt}, lease_owner = NULL,
				lease_until = NULL, last_error = ${failure.error.slice(0, 500)},
				attempts = greatest(attempts - ${failure.uncount ? 1 : 0}, 0)
			WHERE event_id = ${failure.eventId} AND lease_owner = ${failure.owner} AND status = 'pending'`,
		deadlineMs,
	);
}

export interface PendingSummary {
	pending: number;
	/** Of them, waiting after a refused or failed attempt. */
	retrying: number;
	oldest_pending_at: Date | null;
	by_type: Record<string, number>;
}

export async function pendingSummary(sql: Sql): Promise<PendingSummary> {
	const rows = await sql<
		{ event_type: string; count: string; retrying: string; oldest: Date | null }[]
	>`
		SELECT event_type, count(*) AS count, count(*) FILTER (WHERE last_error IS NOT NULL) AS retrying,
			min(occurred_at) AS oldest
		FROM outcome_events WHERE status = 'pending' GROUP BY event_type`;
	const summary: PendingSummary = { pending: 0, retrying: 0, oldest_pending_at: null, by_type: {} };
	for (const row of rows) {
		summary.pending += Number(row.count);
		summary.retrying += Number(row.retrying);
		summary.by_type[row.event_type] = Number(row.count);
		if (row.oldest && (!summary.oldest_pending_at || row.oldest < summary.oldest_pending_at)) {
			summary.oldest_pending_at = row.oldest;
		}
	}
	return summary;
}

export interface PendingEvent {
	webhook_id: string;
	type: OutcomeEventType;
	run_id: string | null;
	occurred_at: Date;
	attempts: number;
	next_attempt_at: Date;
	last_error: string | null;
}

/** The oldest pending events, for the operator. */
export async function pendingEvents(sql: Sql, limit: number): Promise<PendingEvent[]> {
	return sql<PendingEvent[]>`
		SELECT webhook_id, event_type AS type, run_id, occurred_at, attempts, next_attempt_at, last_error
		FROM outcome_events WHERE status = 'pending'
		ORDER BY occurred_at, event_id LIMIT ${limit}`;
}

/**
 * An operator's "send now": every pending event not being sent right now is due at once. After
 * a long outage that can be millions: moved `batch` at a time, each a short statement, and only
 * counted.
 */
export async function makeAllDue(sql: Sql, now: Date, batch = 10_000): Promise<number> {
	let due = 0;
	for (;;) {
		const [row] = await sql<{ moved: number }[]>`
			WITH moved AS (
				UPDATE outcome_events SET next_attempt_at = ${now}
				WHERE event_id IN (
					SELECT event_id FROM outcome_events
					WHERE status = 'pending' AND next_attempt_at > ${now}
						AND (lease_until IS NULL OR lease_until < ${now})
					LIMIT ${batch}
					FOR UPDATE SKIP LOCKED)
				RETURNING 1
			)
			SELECT count(*)::int AS moved FROM moved`;
		due += row!.moved;
		if (row!.moved < batch) return due;
	}
}

/**
 * Events older than `before` that need no more work: sent ones, and (`pendingToo`: no
 * EVENTS_URL, so nothing will send them) pending ones. At most `limit` per call.
 */
export async function pruneEvents(
	sql: Sql,
	prune: { before: Date; pendingToo: boolean; limit: number },
): Promise<number> {
	// a sent event is kept for the retention after it was sent (one sent after a long outage is
	// not gone at once); an unsent one, with nowhere to send it, after it happened
	const rows = await sql`
		DELETE FROM outcome_events WHERE event_id IN (
			SELECT event_id FROM outcome_events
			WHERE occurred_at < ${prune.before}
				AND ((status = 'sent' AND sent_at < ${prune.before}) OR (${prune.pendingToo} AND status = 'pending'))
			ORDER BY occurred_at LIMIT ${prune.limit})
		RETURNING event_id`;
	return rows.length;
}
