import type postgres from 'postgres';
import { ALL_PERSONAL_PAYLOAD_FIELDS } from '../pii/personal-data.js';
import type { AuditEvent, EventPayloads } from '../vocabulary.js';
import type { Queryable, Sql } from './connection.js';

export type { AuditEvent } from '../vocabulary.js';

/** An event with the run it belongs to, for statements that write several runs' events. */
export type EventRow = AuditEvent & {
	run_id: string | null;
	correlation_id: string | null;
};

type Fragment = postgres.PendingQuery<postgres.Row[]>;

export interface EventRowOptions {
	/** Keeps only the rows this condition (on `e`) holds for, e.g. the runs a statement created. */
	where?: Fragment;
	/**
	 * A relation of (run_id, dlq_id): the DLQ items the same statement creates. An event whose
	 * payload has `dlq_id` takes the id of its run's item, and is left out if none was created.
	 */
	dlqItems?: Fragment;
	/**
	 * A relation of at most one row with a jsonb column `payload`: what only the statement knows
	 * (e.g. the run a lookup found), merged over each event's payload. No row: no event.
	 */
	merge?: Fragment;
}

/**
 * An event's payload as written: without its personal fields if its run's person was erased
 * meanwhile (a CRM call that failed while the erasure ran). The run is share-locked, so an
 * erasure under way is waited for and then seen. Only the statement that records a failed call
 * (dlqItems) needs it: the others write a run's first events, or are fenced by a claim an
 * erasure takes away.
 */
function unlessErased(sql: Queryable, payload: Fragment): Fragment {
	const personal = sql`${ALL_PERSONAL_PAYLOAD_FIELDS as unknown as string[]}::text[]`;
	return sql`CASE WHEN e.run_id IS NOT NULL AND ${payload} ?| ${personal}
			AND (SELECT r.erased_at IS NOT NULL FROM runs r WHERE r.run_id = e.run_id FOR KEY SHARE)
		THEN (${payload} - ${personal}) || '{"erased": true}'::jsonb ELSE ${payload} END`;
}

/** The one INSERT into audit_events: rows in list order (event_id order is timeline order). */
export function insertEventRows(
	sql: Queryable,
	events: readonly EventRow[],
	options: EventRowOptions = {},
) {
	const ordered = events.map((event, ord) => ({ ...event, ord }));
	const rows = sql`jsonb_to_recordset(${sql.json(ordered as unknown as postgres.JSONValue)})
		AS e(run_id uuid, type text, actor text, payload jsonb, correlation_id text, ord integer)`;
	const where = options.where ? sql`AND ${options.where}` : sql``;
	if (options.merge) {
		return sql`
			INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
			SELECT e.run_id, e.type, e.actor, e.payload || m.payload, e.correlation_id
			FROM ${rows} CROSS JOIN ${options.merge} m
			WHERE true ${where}
			ORDER BY e.ord`;
	}
	if (!options.dlqItems) {
		return sql`
			INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
			SELECT e.run_id, e.type, e.actor, e.payload, e.correlation_id FROM ${rows}
			WHERE true ${where}
			ORDER BY e.ord`;
	}
	return sql`
		INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
		SELECT e.run_id, e.type, e.actor,
			${unlessErased(sql, sql`(CASE WHEN e.payload ? 'dlq_id' THEN jsonb_set(e.payload, '{dlq_id}', to_jsonb(i.dlq_id)) ELSE e.payload END)`)},
			e.correlation_id
		FROM ${rows} LEFT JOIN ${options.dlqItems} i ON i.run_id = e.run_id
		WHERE (NOT e.payload ? 'dlq_id' OR i.dlq_id IS NOT NULL) ${where}
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

export interface ReceivedLead {
	run_id: string;
	status: string;
	received_at: Date;
	/** The lead as its lead_received event holds it: normalised and masked; null if absent. */
	lead: unknown;
}

/**
 * The masked leads of the newest `limit` runs, newest first, handed over `batch` at a time (a
 * cursor: memory stays bounded however large the leads are). Each run's lead comes from its
 * lead_received event (the raw lead is purged once delivered).
 */
export async function forEachReceivedLead(
	sql: Sql,
	limit: number,
	batch: number,
	handle: (leads: ReceivedLead[]) => void,
): Promise<void> {
	const cursor = sql<ReceivedLead[]>`
		SELECT r.run_id, r.status, r.received_at, e.payload -> 'lead' AS lead
		FROM (SELECT run_id, status, received_at FROM runs ORDER BY received_at DESC, run_id LIMIT ${limit}) r
		LEFT JOIN LATERAL (
			SELECT payload FROM audit_events
			WHERE run_id = r.run_id AND event_type = 'lead_received' ORDER BY event_id LIMIT 1
		) e ON true
		ORDER BY r.received_at DESC, r.run_id`.cursor(batch);
	for await (const rows of cursor) handle(rows);
}

/** What retention passes removed, in counts. */
export type RetentionRemoved = Omit<EventPayloads['retention_applied'], 'more'>;

/** What the retention passes of [from, to) removed, summed (retention_applied events; no person). */
export async function retentionRemoved(
	sql: Sql,
	range: { from: Date; to: Date },
): Promise<RetentionRemoved> {
	const [row] = await sql<Record<keyof RetentionRemoved, string>[]>`
		SELECT coalesce(sum((payload->>'raw_leads_purged')::bigint), 0) AS raw_leads_purged,
			coalesce(sum((payload->>'runs_anonymised')::bigint), 0) AS runs_anonymised,
			coalesce(sum((payload->>'alert_files_deleted')::bigint), 0) AS alert_files_deleted,
			coalesce(sum((payload->>'refused_requests_cleared')::bigint), 0) AS refused_requests_cleared
		FROM audit_events
		WHERE event_type = 'retention_applied' AND event_time >= ${range.from} AND event_time < ${range.to}`;
	return {
		raw_leads_purged: Number(row!.raw_leads_purged),
		runs_anonymised: Number(row!.runs_anonymised),
		alert_files_deleted: Number(row!.alert_files_deleted),
		refused_requests_cleared: Number(row!.refused_requests_cleared),
	};
}
