-- Back to one row per key and minute (migration 0011's table), undoing 0021: with a row per
-- connection, a window's total was read from the statement's snapshot and missed the counts still
-- under way, so concurrent requests passed a limit. Exact again: each count waits for the one
-- before it on the key's row. What 0021 set out to fix is fixed in the processor instead: the
-- count is a short statement of its own, so the row is locked only for that statement, not for
-- the one that stores the lead. The table holds one or two minutes of counts (unlogged), so it is
-- rebuilt empty: the minute under way starts its counts again once.
DROP TABLE rate_limit_hits;
CREATE UNLOGGED TABLE rate_limit_hits (
	key text NOT NULL CHECK (length(key) <= 300),
	window_start timestamptz NOT NULL,
	hits integer NOT NULL,
	PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_hits_window ON rate_limit_hits (window_start);
