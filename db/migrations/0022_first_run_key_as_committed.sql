-- A repeat of a person (policy update) is written to the CRM under its first run's key while that
-- run lives; once the first run is erased, under its own. The claims that send a repeat (the
-- deliverer's, a DLQ retry's) read that key in the statement that takes the repeat, and a
-- statement reads rows as they were when it began. An erasure share-locks the repeats still to be
-- sent (processor/src/db/privacy.ts), so a claim either waits for it or skips them, except one that
-- began before the erasure committed and reached the repeat only after it: that claim read the
-- first run as still living, and sent the erased person's details under the erased key, making
-- the CRM record the erasure had just deleted again. This function's query takes a new snapshot
-- (a volatile function's do): the claim reads the first run as committed when it holds the repeat.
-- STRICT: a lead that is no repeat (no first run) costs no call.
CREATE FUNCTION living_run_key(run uuid) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
	RETURN (SELECT idempotency_key FROM runs WHERE run_id = run AND erased_at IS NULL);
END
$$;
