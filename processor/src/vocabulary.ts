/*
 * The processor's vocabulary, declared once: every status, event type, actor and payload shape
 * the database stores. The database's CHECK constraints hold the same lists; a test
 * (processor/test/vocabulary.test.ts) proves them equal. docs/contract.md says what each means.
 */

/**
 * accepted -> processed | failed (in the DLQ); rejected by the rules at intake; accepted ->
 * duplicate when the same person was already received within the rules' window (policy drop).
 * Answered on store (`Prefer: respond-async`): queued -> accepted (claimed by a deliverer,
 * leased) -> as above. erased: the person's data was erased while the lead was in flight
 * (docs/privacy.md), nothing finishes it.
 */
export const RUN_STATUSES = [
	'accepted',
	'processed',
	'failed',
	'rejected',
	'queued',
	'erased',
	'duplicate',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * The rate limits, as a 429's `limit` names them; their shared counts' keys in rate_limit_hits
 * begin with the name (http/rate-limit.ts, docs/hostile-input.md).
 */
export const RATE_LIMITS = ['signer', 'source', 'refused-signature', 'refused-token'] as const;
export type RateLimitName = (typeof RATE_LIMITS)[number];

/** open (waiting for its next attempt) -> retrying (claimed, leased) -> resolved | dead | open. */
export const DLQ_STATUSES = ['open', 'retrying', 'resolved', 'dead'] as const;
export type DlqStatus = (typeof DLQ_STATUSES)[number];

/**
 * How a DLQ item left the retry queue (`lead.resolved`'s `by`, set by the database's trigger,
 * migration 0015): re-delivered by a retry, closed by an operator, closed by its person's
 * erasure, or not sent again because a newer lead of its CRM record was delivered first.
 */
export const RESOLVED_BY = ['retry', 'operator', 'erasure', 'superseded'] as const;
export type ResolvedBy = (typeof RESOLVED_BY)[number];

/** What set a delivery attempt off. */
export const ATTEMPT_TRIGGERS = ['intake', 'retry', 'operator'] as const;
export type AttemptTrigger = (typeof ATTEMPT_TRIGGERS)[number];

export const ACTORS = ['webhook', 'processor', 'system', 'operator'] as const;
type Actor = (typeof ACTORS)[number];

type IsoTime = string;

/** Every audit event and its payload. Payloads never hold plain personal data. */
export interface EventPayloads {
	/** A new run: the lead as received, masked. */
	lead_received: {
		source: string;
		email_hash: string | null;
		lead: unknown;
		/** What the lead consented to, as sent (docs/privacy.md, "Consent"); absent: nothing sent. */
		consent?: ConsentRecord;
	};
	/** The same key and body again: answered `duplicate`, nothing else done. */
	lead_duplicate: { idempotency_key: string };
	lead_rejected: { reasons: string[]; missing_fields: string[] };
	/** The same person again (another key, maybe another source): `duplicate_of` the first run. */
	lead_same_person: { duplicate_of: string; match: 'email' | 'phone' | 'payload'; policy: string };
	crm_upserted: {
		crm_id: string | null;
		status_code: number;
		duration_ms: number;
		trigger: AttemptTrigger;
		dropped_attributes: string[];
	};
	delivery_failed: {
		reason: string;
		status_code: number | null;
		error: string;
		trigger: AttemptTrigger;
	};
	dlq_created: { dlq_id: number; reason: string; status: DlqStatus; next_retry_at: IsoTime | null };
	dlq_retried: {
		dlq_id: number;
		retry_count: number;
		reason: string;
		status_code: number | null;
		next_retry_at: IsoTime;
	};
	dlq_resolved: {
		dlq_id: number;
		/**
		 * Who closed it: a re-delivery, an operator by hand, the intake that finally wrote, or a
		 * newer run of the same CRM record that was delivered first (policy update: not sent again).
		 */
		by: 'retry' | 'operator' | 'intake' | 'superseded';
		retry_count: number;
		note: string | null;
	};
	dlq_dead: { dlq_id: number; retry_count: number; reason: string; status_code: number | null };
	/** A run left `accepted` past its lease (its processor died) was handed to the DLQ. */
	run_recovered: { reason: 'interrupted'; accepted_at: IsoTime; lease_seconds: number };
	health_check: { check: 'health'; at: IsoTime };
	kpi_computed: {
		day: string;
		received: number;
		report_files: string[];
		/** Whether the ledger of the day balanced when the report was written (null: not computed). */
		ledger_balanced: boolean | null;
	};
	/** A new version of the rules document was saved (or seeded); no run of its own. */
	rules_changed: {
		version: number;
		/** The version in force before (null for the first). */
		previous_version: number | null;
		/** Who saved it: the operator API's caller, `system` for the seed. */
		changed_by: string;
		note: string | null;
		/** The document's top-level sections that differ from the previous version. */
		changed: string[];
		/** A roll-back: the version whose document this one brings back. */
		restores: number | null;
	};
	/** A person's records were erased (docs/privacy.md): what, never who. No run of its own. */
	person_erased: {
		erasure_id: number;
		requested_by: string;
		run_ids: string[];
		counts: ErasureCounts;
		crm_status: 'pending' | 'not_needed';
	};
	/** Everything held about a person was exported for them: what, never who. */
	person_exported: { requested_by: string; run_ids: string[] };
	/** The daily retention pass removed what was past its window (docs/privacy.md). */
	retention_applied: {
		raw_leads_purged: number;
		runs_anonymised: number;
		alert_files_deleted: number;
		/** Refused signatures whose request (client address, headers, body hash) was cleared. */
		refused_requests_cleared: number;
		/** Whether a batch limit was reached (the rest is done by the next pass). */
		more: boolean;
	};
	/** The CRM confirmed the erasure of a person's records. */
	crm_erased: { erasure_id: number; attempts: number };
}

/** A lead's consent: kept with the run for as long as the run (not personal: no person in it). */
export interface ConsentRecord {
	given: boolean;
	timestamp: string | null;
	text_version: string | null;
}

/** What one erasure changed, per kind of record. */
export interface ErasureCounts {
	runs: number;
	audit_events: number;
	delivery_attempts: number;
	dlq_items: number;
	/** Undelivered leads whose retries were stopped. */
	retries_stopped: number;
	alert_files: number;
}

export type EventType = keyof EventPayloads;

/** In the order the migration lists them (the test compares sets). */
export const EVENT_TYPES = [
	'lead_received',
	'lead_duplicate',
	'lead_rejected',
	'crm_upserted',
	'delivery_failed',
	'dlq_created',
	'dlq_retried',
	'dlq_resolved',
	'dlq_dead',
	'run_recovered',
	'health_check',
	'kpi_computed',
	'rules_changed',
	'person_erased',
	'person_exported',
	'crm_erased',
	'retention_applied',
	'lead_same_person',
] as const satisfies readonly EventType[];

// EVENT_TYPES lists every key of EventPayloads (a compile-time check)
type Missing = Exclude<EventType, (typeof EVENT_TYPES)[number]>;
const everyEventTypeListed: [Missing] extends [never] ? true : Missing = true;
void everyEventTypeListed;

/** One row of a run's audit timeline. */
export type AuditEvent = {
	[Type in EventType]: { type: Type; actor: Actor; payload: EventPayloads[Type] };
}[EventType];

/*
 * Outcome events: what became of a lead, told to n8n (EVENTS_URL). Written to the outbox
 * (outcome_events) by the same statement as the state change they report; the dispatcher sends
 * each, signed (Standard Webhooks), until the receiver answers 2xx. Never personal data.
 */

/** In the order the migration lists them (the test compares sets). */
export const OUTCOME_EVENT_TYPES = [
	'lead.delivered',
	'lead.failed',
	'lead.dead',
	'lead.resolved',
	'lead.rejected',
] as const;
export type OutcomeEventType = (typeof OUTCOME_EVENT_TYPES)[number];

/** pending (waiting to be sent; leased while a dispatcher sends it) -> sent. */
export const OUTBOX_STATUSES = ['pending', 'sent'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

interface OutcomeBase {
	/** The run's id, as the intake's answers give it (a UUID). */
	run_id: string;
	/** The run's X-Source. */
	source: string;
}

/** Each event type's `data`. */
export interface OutcomeData {
	/** The CRM has the lead (the run is `processed`). */
	'lead.delivered': OutcomeBase & { crm_id: string | null };
	/** Delivery failed; the DLQ item waits for its next retry. */
	'lead.failed': OutcomeBase & {
		dlq_id: number;
		reason: string;
		retry_count: number;
		next_retry_at: IsoTime | null;
	};
	/** No retry is left (or the failure cannot be retried): a person must look at it. */
	'lead.dead': OutcomeBase & { dlq_id: number; reason: string; retry_count: number };
	/**
	 * The DLQ item was closed: re-delivered by a retry, resolved by hand, its person erased, or
	 * not sent again because newer details of the same person had reached the CRM (policy update).
	 */
	'lead.resolved': OutcomeBase & {
		dlq_id: number;
		by: ResolvedBy;
		retry_count: number;
	};
	/** The rules refused the lead at intake. */
	'lead.rejected': OutcomeBase & { reasons: string[] };
}

/** The body POSTed to EVENTS_URL. */
export type OutcomeEvent = {
	[Type in OutcomeEventType]: { type: Type; timestamp: IsoTime; data: OutcomeData[Type] };
}[OutcomeEventType];

/** Where sources (and the n8n node) POST a lead. */
export const INTAKE_PATH = '/webhook/lead';

/**
 * What made a lead the same person as an earlier one (runs.duplicate_match, person_identities.match;
 * docs/contract.md, "The same person").
 */
export const IDENTITY_MATCHES = ['email', 'phone', 'payload'] as const;
export type IdentityMatch = (typeof IDENTITY_MATCHES)[number];

/** One salted identity hash of a lead. */
export interface PersonIdentity {
	match: IdentityMatch;
	/** SHA-256 hex of `<match>:<normalised value>` followed by the salt. */
	hash: string;
}
