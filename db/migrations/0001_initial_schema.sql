-- Lead Intake Hub: the processor's record of every lead (runs, audit events, the dead-letter queue
-- and daily KPIs, plus delivery attempts and, on runs, the encrypted raw lead kept until delivery).

CREATE TABLE runs (
	run_id            uuid PRIMARY KEY,
	idempotency_key   text        NOT NULL,
	-- SHA-256 of the canonical request body: the same key with another body is refused (422)
	fingerprint       text        NOT NULL,
	source            text        NOT NULL,
	correlation_id    text,
	received_at       timestamptz NOT NULL DEFAULT now(),
	status            text        NOT NULL,
	error_code        text,
	error_message     text,
	rejection_reasons text[],
	email_hash        text,
	email_masked      text,
	crm_id            text,
	processed_at      timestamptz,
	updated_at        timestamptz NOT NULL DEFAULT now(),
	-- the raw lead, AES-256-GCM encrypted, kept only until the CRM has it (retries need it; PII
	-- never rests in plain text); on the run itself so keeping and purging it cost no extra write
	sealed_lead       bytea,
	CONSTRAINT runs_status_check CHECK (status IN ('accepted', 'processed', 'failed', 'rejected')),
	CONSTRAINT runs_idempotency_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
	CONSTRAINT runs_rejected_has_reasons CHECK (status <> 'rejected' OR cardinality(rejection_reasons) > 0),
	CONSTRAINT runs_processed_purged CHECK (status <> 'processed' OR sealed_lead IS NULL)
);
CREATE UNIQUE INDEX runs_idempotency_key_uq ON runs (idempotency_key);
CREATE INDEX runs_received_at_idx ON runs (received_at);
CREATE INDEX runs_status_received_at_idx ON runs (status, received_at);

CREATE TABLE audit_events (
	event_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	run_id         uuid REFERENCES runs (run_id),
	event_time     timestamptz NOT NULL DEFAULT now(),
	event_type     text        NOT NULL,
	actor          text        NOT NULL,
	payload        jsonb       NOT NULL DEFAULT '{}'::jsonb,
	correlation_id text,
	CONSTRAINT audit_events_actor_check CHECK (actor IN ('webhook', 'processor', 'system', 'operator')),
	CONSTRAINT audit_events_type_check CHECK (event_type IN (
		'lead_received', 'lead_duplicate', 'lead_rejected', 'crm_upserted', 'delivery_failed',
		'dlq_created', 'dlq_retried', 'dlq_resolved', 'dlq_dead', 'health_check', 'kpi_computed'
	))
);
CREATE INDEX audit_events_run_id_idx ON audit_events (run_id, event_id);
CREATE INDEX audit_events_type_time_idx ON audit_events (event_type, event_time);

CREATE TABLE delivery_attempts (
	attempt_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	run_id       uuid        NOT NULL REFERENCES runs (run_id),
	attempt_no   integer     NOT NULL,
	trigger      text        NOT NULL,
	attempted_at timestamptz NOT NULL DEFAULT now(),
	duration_ms  integer     NOT NULL,
	status_code  integer,
	success      boolean     NOT NULL,
	error        text,
	CONSTRAINT delivery_attempts_attempt_no_check CHECK (attempt_no > 0),
	CONSTRAINT delivery_attempts_trigger_check CHECK (trigger IN ('intake', 'retry', 'operator')),
	CONSTRAINT delivery_attempts_duration_check CHECK (duration_ms >= 0),
	CONSTRAINT delivery_attempts_status_code_check CHECK (status_code IS NULL OR status_code BETWEEN 100 AND 599),
	CONSTRAINT delivery_attempts_run_attempt_uq UNIQUE (run_id, attempt_no)
);

CREATE TABLE dlq (
	dlq_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- NULL for rejected signatures, which never became a run
	run_id        uuid REFERENCES runs (run_id),
	reason        text        NOT NULL,
	-- sanitized headers and body: never a plain email
	payload       jsonb       NOT NULL,
	status        text        NOT NULL,
	retry_count   integer     NOT NULL DEFAULT 0,
	next_retry_at timestamptz,
	-- a lease: a claimed item whose lease ran out (crashed processor) is due again
	locked_until  timestamptz,
	-- the claim that holds the lease: only its holder may settle the item (a fencing token)
	lease_token   uuid,
	last_error    text,
	alert         boolean     NOT NULL DEFAULT false,
	-- signature failures are aggregated per reason and minute, so an attacker cannot fill the table
	bucket_key    text,
	occurrences   integer     NOT NULL DEFAULT 1,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	resolved_at   timestamptz,
	resolution_note text,
	CONSTRAINT dlq_status_check CHECK (status IN ('open', 'retrying', 'resolved', 'dead')),
	CONSTRAINT dlq_retry_count_check CHECK (retry_count >= 0),
	CONSTRAINT dlq_open_is_scheduled CHECK (status <> 'open' OR next_retry_at IS NOT NULL),
	CONSTRAINT dlq_bucket_key_uq UNIQUE (bucket_key)
);
CREATE INDEX dlq_run_id_idx ON dlq (run_id);
CREATE INDEX dlq_status_created_idx ON dlq (status, created_at);
CREATE INDEX dlq_due_idx ON dlq (next_retry_at) WHERE status = 'open';
CREATE INDEX dlq_lease_idx ON dlq (locked_until) WHERE status = 'retrying';
-- at most one live DLQ entry per run
CREATE UNIQUE INDEX dlq_live_run_uq ON dlq (run_id) WHERE status IN ('open', 'retrying');

CREATE TABLE kpi_daily (
	day               date PRIMARY KEY,
	received_count    integer     NOT NULL,
	processed_count   integer     NOT NULL,
	rejected_count    integer     NOT NULL,
	failed_count      integer     NOT NULL,
	duplicate_count   integer     NOT NULL,
	dlq_open_count    integer     NOT NULL,
	avg_processing_ms numeric(12, 1),
	computed_at       timestamptz NOT NULL DEFAULT now()
);
