import type { Sql } from './connection.js';

/*
 * rate_limit_hits (migration 0011): requests per key and one-minute window, counted by every
 * processor process in one place.
 */

/** Counts one request against `key` in the window starting at `windowStart`; the window's total. */
export async function countHit(sql: Sql, key: string, windowStart: Date): Promise<number> {
	const [row] = await sql<{ hits: number }[]>`
		INSERT INTO rate_limit_hits (key, window_start, hits) VALUES (${key}, ${windowStart}, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1
		RETURNING hits`;
	return row!.hits;
}

/** Deletes up to `limit` windows that ended before `before` (bounded work per call). */
export async function deleteExpiredHits(sql: Sql, before: Date, limit: number): Promise<number> {
	const rows = await sql`
		DELETE FROM rate_limit_hits WHERE ctid IN (
			SELECT ctid FROM rate_limit_hits WHERE window_start < ${before} LIMIT ${limit})
		RETURNING 1`;
	return rows.length;
}
