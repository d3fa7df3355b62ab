import type { Sql } from './connection.js';

/*
 * rate_limit_hits (migrations 0011, 0021): requests per key and one-minute window, counted by
 * every processor process in one place, on a row per database connection.
 */

/**
 * Counts one request against each of `keys` in the window starting at `windowStart`, in one
 * statement; each key's window total.
 */
export async function countHits(
	sql: Sql,
	keys: readonly string[],
	windowStart: Date,
): Promise<Map<string, number>> {
	const rows = await sql<{ key: string; hits: number }[]>`
		WITH ${countHitsStatement(sql, keys, windowStart)} SELECT key, hits FROM hits`;
	return new Map(rows.map((row) => [row.key, row.hits]));
}

/**
 * The count as common table expressions, for a statement that may also write the request's lead:
 * `hits` is (key, hits), the window's total with this request. Each connection counts on its own
 * row (migration 0021), so a statement holds no lock another count waits for; the total adds the
 * other connections' rows as this statement's snapshot has them.
 */
export function countHitsStatement(sql: Sql, keys: readonly string[], windowStart: Date) {
	const distinct = [...new Set(keys)].sort();
	return sql`
		counted_hits AS (
			INSERT INTO rate_limit_hits (key, window_start, backend_pid, hits)
			SELECT key, ${windowStart}, pg_backend_pid(), 1 FROM unnest(${distinct}::text[]) AS key ORDER BY key
			ON CONFLICT (key, window_start, backend_pid) DO UPDATE SET hits = rate_limit_hits.hits + 1
			RETURNING key, hits
		), hits AS (
			SELECT c.key, (c.hits + coalesce((
				SELECT sum(o.hits) FROM rate_limit_hits o
				WHERE o.key = c.key AND o.window_start = ${windowStart} AND o.backend_pid <> pg_backend_pid()
			), 0))::int AS hits
			FROM counted_hits c
		)`;
}

/** Deletes up to `limit` windows that ended before `before` (bounded work per call). */
export async function deleteExpiredHits(sql: Sql, before: Date, limit: number): Promise<number> {
	const rows = await sql`
		DELETE FROM rate_limit_hits WHERE ctid IN (
			SELECT ctid FROM rate_limit_hits WHERE window_start < ${before} LIMIT ${limit})
		RETURNING 1`;
	return rows.length;
}
