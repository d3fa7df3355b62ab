import type { Sql } from './connection.js';

export interface KpiRow {
	day: string;
	received_count: number;
	processed_count: number;
	rejected_count: number;
	failed_count: number;
	/** The same request again (key and body repeated): answered duplicate, no run of its own. */
	duplicate_count: number;
	/** The same person again within the window: runs of status `duplicate`. */
	same_person_count: number;
	dlq_open_count: number;
	avg_processing_ms: number | null;
	/** Median time from intake to CRM of the day's delivered runs. */
	p50_processing_ms: number | null;
	/** 95th percentile of the same: what the slowest leads of the day waited. */
	p95_processing_ms: number | null;
	computed_at: Date;
}

/**
 * Recomputes the UTC days from `from` to `to` (inclusive) from the record, idempotently (ON
 * CONFLICT replaces each row), in one statement: runs received each day by their current status
 * (`duplicate`: the same person again), repeats of a request answered `duplicate` that day, DLQ items of that day's runs still open or retrying, and
 * the time from intake to CRM (received -> processed) of its delivered runs: mean, p50, p95.
 * A day without runs gets a row of zeros. Returns the rows, oldest first.
 */
export async function computeKpiDays(sql: Sql, from: string, to: string): Promise<KpiRow[]> {
	const rows = await sql<RawKpiRow[]>`
		WITH bounds AS (
			SELECT ${from}::date::timestamp AT TIME ZONE 'UTC' AS range_start,
				(${to}::date + 1)::timestamp AT TIME ZONE 'UTC' AS range_end
		), days AS (
			SELECT day::date AS day FROM generate_series(${from}::date, ${to}::date, interval '1 day') AS day
		), range_runs AS (
			SELECT r.run_id, r.status, (r.received_at AT TIME ZONE 'UTC')::date AS day,
				extract(epoch FROM r.processed_at - r.received_at) * 1000 AS to_crm_ms,
				-- a failed run that never reached the CRM: waiting, dead, or closed by its erasure (which
				-- closes its items at its own erased_at: the day's numbers stay as they were); not one
				-- resolved by hand or superseded by a newer lead of its record, before an erasure or not
				r.status = 'failed' AND (latest.status IS DISTINCT FROM 'resolved'
					OR latest.resolved_at = r.erased_at) AS undelivered
			FROM runs r CROSS JOIN bounds b
				LEFT JOIN LATERAL (
					SELECT d.status, d.resolved_at FROM dlq d WHERE d.run_id = r.run_id ORDER BY d.dlq_id DESC LIMIT 1
				) latest ON true
			WHERE r.received_at >= b.range_start AND r.received_at < b.range_end
		), run_counts AS (
			SELECT day, count(*) AS received,
				count(*) FILTER (WHERE status = 'processed') AS processed,
				count(*) FILTER (WHERE status = 'rejected') AS rejected,
				count(*) FILTER (WHERE undelivered) AS failed,
				count(*) FILTER (WHERE status = 'duplicate') AS same_person,
				avg(to_crm_ms) FILTER (WHERE status = 'processed') AS avg_ms,
				percentile_cont(0.5) WITHIN GROUP (ORDER BY to_crm_ms) FILTER (WHERE status = 'processed') AS p50_ms,
				percentile_cont(0.95) WITHIN GROUP (ORDER BY to_crm_ms) FILTER (WHERE status = 'processed') AS p95_ms
			FROM range_runs GROUP BY day
		), duplicates AS (
			SELECT (e.event_time AT TIME ZONE 'UTC')::date AS day, count(*) AS duplicates
			FROM audit_events e, bounds b
			WHERE e.event_type = 'lead_duplicate' AND e.event_time >= b.range_start AND e.event_time < b.range_end
			GROUP BY 1
		), still_open AS (
			SELECT r.day, count(*) AS open
			FROM dlq d JOIN range_runs r ON r.run_id = d.run_id
			WHERE d.status IN ('open', 'retrying') GROUP BY r.day
		)
		INSERT INTO kpi_daily (day, received_count, processed_count, rejected_count, failed_count,
			duplicate_count, same_person_count, dlq_open_count, avg_processing_ms, p50_processing_ms, p95_processing_ms,
			computed_at)
		SELECT days.day, coalesce(c.received, 0), coalesce(c.processed, 0), coalesce(c.rejected, 0),
			coalesce(c.failed, 0), coalesce(dup.duplicates, 0), coalesce(c.same_person, 0),
			coalesce(o.open, 0),
			round(c.avg_ms::numeric, 1), round(c.p50_ms::numeric, 1), round(c.p95_ms::numeric, 1), now()
		FROM days
			LEFT JOIN run_counts c ON c.day = days.day
			LEFT JOIN duplicates dup ON dup.day = days.day
			LEFT JOIN still_open o ON o.day = days.day
		ON CONFLICT (day) DO UPDATE SET
			received_count = EXCLUDED.received_count, processed_count = EXCLUDED.processed_count,
			rejected_count = EXCLUDED.rejected_count, failed_count = EXCLUDED.failed_count,
			duplicate_count = EXCLUDED.duplicate_count, same_person_count = EXCLUDED.same_person_count,
			dlq_open_count = EXCLUDED.dlq_open_count,
			avg_processing_ms = EXCLUDED.avg_processing_ms, p50_processing_ms = EXCLUDED.p50_processing_ms,
			p95_processing_ms = EXCLUDED.p95_processing_ms, computed_at = EXCLUDED.computed_at
		RETURNING ${sql(KPI_COLUMNS)}`;
	return rows.map(toKpiRow).sort((a, b) => a.day.localeCompare(b.day));
}

/** Stored KPI rows from `from` to `to` (inclusive), oldest first. */
export async function readKpiRange(sql: Sql, from: string, to: string): Promise<KpiRow[]> {
	const rows = await sql<RawKpiRow[]>`
		SELECT ${sql(KPI_COLUMNS)} FROM kpi_daily WHERE day BETWEEN ${from}::date AND ${to}::date ORDER BY day`;
	return rows.map(toKpiRow);
}

export interface QueueByReason {
	reason: string;
	/** Open or being retried: the processor will try again. */
	waiting: number;
	/** Out of retries or refused for good: a person must act. */
	dead: number;
}

/** The leads in the retry queue now, by reason (refused signatures are not leads). */
export async function dlqQueueByReason(sql: Sql): Promise<QueueByReason[]> {
	const rows = await sql<{ reason: string; waiting: number; dead: number }[]>`
		SELECT reason,
			count(*) FILTER (WHERE status IN ('open', 'retrying'))::int AS waiting,
			count(*) FILTER (WHERE status = 'dead')::int AS dead
		FROM dlq WHERE run_id IS NOT NULL AND status IN ('open', 'retrying', 'dead')
		GROUP BY reason ORDER BY count(*) DESC, reason`;
	return [...rows];
}

const KPI_COLUMNS = [
	'day',
	'received_count',
	'processed_count',
	'rejected_count',
	'failed_count',
	'duplicate_count',
	'same_person_count',
	'dlq_open_count',
	'avg_processing_ms',
	'p50_processing_ms',
	'p95_processing_ms',
	'computed_at',
];

type Milliseconds = 'avg_processing_ms' | 'p50_processing_ms' | 'p95_processing_ms';

type RawKpiRow = Omit<KpiRow, 'day' | Milliseconds> & { day: Date | string } & Record<
		Milliseconds,
		string | null
	>;

function toKpiRow(row: RawKpiRow): KpiRow {
	const ms = (value: string | null) => (value === null ? null : Number(value));
	return {
		...row,
		day: typeof row.day === 'string' ? row.day : row.day.toISOString().slice(0, 10),
		avg_processing_ms: ms(row.avg_processing_ms),
		p50_processing_ms: ms(row.p50_processing_ms),
		p95_processing_ms: ms(row.p95_processing_ms),
	};
}
