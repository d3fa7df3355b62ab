import type postgres from 'postgres';
import type { AuditEvent, EventRow } from './audit-events.js';
import { insertEventRows } from './audit-events.js';
import type { Sql } from './connection.js';
import { withDeadline } from './deadline.js';
import { insertAttempts, type RunAttempt } from './delivery-attempts.js';
import {
	insertDlqItemsStatement,
	resolveManuallyStatement,
	settleClaimedStatement,
	type ClaimedItem,
	type NewDlqEntry,
	type Settlement,
} from './dlq.js';
import {
	failAcceptedStatement,
	failExpiredStatement,
	processedStatement,
	purgeSealedLeadsStatement,
	type Delivery,
} from './runs.js';

/*
 * The state transitions that change several tables at once, each as ONE statement (data-
 * modifying CTEs built from each table's own module): atomic like a transaction, one round trip,
 * and nothing is left half done if the connection dies in the middle. (postgres.js crashes the
 * whole process when a transaction's connection dies while it still has work to send, an open
 * upstream bug, so the processor runs no multi-statement transaction after start-up.)
 *
 * Events about a DLQ item the statement creates carry `dlq_id: PENDING_DLQ_ID`; the statement
 * writes the new item's id into them (insertEventRows' dlqItems).
 */

export const PENDING_DLQ_ID = 0;

type Fragment = postgres.PendingQuery<postgres.Row[]>;

export interface IntakeFailure {
	runId: string;
	correlationId: string;
	errorCode: string;
	errorMessage: string;
	/** Absent when no call was made (forced failure, CRM calls paused). */
	attempt: RunAttempt | null;
	dlq: Omit<NewDlqEntry, 'runId'>;
	/** The failed call's events (always written) and the DLQ item's (only if it is created). */
	events: AuditEvent[];
}

/**
 * After accept, delivery failed: the attempt is recorded, and if this request still holds the
 * run it becomes `failed` with a DLQ item and its events. Returns the run's live DLQ item: the
 * one made here, or the one the recovery made when it took the run meanwhile.
 */
export async function recordIntakeFailure(
	sql: Sql,
	failure: IntakeFailure,
	deadlineMs: number,
): Promise<number | null> {
	const attempt = failure.attempt
		? sql`, attempt AS (${insertAttempts(sql, [failure.attempt])})`
		: sql``;
	const events = failure.events.map((event) => ({
		...event,
		run_id: failure.runId,
		correlation_id: failure.correlationId,
	})) as EventRow[];
	const [row] = await withDeadline(
		sql<{ created: string | null; live: string | null }[]>`
		WITH moved AS (${failAcceptedStatement(sql, failure)})${attempt},
		item AS (${insertDlqItemsStatement(sql, sql`moved`, failure.dlq)}),
		events AS (${insertEventRows(sql, events, { dlqItems: sql`item` })})
		SELECT (SELECT dlq_id FROM item) AS created,
			(SELECT dlq_id FROM dlq WHERE run_id = ${failure.runId} AND status IN ('open', 'retrying')) AS live`,
		deadlineMs,
	);
	const id = row!.created ?? row!.live;
	return id === null ? null : Number(id);
}

/**
 * Runs left `accepted` since before `cutoff` become `failed` with an open DLQ item (reason
 * `interrupted`, due at `now`), audited `run_recovered` then `dlq_created`, at most `limit` of
 * them. The two payloads are built here in SQL (they need each run's own values) in the shapes
 * vocabulary.ts declares. Returns how many.
 */
export async function recoverExpiredRuns(
	sql: Sql,
	expired: { cutoff: Date; now: Date; limit: number; leaseSeconds: number; errorMessage: string },
): Promise<number> {
	const at = (column: Fragment) =>
		sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
	const [row] = await sql<{ recovered: string }[]>`
		WITH moved AS (${failExpiredStatement(sql, expired)}),
		item AS (${insertDlqItemsStatement(sql, sql`moved`, {
			reason: 'interrupted',
			payload: sql`jsonb_build_object('source', r.source, 'idempotency_key', r.idempotency_key, 'recovered', true)`,
			status: 'open',
			nextRetryAt: expired.now,
			lastError: expired.errorMessage,
		})}),
		events AS (
			INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
			SELECT m.run_id, x.type, 'system', x.payload, m.correlation_id
			FROM moved m JOIN item i ON i.run_id = m.run_id,
				LATERAL (VALUES
					(1, 'run_recovered', jsonb_build_object('reason', 'interrupted',
						'accepted_at', ${at(sql`m.received_at`)}, 'lease_seconds', ${expired.leaseSeconds}::int)),
					(2, 'dlq_created', jsonb_build_object('dlq_id', i.dlq_id, 'reason', 'interrupted',
						'status', 'open', 'next_retry_at', ${expired.now.toISOString()}::text))
				) AS x(ord, type, payload)
			ORDER BY m.received_at, m.run_id, x.ord
		)
		SELECT count(*) AS recovered FROM moved`;
	return Number(row!.recovered);
}

export type Redelivery = Omit<Delivery, 'fromStatus' | 'correlationId' | 'runId'>;

/**
 * A re-delivery settled, only while the claim still holds: the item resolved (with the run
 * marked processed when `delivery` says the CRM has it; with its raw lead dropped when it was
 * superseded and will never be sent) or rescheduled or dead, with the attempt and the events.
 * Returns false when the claim was lost (then nothing is written).
 */
export async function settleRedelivery(
	sql: Sql,
	item: Pick<ClaimedItem, 'dlqId' | 'leaseToken' | 'runId' | 'correlationId'>,
	settlement: Settlement,
	outcome:
		| { delivered: Redelivery }
		| { failed: { attempt: RunAttempt | null; events: AuditEvent[] } }
		| { alreadyDelivered: { events: AuditEvent[] } }
		| { superseded: { events: AuditEvent[] } },
): Promise<boolean> {
	const held = sql`EXISTS (SELECT 1 FROM settled)`;
	const countsAsRetry =
		'delivered' in outcome || ('failed' in outcome && outcome.failed.attempt !== null);
	let writes: Fragment;
	if ('delivered' in outcome) {
		const delivery: Delivery = {
			...outcome.delivered,
			runId: item.runId,
			correlationId: item.correlationId,
			fromStatus: 'failed',
		};
		writes = processedStatement(sql, [delivery], { when: held });
	} else {
		const { events } =
			'failed' in outcome
				? outcome.failed
				: 'superseded' in outcome
					? outcome.superseded
					: outcome.alreadyDelivered;
		const attempt = 'failed' in outcome ? outcome.failed.attempt : null;
		const rows = events.map((event) => ({
			...event,
			run_id: item.runId,
			correlation_id: item.correlationId,
		})) as EventRow[];
		const attemptWrite = attempt
			? sql`attempt AS (${insertAttempts(sql, [attempt], held)}), `
			: sql``;
		const purge =
			'superseded' in outcome
				? sql`purged AS (${purgeSealedLeadsStatement(sql, sql`settled`)}), `
				: sql``;
		writes = sql`${attemptWrite}${purge}events AS (${insertEventRows(sql, rows, { where: held })})`;
	}
	const [row] = await sql<{ settled: string }[]>`
		WITH settled AS (${settleClaimedStatement(sql, item, settlement, countsAsRetry)}), ${writes}
		SELECT count(*) AS settled FROM settled`;
	return Number(row!.settled) === 1;
}

/**
 * An operator closes an open or dead item by hand: resolved with the note, the raw lead purged,
 * `dlq_resolved` (actor operator) audited. Returns the run, or null if the item was not
 * open or dead.
 */
export async function resolveByOperator(
	sql: Sql,
	close: { dlqId: number; note: string; correlationId: string },
): Promise<{ run_id: string | null } | null> {
	const [row] = await sql<{ run_id: string | null }[]>`
		WITH resolved AS (${resolveManuallyStatement(sql, close.dlqId, close.note)}),
		purged AS (${purgeSealedLeadsStatement(sql, sql`resolved`)}),
		events AS (
			INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
			SELECT r.run_id, 'dlq_resolved', 'operator',
				jsonb_build_object('dlq_id', r.dlq_id, 'by', 'operator', 'retry_count', r.retry_count, 'note', ${close.note}::text),
				${close.correlationId}
			FROM resolved r
		)
		SELECT run_id FROM resolved`;
	return row ?? null;
}
