-- An erasure deletes its runs' person_identities rows as its statement sees them. A same-person
-- check that held one of its runs (the recovery's, person-identities.ts claimPerson) and committed
-- while the erasure waited for the run's lock added identity rows the erasure did not see: the
-- salted hashes of an erased person stayed, and later leads of that person were matched to the
-- erased run. This check runs in the erasure statement after its deletes; its query takes a new
-- snapshot (a volatile function's do), which shows those deletes and what others committed
-- since: any identity row of the erased runs left is one the statement missed. It raises like
-- migration 0018's check, the statement is undone, and the processor runs it again.
CREATE FUNCTION erasure_left_no_identity(erased uuid[]) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM person_identities WHERE run_id = ANY (erased)) THEN
		RAISE EXCEPTION 'identities of the runs being erased were added while the erasure waited for them'
			USING ERRCODE = 'LIH01';
	END IF;
	RETURN true;
END
$$;

-- The first run of a person is never an erased one, whatever identity rows are left.
CREATE OR REPLACE FUNCTION same_person_first(hashes text[], window_hours integer, own_run uuid)
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
			AND r.erased_at IS NULL
		ORDER BY p.received_at, p.run_id, p.match
		LIMIT 1;
END
$$;

-- What that race left behind before this migration.
DELETE FROM person_identities p USING runs r WHERE r.run_id = p.run_id AND r.erased_at IS NOT NULL;
