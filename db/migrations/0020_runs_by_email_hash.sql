-- An erasure or export by e-mail finds the person's runs by their salted e-mail hash. Without an
-- index each request read the whole runs table (up to RETENTION_RUN_DAYS of leads), which past a
-- few million runs outlasts the statement timeout: the person could not be erased. Partial: runs
-- without an e-mail (and erased ones, whose hash is gone) are not in it. Built inside the
-- migration's transaction, so on a large table the intake waits while it is built: migrate
-- before the traffic of the day, or build it first by hand with CREATE INDEX CONCURRENTLY under
-- this name (then this statement finds it and does nothing). A concurrent build that failed
-- leaves an invalid index of that name (pg_index.indisvalid false), which this statement would
-- take as built: drop it and build again before migrating.
CREATE INDEX IF NOT EXISTS runs_email_hash_idx ON runs (email_hash) WHERE email_hash IS NOT NULL;
