-- Answer on store (issue 20): a lead answered 202 once stored waits `queued` until a deliverer
-- claims it (leased: lease_owner, lease_until); and the outcome events outbox, written by the
-- same statement as the state change each event reports (the triggers below), sent to n8n.

-- Values join a CHECK (column IN (...)) constraint: appended to the list it holds now rather than
-- restated in full, so migrations that add values of their own apply in either order. Used by
-- this migration and the ones after it (0007 has its own copy: it was applied before this).
CREATE FUNCTION append_check_values(tbl text, con text, col text, additions text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	allowed text[];
BEGIN
	SELECT array_agg(value[1]) INTO allowed
	FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([^'']+)''', 'g') AS value
	WHERE c.conname = con AND c.conrelid = tbl::regclass;
	EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', tbl, con);
	EXECUTE format(
		'ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I IN (%s))',
		tbl, con, col,
		(SELECT string_agg(DISTINCT quote_literal(value), ', ')
		 FROM unnest(allowed || additions) AS value));
END
$$;

-- queued joins the run statuses.
SELECT append_check_values('runs', 'runs_status_check', 'status', ARRAY['queued']);

-- A queued run claimed by a deliverer becomes `accepted` with a lease: which processor holds it
-- and until when. Past lease_until the recovery takes it (as it takes an intake's accepted run
-- past ACCEPTED_LEASE_SECONDS); NULL for runs accepted by a synchronous intake.
ALTER TABLE runs ADD COLUMN lease_owner text;
ALTER TABLE runs ADD COLUMN lease_until timestamptz;
CREATE INDEX runs_queued_idx ON runs (received_at) WHERE status = 'queued';

CREATE TABLE outcome_events (
	event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- the Standard Webhooks id: the same on every attempt, so a receiver drops repeats
	webhook_id      text        NOT NULL DEFAULT ('evt_' || replace(gen_random_uuid()::text, '-', '')),
	event_type      text        NOT NULL,
	run_id          uuid,
	-- the event's `data`: ids, codes and counts, never personal data
	data            jsonb       NOT NULL,
	occurred_at     timestamptz NOT NULL DEFAULT now(),
	status          text        NOT NULL DEFAULT 'pending',
	attempts        integer     NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	-- a claim: the dispatcher sending it, until when (then another one may send it again)
	lease_owner     text,
	lease_until     timestamptz,
	last_error      text,
	sent_at         timestamptz,
	CONSTRAINT outcome_events_type_check CHECK (event_type IN (
		'lead.delivered', 'lead.failed', 'lead.dead', 'lead.resolved', 'lead.rejected')),
	CONSTRAINT outcome_events_status_check CHECK (status IN ('pending', 'sent')),
	CONSTRAINT outcome_events_webhook_id_uq UNIQUE (webhook_id)
);
CREATE INDEX outcome_events_pending_idx ON outcome_events (next_attempt_at, event_id) WHERE status = 'pending';
CREATE INDEX outcome_events_occurred_idx ON outcome_events (occurred_at);

-- The outbox is filled by triggers: every statement that changes a run's or a DLQ item's state
-- writes the event in the same statement, whichever code path made the change (intake, deliverer,
-- retries, recovery, operator), so a crash can neither lose an event nor invent one.
CREATE FUNCTION outcome_event(type text, run uuid, extra jsonb) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO outcome_events (event_type, run_id, data)
	SELECT type, run, jsonb_build_object('run_id', run, 'source', r.source) || extra
	FROM runs r WHERE r.run_id = run;
$$;

CREATE FUNCTION runs_outcome_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status = 'rejected' THEN
		INSERT INTO outcome_events (event_type, run_id, data) VALUES ('lead.rejected', NEW.run_id,
			jsonb_build_object('run_id', NEW.run_id, 'source', NEW.source,
				'reasons', to_jsonb(COALESCE(NEW.rejection_reasons, '{}'::text[]))));
	ELSIF NEW.status = 'processed' THEN
		INSERT INTO outcome_events (event_type, run_id, data) VALUES ('lead.delivered', NEW.run_id,
			jsonb_build_object('run_id', NEW.run_id, 'source', NEW.source, 'crm_id', NEW.crm_id));
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER runs_rejected_outcome AFTER INSERT ON runs
	FOR EACH ROW WHEN (NEW.status = 'rejected') EXECUTE FUNCTION runs_outcome_events();
CREATE TRIGGER runs_processed_outcome AFTER UPDATE OF status ON runs
	FOR EACH ROW WHEN (NEW.status = 'processed' AND OLD.status <> 'processed')
	EXECUTE FUNCTION runs_outcome_events();

-- failed: a new open item, or a retry that failed and was rescheduled (retrying -> open, one more
-- retry counted); dead; resolved (from retrying: by a retry; from open or dead: by an operator).
CREATE FUNCTION dlq_outcome_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	common jsonb := jsonb_build_object('dlq_id', NEW.dlq_id, 'retry_count', NEW.retry_count);
BEGIN
	IF NEW.status = 'open' THEN
		PERFORM outcome_event('lead.failed', NEW.run_id, common || jsonb_build_object(
			'reason', NEW.reason,
			'next_retry_at', to_char(NEW.next_retry_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
	ELSIF NEW.status = 'dead' THEN
		PERFORM outcome_event('lead.dead', NEW.run_id, common || jsonb_build_object('reason', NEW.reason));
	ELSIF NEW.status = 'resolved' THEN
		PERFORM outcome_event('lead.resolved', NEW.run_id, common || jsonb_build_object(
			'by', CASE WHEN TG_OP = 'UPDATE' AND OLD.status = 'retrying' THEN 'retry' ELSE 'operator' END));
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER dlq_created_outcome AFTER INSERT ON dlq
	FOR EACH ROW WHEN (NEW.run_id IS NOT NULL AND NEW.status IN ('open', 'dead'))
	EXECUTE FUNCTION dlq_outcome_events();
CREATE TRIGGER dlq_settled_outcome AFTER UPDATE OF status ON dlq
	FOR EACH ROW WHEN (NEW.run_id IS NOT NULL AND (
		(NEW.status IN ('dead', 'resolved') AND OLD.status <> NEW.status)
		OR (NEW.status = 'open' AND OLD.status = 'retrying' AND NEW.retry_count > OLD.retry_count)))
	EXECUTE FUNCTION dlq_outcome_events();
