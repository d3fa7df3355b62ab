/*
 * The processor's vocabulary, declared once: every status, event type, actor and payload shape
 * the database stores. The database's CHECK constraints hold the same lists; a test
 * (processor/test/vocabulary.test.ts) proves them equal. docs/contract.md says what each means.
 */

/**
 * accepted -> processed | failed (in the DLQ); rejected by the rules at intake; accepted ->
 * duplicate when the same person was already received within the rules' window (policy drop).
 */
export const RUN_STATUSES = ['accepted', 'processed', 'failed', 'rejected', 'duplicate'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** open (waiting for its next attempt) -> retrying (claimed, leased) -> resolved | dead | open. */
export const DLQ_STATUSES = ['open', 'retrying', 'resolved', 'dead'] as const;
export type DlqStatus = (typeof DLQ_STATUSES)[number];

/** What set a delivery attempt off. */
export const ATTEMPT_TRIGGERS = ['intake', 'retry', 'operator'] as const;
export type AttemptTrigger = (typeof ATTEMPT_TRIGGERS)[number];

export const ACTORS = ['webhook', 'processor', 'system', 'operator'] as const;
type Actor = (typeof ACTORS)[number];

type IsoTime = string;

/** Every audit event and its payload. Payloads never hold plain personal data. */
export interface EventPayloads {
	/** A new run: the lead as received, masked. */
	lead_received: { source: string; email_hash: string | null; lead: unknown };
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
		/** Who closed it: a re-delivery, an operator by hand, or the intake that finally wrote. */
		by: 'retry' | 'operator' | 'intake';
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
