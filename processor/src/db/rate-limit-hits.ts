import type { Sql } from './connection.js';

/*
 * rate_limit_hits (migration 0011): requests per key and one-minute window, counted by every
 * processor process in one place.
 */

/**
 * Counts one request against each of `keys` in the window starting at `windowStart`, in one
 * statement (rows in key order, so concurrent counts cannot deadlock); each key's window total.
 * A statement of its own: its rows are locked until it commits, and every count of the key waits.
 */
export async function countHits(
	sql: Sql,
	keys: readonly string[],
	windowStart: Date,
): Promise<Map<string, number>> {
	const distinct = [...new Set(keys)].sort();
	const rows = await sql<{ key: string; hits: number }[]>`
		INSERT INTO rate_limit_hits (key, window_start, hits)
		SELECT key, ${windowStart}, 1 FROM unnest(${distinct}::text[]) AS key ORDER BY key
		ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1
		RETURNING key, hits`;
	return new Map(rows.map((row) => [row.key, row.hits]));
}

/** Deletes up to `limit` windows that ended before `before` (bounded work per call). */
export async function deleteExpiredHits(sql: Sql, before: Date, limit: number): Promise<number> {
	const rows = await sql`
		DELETE FROM rate_limit_hits WHERE ctid IN (
			SELECT ctid FROM rate_limit_hits WHERE window_start < ${before} LIMIT ${limit})
		RETURNING 1`;
	return rows.length;
}
