import type postgres from 'postgres';
import type { JsonObject } from '../intake/lead-schema.js';
import type { Sql } from './connection.js';

export type DlqStatus = 'open' | 'retrying' | 'resolved' | 'dead';

type Queryable = Sql | postgres.TransactionSql;

export interface NewDlqEntry {
	runId: string;
	reason: string;
	/** Sanitized headers and body: what an operator needs to investigate, no plain PII. */
	payload: JsonObject;
	status: 'open' | 'dead';
	nextRetryAt: Date | null;
	lastError: string;
}

export async function insertDlqEntry(sql: Queryable, entry: NewDlqEntry): Promise<number> {
	const [row] = await sql<{ dlq_id: string }[]>`
		INSERT INTO dlq (run_id, reason, payload, status, next_retry_at, last_error, alert)
		VALUES (${entry.runId}, ${entry.reason}, ${sql.json(entry.payload as postgres.JSONValue)}, ${entry.status},
			${entry.nextRetryAt}, ${entry.lastError}, ${entry.status === 'dead'})
		RETURNING dlq_id`;
	return Number(row!.dlq_id);
}

export interface SignatureFailure {
	reason: string;
	/** One row per reason and time bucket: repeats only count up, so the table cannot be flooded. */
	bucketKey: string;
	payload: JsonObject;
}

export async function recordSignatureFailure(sql: Sql, failure: SignatureFailure): Promise<void> {
	await sql`
		INSERT INTO dlq (reason, payload, status, alert, bucket_key, last_error)
		VALUES (${failure.reason}, ${sql.json(failure.payload as postgres.JSONValue)}, 'dead', true,
			${failure.bucketKey}, ${failure.reason})
		ON CONFLICT (bucket_key) DO UPDATE SET occurrences = dlq.occurrences + 1, updated_at = now()`;
}
