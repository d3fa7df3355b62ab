-- Personal data has a life cycle (docs/privacy.md): a person's records can be erased, and every
-- erasure is kept as a request whose CRM part is driven to an end by the processor.

-- New event types and run status `erased` (0008's function).
SELECT append_check_values('audit_events', 'audit_events_type_check', 'event_type',
	ARRAY['person_erased', 'person_exported', 'crm_erased', 'retention_applied']);
SELECT append_check_values('runs', 'runs_status_check', 'status', ARRAY['erased']);

-- When a run's personal data was erased (NULL: never). A run `accepted` at the time of the
-- erasure (its lead in flight) becomes `erased`: the intake's and the recovery's writes only
-- ever take an `accepted` run, so neither finishes it afterwards.
ALTER TABLE runs ADD COLUMN erased_at timestamptz;

-- One row per erasure request. It holds no personal data: counts and run ids. The CRM's part is
-- an intermediate state with an owner and an expiry (crm_locked_until) that the processor drives
-- to `done`; the keys the CRM knows the person's records by are kept only until then.
CREATE TABLE privacy_erasures (
	erasure_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	requested_by       text        NOT NULL,
	requested_at       timestamptz NOT NULL DEFAULT now(),
	run_ids            uuid[]      NOT NULL,
	counts             jsonb       NOT NULL,
	crm_status         text        NOT NULL,
	crm_keys           text[],
	crm_attempts       integer     NOT NULL DEFAULT 0,
	crm_next_at        timestamptz,
	crm_locked_until   timestamptz,
	crm_last_error     text,
	crm_done_at        timestamptz,
	CONSTRAINT privacy_erasures_crm_status_check CHECK (crm_status IN ('pending', 'done', 'not_needed')),
	CONSTRAINT privacy_erasures_pending_is_scheduled CHECK (crm_status <> 'pending' OR crm_next_at IS NOT NULL),
	CONSTRAINT privacy_erasures_requested_by_check CHECK (char_length(requested_by) BETWEEN 1 AND 100)
);
CREATE INDEX privacy_erasures_crm_due_idx ON privacy_erasures (crm_next_at) WHERE crm_status = 'pending';

-- the retention pass finds old runs by when they were received and skips erased ones
CREATE INDEX runs_retention_idx ON runs (received_at) WHERE erased_at IS NULL;
