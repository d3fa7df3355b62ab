import type postgres from 'postgres';
import type { Sql } from './connection.js';

/*
 * routed_alerts (migration 0011): which file an alert handed to POST /internal/alerts was written
 * to, by its alert_id.
 */

/**
 * Runs `write` holding the alert's lock (a transaction-scoped advisory lock on its id), so two
 * processors given the same alert at once write one file: the second finds the first's row.
 */
export async function withAlertLock<T>(
	sql: Sql,
	alertId: string,
	write: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
	return (await sql.begin(async (tx) => {
		await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`routed_alert:${alertId}`}, 0))`;
		return write(tx);
	})) as T;
}

export async function findRoutedAlert(
	tx: postgres.TransactionSql,
	alertId: string,
): Promise<string | null> {
	const rows = await tx<{ file: string }[]>`
		SELECT file FROM routed_alerts WHERE alert_id = ${alertId}`;
	return rows[0]?.file ?? null;
}

export async function recordRoutedAlert(
	tx: postgres.TransactionSql,
	alertId: string,
	file: string,
): Promise<void> {
	await tx`INSERT INTO routed_alerts (alert_id, file) VALUES (${alertId}, ${file})`;
}
