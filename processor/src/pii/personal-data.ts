import type { EventType } from '../vocabulary.js';

/*
 * Where personal data lives, declared once (docs/privacy.md). Erasure (db/privacy.ts) and the
 * proof that it is complete (processor/test/privacy.test.ts) are both driven by this list: a new
 * column or payload field that can hold personal data is one line here.
 *
 * How each is made anonymous:
 *   null      the value is dropped (the column allows NULL);
 *   erased    replaced by `erased:<run id>` (NOT NULL or unique columns: still unique, says nothing);
 *   constant  replaced by the text `erased` (NOT NULL columns no lookup needs);
 *   empty     a jsonb document replaced by `{"erased": true}`.
 * Rows are kept, anonymised, rather than deleted: the daily KPI rows, the ledger and the
 * delivery history stay true (docs/adr/0011-erase-or-anonymise.md).
 */

export type Anonymise = 'null' | 'erased' | 'constant' | 'empty';

export interface PersonalTable {
	/** Columns that hold personal data, or a hash or token derived from it. */
	columns: Readonly<Record<string, Anonymise>>;
	/** Where a run's rows are found (runs themselves: run_id). */
	runColumn: 'run_id';
}

export const PERSONAL_COLUMNS = {
	runs: {
		runColumn: 'run_id',
		columns: {
			// the salted e-mail hash: what finds a person, and what could find them again
			email_hash: 'null',
			email_masked: 'null',
			// the encrypted raw lead, held until delivery
			sealed_lead: 'null',
			// a key holding an e-mail is stored as a salted hash of it (pii/idempotency-key.ts)
			idempotency_key: 'erased',
			// SHA-256 of the body, unsalted: a guess of the lead could be checked against it
			fingerprint: 'constant',
			signature_guard: 'null',
			// a CRM's error text may quote the lead
			error_message: 'null',
		},
	},
	audit_events: { runColumn: 'run_id', columns: {} },
	delivery_attempts: { runColumn: 'run_id', columns: { error: 'null' } },
	dlq: {
		runColumn: 'run_id',
		columns: {
			// sanitized headers and body: masked, but still a person's shape (initial, last digits)
			payload: 'empty',
			last_error: 'null',
			resolution_note: 'null',
		},
	},
} as const satisfies Record<string, PersonalTable>;

/**
 * Audit payload fields that hold personal data, per event type; the rest of a payload (codes,
 * counts, ids, times) stays. `lead` is the masked lead, `email_hash` the salted hash.
 */
export const PERSONAL_PAYLOAD_FIELDS: Partial<Record<EventType, readonly string[]>> = {
	lead_received: ['email_hash', 'lead'],
	lead_duplicate: ['idempotency_key'],
	delivery_failed: ['error'],
	dlq_resolved: ['note'],
};

/** Every payload field named above (an erased event drops all of them, whatever its type). */
export const ALL_PERSONAL_PAYLOAD_FIELDS = [
	...new Set(Object.values(PERSONAL_PAYLOAD_FIELDS).flat()),
].sort();

/**
 * Tables whose rows are nothing but a person's identifiers (salted hashes that would find them
 * again): a run's rows are deleted with its erasure, not anonymised.
 */
export const DELETED_WITH_THE_RUN = ['person_identities'] as const;

/** Alert files are named after the run (incidents/alert-files.ts): a run's files are deleted. */
export const ALERT_FILES_OF_A_RUN = 'deleted';
