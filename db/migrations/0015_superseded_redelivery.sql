-- Policy update: a DLQ item whose person's newer details reached the CRM while it waited is closed
-- without a call, since re-delivering it would write its older details over the newer ones.
-- superseded_by names the newer run; the item's lead.resolved event says `by: "superseded"`.
ALTER TABLE dlq ADD COLUMN superseded_by uuid;

CREATE OR REPLACE FUNCTION dlq_outcome_events() RETURNS trigger
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
			'by', CASE
				WHEN TG_OP = 'UPDATE' AND NEW.payload = '{"erased": true}'::jsonb THEN 'erasure'
				WHEN NEW.superseded_by IS NOT NULL THEN 'superseded'
				WHEN TG_OP = 'UPDATE' AND OLD.status = 'retrying' THEN 'retry'
				ELSE 'operator' END));
	END IF;
	RETURN NULL;
END
$$;
