-- A run left `accepted` past its lease is recovered into the DLQ and audited as run_recovered;
-- a legacy (v1) signature is good for one idempotency key only.

ALTER TABLE audit_events DROP CONSTRAINT audit_events_type_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_type_check CHECK (event_type IN (
	'lead_received', 'lead_duplicate', 'lead_rejected', 'crm_upserted', 'delivery_failed',
	'dlq_created', 'dlq_retried', 'dlq_resolved', 'dlq_dead', 'run_recovered', 'health_check',
	'kpi_computed'
));

-- SHA-256 of the v1 X-Signature the run was created with: the same signature with another
-- X-Idempotency-Key is a replay (409), whatever the time
ALTER TABLE runs ADD COLUMN signature_guard text;
CREATE UNIQUE INDEX runs_signature_guard_uq ON runs (signature_guard) WHERE signature_guard IS NOT NULL;
