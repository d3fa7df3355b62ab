-- The same-person check as one statement, and erasure through a person's later runs
-- (docs/adr/0010-same-person-identity.md, docs/privacy.md).

-- The first run of a person within the window, looked up under transaction-scoped advisory locks
-- on the person's identity hashes (taken in hash order, so two claims cannot deadlock; held until
-- the calling statement commits). VOLATILE: its lookup takes a fresh snapshot after the locks, so
-- it sees every claim that held them before. The check is one statement (person-identities.ts):
-- the processor runs no multi-statement transaction on its hot path, because its driver crashes
-- the process when a transaction's connection dies while the transaction is still open.
CREATE FUNCTION same_person_first(hashes text[], window_hours integer, own_run uuid)
RETURNS TABLE (run_id uuid, match text, idempotency_key text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
	PERFORM pg_advisory_xact_lock(keys.k) FROM (
		SELECT hashtextextended(h, 21) AS k FROM unnest(hashes) AS h ORDER BY 1
	) AS keys;
	RETURN QUERY
		SELECT p.run_id, p.match, r.idempotency_key
		FROM person_identities p JOIN runs r ON r.run_id = p.run_id
		WHERE p.identity_hash = ANY(hashes)
			AND p.received_at > now() - make_interval(hours => window_hours)
			AND p.run_id <> own_run
		ORDER BY p.received_at, p.run_id, p.match
		LIMIT 1;
END
$$;

-- An erasure finds the later runs of a person through the run they duplicate; only those few
-- runs carry duplicate_of.
CREATE INDEX runs_duplicate_of ON runs (duplicate_of) WHERE duplicate_of IS NOT NULL;
