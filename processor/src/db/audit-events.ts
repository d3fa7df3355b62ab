import type postgres from 'postgres';
import type { AuditEvent } from '../vocabulary.js';
import type { Sql } from './connection.js';

export type { AuditEvent } from '../vocabulary.js';

type Queryable = Sql | postgres.TransactionSql;

/** An event with the run it belongs to, for statements that write several runs' events. */
export type EventRow = AuditEvent & {
	run_id: string | null;
	correlation_id: string | null;
};

/**
 * The one INSERT into audit_events: rows in list order (event_id order is timeline order). A
 * `filter` on `e.run_id` lets a statement keep only the events of the runs it created.
 */
export function insertEventRows(
	sql: Queryable,
	events: readonly EventRow[],
	filter?: postgres.PendingQuery<postgres.Row[]>,
) {
	const ordered = events.map((event, ord) => ({ ...event, ord }));
	return sql`
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		SELECT e.run_id, e.type, e.actor, e.payload, e.correlation_id
		FROM jsonb_to_recordset(${sql.json(ordered as unknown as postgres.JSONValue)})
			AS e(run_id uuid, type text, actor text, payload jsonb, correlation_id text, ord integer)
		${filter ?? sql``}
		ORDER BY e.ord`;
}

/** Appends one run's events (or run-less ones, `runId` null) in the given order. */
export async function insertEvents(
	sql: Queryable,
	runId: string | null,
	correlationId: string | null,
	events: readonly AuditEvent[],
): Promise<void> {
	await insertEventRows(
		sql,
		events.map((event) => ({ ...event, run_id: runId, correlation_id: correlationId })),
	);
}

/** GET /health's check: the database is up only if this write succeeds. */
export function recordHealthCheck(sql: Sql, correlationId: string) {
	const at = new Date().toISOString();
	return insertEventRows(sql, [
		{
			type: 'health_check',
			actor: 'system',
			payload: { check: 'health', at },
			run_id: null,
			correlation_id: correlationId,
		},
	]);
}

/** A run's audit timeline, oldest first. */
export async function eventsOfRun(sql: Sql, runId: string) {
	return sql`
		SELECT event_id, event_time, event_type, actor, payload, correlation_id
		FROM audit_events WHERE run_id = ${runId} ORDER BY event_id`;
}
