import type { Sql } from './connection.js';

/*
 * routed_alerts (migrations 0011, 0016): which file an alert handed to POST /internal/alerts was
 * written to, by its alert_id; a row without a file is the claim of the call writing it.
 */

/**
 * The alert's row in one statement: its recorded file, else a claim for this call (a new row, or
 * a claim whose lease ran out), else nothing (another call is writing the file now).
 */
export async function claimRoutedAlert(
	sql: Sql,
	alertId: string,
	leaseSeconds: number,
): Promise<{ file: string } | { claimed: true } | { claimed: false }> {
	const [row] = await sql<{ file: string | null; claimed: boolean }[]>`
		WITH claim AS (
			INSERT INTO routed_alerts (alert_id, file, claimed_until)
			VALUES (${alertId}, NULL, now() + make_interval(secs => ${leaseSeconds}))
			ON CONFLICT (alert_id) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
				WHERE routed_alerts.file IS NULL AND routed_alerts.claimed_until <= now()
			RETURNING alert_id
		)
		SELECT NULL AS file, true AS claimed FROM claim
		UNION ALL
		SELECT file, false FROM routed_alerts
		WHERE alert_id = ${alertId} AND NOT EXISTS (SELECT 1 FROM claim)`;
	if (row?.claimed) return { claimed: true };
	return row?.file ? { file: row.file } : { claimed: false };
}

/**
 * Records the claimed alert's file and ends the claim, unless a file is recorded already (a call
 * that took the claim over after this call's lease ran out was first): the first file recorded
 * is the alert's. Returns that file.
 */
export async function recordRoutedAlert(sql: Sql, alertId: string, file: string): Promise<string> {
	const [row] = await sql<{ file: string }[]>`
		WITH recorded AS (
			UPDATE routed_alerts SET file = ${file}, claimed_until = NULL
			WHERE alert_id = ${alertId} AND file IS NULL
			RETURNING file
		)
		SELECT file FROM recorded
		UNION ALL
		SELECT file FROM routed_alerts
		WHERE alert_id = ${alertId} AND NOT EXISTS (SELECT 1 FROM recorded)`;
	return row?.file ?? file;
}
