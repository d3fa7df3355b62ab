import type postgres from 'postgres';
import type { JsonObject } from '../json.js';
import type { Queryable, Sql } from './connection.js';

/*
 * Refused signatures, kept for investigation in the `dlq` table as rows of their own: no run, dead
 * and alerting from the start, one row per reason and time bucket (`bucket_key`) counting repeats
 * (`occurrences`). Lead items of the same table are db/dlq.ts's.
 */

export interface SignatureFailures {
	reason: string;
	/** One row per reason and time bucket: repeats only count up, so the table cannot be flooded. */
	bucketKey: string;
	/** The first request of the bucket, as kept for investigation. */
	payload: JsonObject;
	count: number;
}

/**
 * Removes the first request (client address, headers, body size and hash) from refusals recorded
 * before `cutoff`, at most `limit` rows; the reason, bucket and count stay. `updated_at` is left
 * alone: the incident index reads it as the time of the last refusal.
 */
export async function clearRefusedRequests(
	sql: Queryable,
	cutoff: Date,
	limit: number,
): Promise<number> {
	const cleared = await sql`
		UPDATE dlq SET payload = payload - 'first_request'
		WHERE dlq_id IN (
			SELECT dlq_id FROM dlq
			WHERE run_id IS NULL AND created_at < ${cutoff} AND payload ? 'first_request'
			ORDER BY dlq_id LIMIT ${limit}
		)`;
	return cleared.count;
}

/** Adds counted signature refusals to their buckets: one statement for everything counted. */
export async function recordSignatureFailures(
	sql: Sql,
	failures: readonly SignatureFailures[],
): Promise<void> {
	const rows = failures.map((failure) => ({
		reason: failure.reason,
		bucket_key: failure.bucketKey,
		payload: failure.payload,
		count: failure.count,
	}));
	await sql`
		INSERT INTO dlq (reason, payload, status, alert, bucket_key, last_error, occurrences)
		SELECT f.reason, f.payload, 'dead', true, f.bucket_key, f.reason, f.count
		FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)})
			AS f(reason text, payload jsonb, bucket_key text, count integer)
		ON CONFLICT (bucket_key) DO UPDATE SET occurrences = dlq.occurrences + EXCLUDED.occurrences,
			updated_at = now()`;
}
