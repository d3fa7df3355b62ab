-- Reports people read: every DLQ item that ends gets one follow-up alert file, and the daily KPI
-- row keeps the median and 95th percentile time from intake to CRM.

-- An outbox on dlq: the ending ('resolved' or 'dead') a follow-up file was written for, that file's
-- name and when. An item with a run is due for a follow-up while its status is one of those and
-- differs from followup_status; the alerts pass claims due items with FOR UPDATE SKIP LOCKED.
ALTER TABLE dlq
	ADD COLUMN followup_status text,
	ADD COLUMN followup_file   text,
	ADD COLUMN followup_at     timestamptz,
	ADD CONSTRAINT dlq_followup_status_check CHECK (followup_status IS NULL OR followup_status IN ('resolved', 'dead'));

-- items that ended before follow-ups existed are not announced after the fact
UPDATE dlq SET followup_status = status WHERE status IN ('resolved', 'dead');

CREATE INDEX dlq_followup_due_idx ON dlq (dlq_id)
	WHERE run_id IS NOT NULL AND status IN ('resolved', 'dead') AND followup_status IS DISTINCT FROM status;
-- alerts/index.md lists the items closed in the last days
CREATE INDEX dlq_resolved_at_idx ON dlq (resolved_at) WHERE status = 'resolved';

-- time from intake (received_at) to CRM (processed_at) of the day's delivered runs, in ms
ALTER TABLE kpi_daily
	ADD COLUMN p50_processing_ms numeric(12, 1),
	ADD COLUMN p95_processing_ms numeric(12, 1);
