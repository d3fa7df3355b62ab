-- One person, one lead (docs/adr/0010-same-person-identity.md). A lead whose person was already
-- received within the rules' window is a `duplicate` run pointing at the first run of that person.

-- Who a run's person is: one row per identity (salted SHA-256 of the normalised e-mail, phone or
-- payload; never the value itself). Personal data in the erasure/retention sense: erased with the run.
CREATE TABLE person_identities (
	identity_hash text        NOT NULL,
	run_id        uuid        NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
	match         text        NOT NULL,
	received_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (identity_hash, run_id),
	CONSTRAINT person_identities_match_check CHECK (match IN ('email', 'phone', 'payload')),
	CONSTRAINT person_identities_hash_check CHECK (identity_hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX person_identities_lookup_idx ON person_identities (identity_hash, received_at DESC);
CREATE INDEX person_identities_run_idx ON person_identities (run_id);

-- A duplicate run names the first run of its person and what matched.
ALTER TABLE runs ADD COLUMN duplicate_of uuid;
ALTER TABLE runs ADD COLUMN duplicate_match text;
ALTER TABLE runs ADD CONSTRAINT runs_duplicate_match_check
	CHECK (duplicate_match IS NULL OR duplicate_match IN ('email', 'phone', 'payload'));

-- `duplicate` joins the run statuses and `lead_same_person` the event types (0008's function).
SELECT append_check_values('runs', 'runs_status_check', 'status', ARRAY['duplicate']);
SELECT append_check_values(
	'audit_events', 'audit_events_type_check', 'event_type', ARRAY['lead_same_person']);

-- The daily KPIs count "the same request again" (duplicate_count: repeats of a key) and "the same
-- person again" (same_person_count: runs of status duplicate) apart.
ALTER TABLE kpi_daily ADD COLUMN same_person_count integer NOT NULL DEFAULT 0;
