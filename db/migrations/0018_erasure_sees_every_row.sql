-- An erasure is one statement (ADR 0005), and a statement reads rows as they were when it began.
-- A writer that held one of its runs when it began (a failed delivery adding its DLQ item, attempt
-- and events) and committed while the erasure waited for the run's lock added rows the erasure
-- does not see: their personal data would stay behind, out of reach of any later request. The
-- erasure counts the DLQ items, attempts and audit events of its runs as it sees them and asks
-- this function, whose query sees what was committed since (a volatile function's queries take a
-- new snapshot), to count them as they are. If they differ it raises, the whole statement is
-- undone, and the processor runs it again: the writer has finished by then. The runs stay locked
-- from the erasure's first look to its end, and every one of these rows references its run (a
-- writer must share-lock it), so a writer that comes later waits for the erasure to commit; it
-- then writes no personal data (the attempt and event statements check the run, processor/src/db).
CREATE FUNCTION erasure_saw_every_row(erased uuid[], seen bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	there bigint;
BEGIN
	SELECT (SELECT count(*) FROM dlq WHERE run_id = ANY (erased))
		+ (SELECT count(*) FROM delivery_attempts WHERE run_id = ANY (erased))
		+ (SELECT count(*) FROM audit_events WHERE run_id = ANY (erased))
	INTO there;
	IF there <> seen THEN
		RAISE EXCEPTION 'rows of the runs being erased were added while the erasure waited for them'
			USING ERRCODE = 'LIH01';
	END IF;
	RETURN true;
END
$$;
