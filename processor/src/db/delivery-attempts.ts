import type postgres from 'postgres';
import type { AttemptTrigger } from '../vocabulary.js';
import type { Queryable, Sql } from './connection.js';

/** What `delivery_attempts` keeps of one call to the CRM. */
export interface AttemptRecord {
	durationMs: number;
	statusCode: number | null;
	success: boolean;
	error: string | null;
}

export interface RunAttempt {
	runId: string;
	trigger: AttemptTrigger;
	attempt: AttemptRecord;
}

/**
 * The one INSERT into delivery_attempts (one attempt per run per statement). The attempt number
 * is the run's next one, so intake and retries share one sequence.
 */
export function insertAttempts(
	sql: Queryable,
	attempts: readonly RunAttempt[],
	/** Written only if this holds (e.g. the statement's DLQ item was still this processor's). */
	when: postgres.PendingQuery<postgres.Row[]> = sql`true`,
) {
	const rows = attempts.map(({ runId, trigger, attempt }) => ({
		run_id: runId,
		trigger,
		duration_ms: attempt.durationMs,
		status_code: attempt.statusCode,
		success: attempt.success,
		error: attempt.error,
	}));
	return sql`
		INSERT INTO delivery_attempts (run_id, attempt_no, trigger, duration_ms, status_code, success, error)
		SELECT a.run_id, COALESCE((SELECT max(d.attempt_no) FROM delivery_attempts d WHERE d.run_id = a.run_id), 0) + 1,
			a.trigger, a.duration_ms, a.status_code, a.success,
			-- a CRM's error text may quote the lead: none for a run whose person was erased meanwhile
			-- (a call that failed while the erasure ran; the share lock waits for it, then sees it)
			CASE WHEN a.error IS NOT NULL
				AND (SELECT r.erased_at IS NOT NULL FROM runs r WHERE r.run_id = a.run_id FOR KEY SHARE)
			THEN NULL ELSE a.error END
		FROM jsonb_to_recordset(${sql.json(rows)})
			AS a(run_id uuid, trigger text, duration_ms integer, status_code integer, success boolean, error text)
		WHERE ${when}`;
}

export async function attemptsOfRun(sql: Sql, runId: string) {
	return sql`
		SELECT attempt_no, trigger, attempted_at, duration_ms, status_code, success, error
		FROM delivery_attempts WHERE run_id = ${runId} ORDER BY attempt_no`;
}
