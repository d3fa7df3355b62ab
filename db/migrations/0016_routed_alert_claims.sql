-- An alert's file is written under a claim of its routed_alerts row with a lease, no longer under
-- a transaction's advisory lock (ADR 0005: after start-up the processor runs no multi-statement
-- transaction). A row without a file is a claim: the call writing the file holds it until
-- claimed_until, then records the file; a call that dies leaves the claim to expire, and the next
-- call finds the file it may have written by its alert_id in the folder.
ALTER TABLE routed_alerts
	ALTER COLUMN file DROP NOT NULL,
	ADD COLUMN claimed_until timestamptz,
	ADD CONSTRAINT routed_alerts_file_or_claim CHECK (file IS NOT NULL OR claimed_until IS NOT NULL);
