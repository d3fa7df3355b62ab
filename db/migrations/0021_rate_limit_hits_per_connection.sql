-- Every counted request updated one row per key and minute, and held that row's lock until its
-- statement committed: with the count made by the statement that stores the lead, every lead of a
-- signer or a source (every lead, for the global limits) waited for the lead stored before it,
-- across all processors. Now each database connection counts on a row of its own (its backend
-- pid), and a window's total is the sum of its rows: concurrent counts lock different rows.
-- The table holds one or two minutes of counts (unlogged, deleted as windows expire), so it is
-- rebuilt empty: the minute under way starts its counts again once.
-- Undone by migration 0023: a total read while other counts were under way missed them, so
-- concurrent requests passed a limit.
DROP TABLE rate_limit_hits;
CREATE UNLOGGED TABLE rate_limit_hits (
	key text NOT NULL CHECK (length(key) <= 300),
	window_start timestamptz NOT NULL,
	backend_pid integer NOT NULL,
	hits integer NOT NULL,
	PRIMARY KEY (key, window_start, backend_pid)
);
CREATE INDEX rate_limit_hits_window ON rate_limit_hits (window_start);
