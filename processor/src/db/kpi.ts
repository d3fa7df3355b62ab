import type { Sql } from './connection.js';

export interface KpiRow {
	day: string;
	received_count: number;
	processed_count: number;
	rejected_count: number;
	failed_count: number;
	duplicate_count: number;
	dlq_open_count: number;
	avg_processing_ms: number | null;
	computed_at: Date;
}

/**
 * Recomputes one UTC day from the record, idempotently (ON CONFLICT replaces the row):
 * runs received that day by their current status, repeats answered `duplicate` that day, DLQ
 * items of that day's runs still open or retrying, and the mean received -> processed time.
 */
export async function computeKpiDay(sql: Sql, day: string): Promise<KpiRow> {
	const [row] = await sql<RawKpiRow[]>`
		WITH bounds AS (
			SELECT ${day}::date::timestamp AT TIME ZONE 'UTC' AS day_start,
				(${day}::date + 1)::timestamp AT TIME ZONE 'UTC' AS day_end
		), day_runs AS (
			SELECT r.run_id, r.status, r.received_at, r.processed_at
			FROM runs r, bounds b WHERE r.received_at >= b.day_start AND r.received_at < b.day_end
		)
		INSERT INTO kpi_daily (day, received_count, processed_count, rejected_count, failed_count,
			duplicate_count, dlq_open_count, avg_processing_ms, computed_at)
		SELECT ${day}::date,
			(SELECT count(*) FROM day_runs),
			(SELECT count(*) FROM day_runs WHERE status = 'processed'),
			(SELECT count(*) FROM day_runs WHERE status = 'rejected'),
			(SELECT count(*) FROM day_runs WHERE status = 'failed'),
			(SELECT count(*) FROM audit_events e, bounds b
				WHERE e.event_type = 'lead_duplicate' AND e.event_time >= b.day_start AND e.event_time < b.day_end),
			(SELECT count(*) FROM dlq d JOIN day_runs r ON r.run_id = d.run_id WHERE d.status IN ('open', 'retrying')),
			(SELECT round((avg(extract(epoch FROM processed_at - received_at)) * 1000)::numeric, 1)
				FROM day_runs WHERE status = 'processed'),
			now()
		ON CONFLICT (day) DO UPDATE SET
			received_count = EXCLUDED.received_count, processed_count = EXCLUDED.processed_count,
			rejected_count = EXCLUDED.rejected_count, failed_count = EXCLUDED.failed_count,
			duplicate_count = EXCLUDED.duplicate_count, dlq_open_count = EXCLUDED.dlq_open_count,
			avg_processing_ms = EXCLUDED.avg_processing_ms, computed_at = EXCLUDED.computed_at
		RETURNING ${sql(KPI_COLUMNS)}`;
	return toKpiRow(row!);
}

/** Stored KPI rows from `from` to `to` (inclusive), oldest first. */
export async function readKpiRange(sql: Sql, from: string, to: string): Promise<KpiRow[]> {
	const rows = await sql<RawKpiRow[]>`
		SELECT ${sql(KPI_COLUMNS)} FROM kpi_daily WHERE day BETWEEN ${from}::date AND ${to}::date ORDER BY day`;
	return rows.map(toKpiRow);
}

const KPI_COLUMNS = [
	'day',
	'received_count',
	'processed_count',
	'rejected_count',
	'failed_count',
	'duplicate_count',
	'dlq_open_count',
	'avg_processing_ms',
	'computed_at',
];

type RawKpiRow = Omit<KpiRow, 'day' | 'avg_processing_ms'> & {
	day: Date | string;
	avg_processing_ms: string | null;
};

function toKpiRow(row: RawKpiRow): KpiRow {
	return {
		...row,
		day: typeof row.day === 'string' ? row.day : row.day.toISOString().slice(0, 10),
		avg_processing_ms: row.avg_processing_ms === null ? null : Number(row.avg_processing_ms),
	};
}
