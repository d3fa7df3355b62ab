-- A repeated erasure request finds none of the person's runs (the first one erased their hashes),
-- yet the CRM part of that first erasure may still be pending. So that the repeat can say so, a
-- pending erasure keeps the salted hashes the person was found by (the e-mail hash and phone
-- identity of the erased runs and of the request), dropped with the CRM keys once the CRM
-- confirms: like those keys, they are held only as long as the CRM still holds the person.
ALTER TABLE privacy_erasures ADD COLUMN crm_subjects text[];
ALTER TABLE privacy_erasures ADD CONSTRAINT privacy_erasures_subjects_while_pending
	CHECK (crm_status = 'pending' OR crm_subjects IS NULL);
