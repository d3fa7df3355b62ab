-- The rules, the CRM mapping and the duplicate settings as versioned data (docs/contract.md, "The
-- rules document"): every saved document is a new row, never changed or deleted; the newest row is
-- in force. Each run records the version that decided it; each change is audited as rules_changed.

CREATE TABLE rules_versions (
	version    integer     PRIMARY KEY,
	-- the whole document as validated and completed by the processor (processor/src/rules/document.ts)
	document   jsonb       NOT NULL,
	-- who saved it: the operator API's caller (X-Operator or `actor`), `system` for the seed
	changed_by text        NOT NULL,
	note       text,
	-- the document's top-level sections that differ from the version before
	changed    text[]      NOT NULL DEFAULT '{}',
	-- a roll-back: the version whose document this one brings back
	restores   integer,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT rules_versions_version_check CHECK (version > 0),
	CONSTRAINT rules_versions_document_check CHECK (jsonb_typeof(document) = 'object'),
	CONSTRAINT rules_versions_changed_by_check CHECK (char_length(changed_by) BETWEEN 1 AND 100),
	CONSTRAINT rules_versions_note_check CHECK (note IS NULL OR char_length(note) <= 1000),
	CONSTRAINT rules_versions_restores_check CHECK (restores IS NULL OR restores < version)
);

-- Every processor LISTENs on lih_rules_changed and loads the new version at once (a periodic poll
-- catches what a lost notification or a reconnect misses). A trigger, so that a version written
-- by any means, even by hand, is announced; the notification is sent when its transaction commits.
CREATE FUNCTION notify_rules_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('lih_rules_changed', NEW.version::text);
	RETURN NULL;
END
$$;
CREATE TRIGGER rules_versions_notify AFTER INSERT ON rules_versions
	FOR EACH ROW EXECUTE FUNCTION notify_rules_changed();

-- The version that decided the run (NULL for runs from before versioned rules). Not a foreign key:
-- every intake insert would then lock the version's row (FOR KEY SHARE) from every processor at
-- once, and versions are never deleted.
ALTER TABLE runs ADD COLUMN rules_version integer;

-- rules_changed joins the event types. Added to the list the constraint holds now rather than
-- restated in full, so that the migrations of parallel work that add event types of their own
-- apply in either order without dropping each other's.
DO $$
DECLARE
	allowed text[];
BEGIN
	SELECT array_agg(value[1]) INTO allowed
	FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([^'']+)''', 'g') AS value
	WHERE c.conname = 'audit_events_type_check' AND c.conrelid = 'audit_events'::regclass;
	ALTER TABLE audit_events DROP CONSTRAINT audit_events_type_check;
	EXECUTE format(
		'ALTER TABLE audit_events ADD CONSTRAINT audit_events_type_check CHECK (event_type IN (%s))',
		(SELECT string_agg(DISTINCT quote_literal(type), ', ')
		 FROM unnest(array_append(allowed, 'rules_changed')) AS type));
END
$$;
