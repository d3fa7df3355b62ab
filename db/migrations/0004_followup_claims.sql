-- The alerts pass claims the DLQ items it writes follow-up files for with a lease (owner token and
-- expiry) instead of holding row locks in a transaction across file I/O: a pass that dies leaves
-- its claims to expire, and the next pass takes them (finding any file already written).
ALTER TABLE dlq
	ADD COLUMN followup_claim uuid,
	ADD COLUMN followup_claimed_until timestamptz;
