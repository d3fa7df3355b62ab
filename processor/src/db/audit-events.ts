import type postgres from 'postgres';
import type { JsonObject } from '../intake/lead-schema.js';
import type { Sql } from './connection.js';

export type EventType =
	| 'lead_received'
	| 'lead_duplicate'
	| 'lead_rejected'
	| 'crm_upserted'
	| 'delivery_failed'
	| 'dlq_created'
	| 'dlq_retried'
	| 'dlq_resolved'
	| 'dlq_dead'
	| 'health_check'
	| 'kpi_computed';

export type Actor = 'webhook' | 'processor' | 'system' | 'operator';

/** One row of a run's audit timeline. Payloads are sanitized by the caller: never a plain email. */
export interface AuditEvent {
	type: EventType;
	actor: Actor;
	payload: JsonObject;
}

type Queryable = Sql | postgres.TransactionSql;

/** Appends events in the given order (event_id order is timeline order). */
export async function insertEvents(
	sql: Queryable,
	runId: string | null,
	correlationId: string | null,
	events: readonly AuditEvent[],
): Promise<void> {
	await sql`
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		SELECT ${runId}::uuid, e.type, e.actor, e.payload, ${correlationId}
		FROM jsonb_to_recordset(${sql.json(events as unknown as postgres.JSONValue)}) AS e(type text, actor text, payload jsonb)`;
}

/** GET /health's check: the database is up only if this write succeeds. */
export async function recordHealthCheck(sql: Sql, correlationId: string): Promise<void> {
	await insertEvents(sql, null, correlationId, [
		{ type: 'health_check', actor: 'system', payload: { check: 'health', at: new Date().toISOString() } },
	]);
}

/** A run's audit timeline, oldest first. */
export async function eventsOfRun(sql: Sql, runId: string) {
	return sql`
		SELECT event_id, event_time, event_type, actor, payload, correlation_id
		FROM audit_events WHERE run_id = ${runId} ORDER BY event_id`;
}
