-- Issue 24: alerts routed to the processor, and rate limits shared by every processor process.

-- One row per alert the Alert Router handed to POST /internal/alerts: the file it was written to.
-- A repeat of the same alert_id answers this file and writes nothing. Written in the transaction
-- that holds the alert's advisory lock, after the file exists: a crash between the two leaves a
-- file without a row, which the repeat finds by its alert_id in the folder (nothing in flight).
CREATE TABLE routed_alerts (
	alert_id text PRIMARY KEY CHECK (length(alert_id) BETWEEN 1 AND 200),
	file text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Fixed one-minute windows per key (`signer:<name>`, `source:<name>`, `client:<address>` ...).
-- A row lives two windows at most: every processor deletes expired ones in small batches.
CREATE UNLOGGED TABLE rate_limit_hits (
	key text NOT NULL CHECK (length(key) <= 300),
	window_start timestamptz NOT NULL,
	hits integer NOT NULL,
	PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_hits_window ON rate_limit_hits (window_start);
