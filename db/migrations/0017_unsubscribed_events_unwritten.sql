-- Outcome events of a type the receiver does not subscribe to (EVENTS_TYPES) are not written. Each
-- was written by its state change and deleted unsent by the dispatcher a moment later: with the
-- shipped settings a row, its index entries and a delete per delivered lead (lead.delivered), for
-- nothing. A processor names the types it writes on each of its connections
-- (lead_intake.event_types); a connection that names none (psql, another tool, a processor that
-- subscribes to every type) writes every type, as before, and the dispatcher drops those.
CREATE FUNCTION outcome_event_subscribed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	subscribed text := current_setting('lead_intake.event_types', true);
BEGIN
	IF subscribed IS NULL OR subscribed = '' OR NEW.event_type = ANY (string_to_array(subscribed, ',')) THEN
		RETURN NEW;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER outcome_events_subscribed BEFORE INSERT ON outcome_events
	FOR EACH ROW EXECUTE FUNCTION outcome_event_subscribed();
