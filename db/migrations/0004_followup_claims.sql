-- The alerts pass claims the DLQ items it writes follow-up files for with a lease (owner token and
-- expiry) instead of holding row locks in a transaction across file I/O: a pass that dies leaves
-- its claims to expire, and the next pass takes them (finding any file already written).
ALTER TABLE dlq
	ADD COLUMN followup_claim uuid,
	ADD COLUMN followup_claimed_until timestamptz;

-- One alerts pass at a time rewrites alerts/index.md (processors may overlap): a lease in one row,
-- taken and given back by single statements, so a pass that dies leaves it to expire.
CREATE TABLE alerts_index_lease (
	id     boolean PRIMARY KEY DEFAULT true CHECK (id),
	holder uuid        NOT NULL,
	until  timestamptz NOT NULL
);
