import { z } from 'zod';
import { RulesDocumentSchema } from '../rules/document.js';
import {
	ACTORS,
	ATTEMPT_TRIGGERS,
	DLQ_STATUSES,
	EVENT_TYPES,
	IDENTITY_MATCHES,
	OUTCOME_EVENT_TYPES,
	RATE_LIMITS,
	RUN_STATUSES,
} from '../vocabulary.js';

/*
 * The shapes of the processor's answers, for the OpenAPI document; the operator API tests parse
 * real answers with them, so the document cannot promise what the code does not send.
 */

const Instant = z.union([z.iso.datetime(), z.date()]).meta({ type: 'string', format: 'date-time' });
const RunStatus = z.enum(RUN_STATUSES);
const DlqStatus = z.enum(DLQ_STATUSES);

export const ErrorAnswer = z
	.looseObject({
		detail: z.string().meta({ description: 'What went wrong, for a person' }),
		code: z.string().meta({ description: 'What went wrong, for a program' }),
		correlation_id: z.string(),
		limit: z
			.enum(RATE_LIMITS)
			.optional()
			.meta({ description: 'A 429: which rate limit (docs/contract.md)' }),
	})
	.meta({ id: 'Error', description: 'Every error; never a stack trace' });

export const QueuedAnswer = z
	.object({
		status: z.literal('accepted'),
		run_status: z.literal('queued'),
		run_id: z.uuid(),
	})
	.meta({ id: 'QueuedAnswer', description: 'Answered on store: delivered in the background' });

export const IntakeAnswer = z
	.union([
		z.object({
			status: z.literal('accepted'),
			run_id: z.uuid(),
			run_status: RunStatus.meta({
				description:
					'processed; accepted or failed when the record lags (the recovery completes it)',
			}),
			crm_id: z.string().nullable(),
		}),
		z
			.object({ status: z.literal('duplicate'), run_id: z.uuid(), existing_status: RunStatus })
			.meta({ description: 'The same idempotency key again: the run that holds it' }),
		z
			.object({
				status: z.literal('duplicate'),
				run_id: z.uuid(),
				duplicate_of: z.uuid(),
				match: z.enum(IDENTITY_MATCHES),
			})
			.meta({
				description:
					"The same person again within the window (policy drop): run_id is this lead's own run, duplicate_of the person's first",
			}),
		z.object({
			status: z.literal('rejected'),
			run_id: z.uuid(),
			reasons: z.array(z.string()),
			missing_fields: z.array(z.string()).optional(),
		}),
	])
	.meta({ id: 'IntakeAnswer' });

export const IntakeFailure = z
	.object({
		detail: z.string(),
		status: z.literal('failed'),
		run_id: z.uuid(),
		dlq_id: z.number().int().nullable(),
		reason: z.string(),
		dlq_status: z.enum(['open', 'dead']),
	})
	.meta({
		id: 'IntakeFailure',
		description: 'Delivery failed after accept: the lead is in the DLQ',
	});

export const RetryOutcome = z
	.object({
		dlq_id: z.number().int(),
		run_id: z.uuid(),
		outcome: z.enum(['resolved', 'retried', 'dead', 'deferred', 'lease_lost', 'unsettled']),
		reason: z.string().optional(),
		status_code: z.number().int().nullable().optional(),
		next_retry_at: z.string().optional(),
		superseded_by: z.uuid().optional().meta({
			description:
				'Resolved without a call (policy update): this newer run of the same CRM record had been delivered first, and sending this lead would have written its older details over it',
		}),
	})
	.meta({ id: 'RetryOutcome' });

const RetryCounts = {
	claimed: z.number().int(),
	resolved: z.number().int(),
	retried: z.number().int(),
	dead: z.number().int(),
	dead_items: z.array(RetryOutcome),
};

export const RetryDueAnswer = z
	.object({
		...RetryCounts,
		recovered: z
			.number()
			.int()
			.meta({ description: 'Runs left accepted past their lease, handed to the DLQ' }),
		circuit: z.object({
			state: z.enum(['closed', 'open', 'half-open']),
			until: z.string().nullable(),
		}),
	})
	.meta({ id: 'RetryDueAnswer' });

export const ReplayAnswer = z
	.union([
		z.object({ dry_run: z.literal(true), matched: z.number().int() }),
		z.object({
			dry_run: z.literal(false),
			matched: z.number().int(),
			items: z.array(RetryOutcome),
			...RetryCounts,
		}),
	])
	.meta({ id: 'ReplayAnswer' });

export const DlqItem = z
	.object({
		dlq_id: z.union([z.string(), z.number()]),
		run_id: z.uuid().nullable(),
		reason: z.string(),
		status: DlqStatus,
		retry_count: z.number().int(),
		next_retry_at: Instant.nullable(),
		locked_until: Instant.nullable(),
		last_error: z.string().nullable(),
		alert: z.boolean(),
		occurrences: z.number().int(),
		payload: z.record(z.string(), z.unknown()),
		created_at: Instant,
		updated_at: Instant,
		resolved_at: Instant.nullable(),
		resolution_note: z.string().nullable(),
		superseded_by: z.uuid().nullable().meta({
			description:
				'Policy update: the newer run of the same CRM record that was delivered first, so this lead was not sent again',
		}),
	})
	.meta({ id: 'DlqItem' });

export const DlqPage = z.object({
	items: z.array(DlqItem),
	total: z.number().int(),
	limit: z.number().int(),
	offset: z.number().int(),
});

export const Run = z
	.object({
		run_id: z.uuid(),
		idempotency_key: z.string(),
		source: z.string(),
		correlation_id: z.string().nullable(),
		status: RunStatus,
		error_code: z.string().nullable(),
		error_message: z.string().nullable(),
		rejection_reasons: z.array(z.string()).nullable(),
		email_hash: z.string().nullable(),
		email_masked: z.string().nullable(),
		crm_id: z.string().nullable(),
		rules_version: z
			.number()
			.int()
			.nullable()
			.meta({ description: 'The rules version that decided it (null: before versioned rules)' }),
		duplicate_of: z
			.uuid()
			.nullable()
			.meta({ description: "The same person's first run (a repeat within the window), else null" }),
		duplicate_match: z.enum(IDENTITY_MATCHES).nullable(),
		received_at: Instant,
		processed_at: Instant.nullable(),
		updated_at: Instant,
	})
	.meta({ id: 'Run' });

export const RunHistory = z
	.object({
		run: Run,
		events: z.array(
			z.object({
				event_id: z.union([z.string(), z.number()]),
				event_time: Instant,
				event_type: z.enum(EVENT_TYPES),
				actor: z.enum(ACTORS),
				payload: z.record(z.string(), z.unknown()),
				correlation_id: z.string().nullable(),
			}),
		),
		attempts: z.array(
			z.object({
				attempt_no: z.number().int(),
				trigger: z.enum(ATTEMPT_TRIGGERS),
				attempted_at: Instant,
				duration_ms: z.number().int(),
				status_code: z.number().int().nullable(),
				success: z.boolean(),
				error: z.string().nullable(),
			}),
		),
		dlq: z.array(DlqItem),
	})
	.meta({
		id: 'RunHistory',
		description: "One run's whole story: the run, its audit timeline, attempts, DLQ items",
	});

export const RunCounts = z.object({ by_status: z.record(RunStatus, z.number().int()) });

const KpiRow = z
	.looseObject({
		day: z.string(),
		received_count: z.number().int(),
		processed_count: z.number().int(),
		rejected_count: z.number().int(),
		failed_count: z.number().int(),
		duplicate_count: z
			.number()
			.int()
			.meta({ description: 'The same request again (key and body repeated)' }),
		same_person_count: z
			.number()
			.int()
			.meta({ description: 'The same person again within the window (run status duplicate)' }),
		dlq_open_count: z.number().int(),
		avg_processing_ms: z.number().nullable(),
		p50_processing_ms: z
			.number()
			.nullable()
			.meta({ description: 'Median time from intake to the CRM' }),
		p95_processing_ms: z.number().nullable(),
		computed_at: Instant,
	})
	.meta({ id: 'KpiRow' });

export const KpiComputed = z.looseObject({ row: KpiRow, report_files: z.array(z.string()) });

export const KpiRange = z.object({ from: z.string(), to: z.string(), rows: z.array(KpiRow) });

export const Ledger = z
	.object({
		from: z.string(),
		to: z.string(),
		received: z.number().int(),
		processed: z.number().int(),
		rejected: z.number().int(),
		same_person: z
			.number()
			.int()
			.meta({ description: 'The same person again within the window (run status duplicate)' }),
		waiting: z.number().int().meta({ description: 'In the DLQ, waiting for a retry' }),
		dead: z.number().int().meta({ description: 'In the DLQ, given up on: needs a person' }),
		resolved_manually: z.number().int(),
		superseded: z.number().int().meta({
			description:
				'Failed, and not sent again: a newer lead of the same CRM record was delivered first (policy update)',
		}),
		queued: z.number().int().meta({ description: 'Answered on store, waiting for a deliverer' }),
		in_flight: z.number().int().meta({ description: 'Accepted, within their lease' }),
		erased: z.number().int().meta({
			description:
				"Erased before they were delivered: on their person's request, or by retention while dead in the DLQ",
		}),
		stuck: z
			.number()
			.int()
			.meta({ description: 'Accepted past their lease (0 unless recovery is not running)' }),
		unaccounted: z.number().int(),
		duplicates: z
			.number()
			.int()
			.meta({ description: 'The same request again (same key and body): no run of its own' }),
		balanced: z.boolean().meta({
			description:
				'received = processed + rejected + same_person + waiting + dead + resolved_manually + superseded + queued + in_flight + erased',
		}),
	})
	.meta({ id: 'Ledger' });

export const Health = z.object({ status: z.string(), database: z.enum(['up', 'down', 'error']) });

export const RulesVersionSummary = z
	.object({
		version: z.number().int(),
		changed_by: z.string(),
		note: z.string().nullable(),
		changed: z
			.array(z.string())
			.meta({ description: 'The top-level sections that differ from the version before' }),
		restores: z
			.number()
			.int()
			.nullable()
			.meta({ description: 'A roll-back: the version whose document this one brings back' }),
		created_at: Instant,
	})
	.meta({ id: 'RulesVersionSummary' });

export const RulesVersion = RulesVersionSummary.extend({ document: RulesDocumentSchema }).meta({
	id: 'RulesVersion',
	description: 'One version of the rules document',
});

export const RulesSaved = RulesVersion.extend({
	saved: z.boolean().meta({
		description:
			'false: the document equals the version in force, nothing was saved (the answer is that version)',
	}),
}).meta({ id: 'RulesSaved', description: 'The version in force after the request' });

export const RulesVersionList = z.object({ versions: z.array(RulesVersionSummary) });

const RulesChange = z.object({
	count: z.number().int(),
	reasons: z.record(z.string(), z.number().int()),
	run_ids: z.array(z.uuid()).meta({ description: 'A few examples' }),
});

export const RulesDryRun = z
	.object({
		current_version: z
			.number()
			.int()
			.meta({ description: 'Compared with this version: save with it as expected_version' }),
		evaluated: z.number().int().meta({ description: 'Leads evaluated (the newest runs)' }),
		unreadable: z.number().int().meta({ description: 'Runs without a readable masked lead' }),
		from: Instant.nullable(),
		to: Instant.nullable(),
		current: z.object({ accepted: z.number().int(), rejected: z.number().int() }),
		proposed: z.object({ accepted: z.number().int(), rejected: z.number().int() }),
		newly_rejected: RulesChange.meta({
			description: "Accepted now, rejected by the proposal (reasons: the proposal's)",
		}),
		newly_accepted: RulesChange.meta({
			description: "Rejected now (reasons: the current version's), accepted by the proposal",
		}),
		reasons: z.record(
			z.string(),
			z.object({ current: z.number().int(), proposed: z.number().int() }),
		),
		not_as_recorded: z.object({ count: z.number().int(), run_ids: z.array(z.uuid()) }).meta({
			description:
				'Leads the current version does not decide as recorded (an older version decided them, or a check reads a masked field): the figures are only as good as this is small',
		}),
	})
	.meta({ id: 'RulesDryRun', description: 'What the proposed document would change' });

export const OutboxAnswer = z
	.object({
		pending: z.number().int().meta({ description: 'Events not yet acknowledged by the receiver' }),
		retrying: z
			.number()
			.int()
			.meta({ description: 'Of them, refused or unanswered at least once' }),
		oldest_pending_at: z.iso.datetime().nullable(),
		by_type: z.record(z.string(), z.number().int()),
		events_url_set: z
			.boolean()
			.meta({ description: 'false: EVENTS_URL is unset, nothing is sent' }),
		events: z.array(
			z.object({
				webhook_id: z.string(),
				type: z.enum(OUTCOME_EVENT_TYPES),
				run_id: z.uuid().nullable(),
				occurred_at: z.iso.datetime(),
				attempts: z.number().int(),
				next_attempt_at: z.iso.datetime(),
				last_error: z.string().nullable(),
			}),
		),
	})
	.meta({ id: 'Outbox', description: 'The outcome events waiting to be sent, oldest first' });

export const OutboxRetryAnswer = z.object({
	due: z.number().int().meta({ description: 'Pending events made due now' }),
});

export const AlertRouted = z.object({
	alert_id: z.string(),
	file: z.string().meta({ description: 'The alert file in the alerts folder' }),
	created: z.boolean().meta({
		description: 'false: this alert_id was handed over before; nothing was written this time',
	}),
});
const ErasureCounts = z
	.object({
		runs: z.number().int(),
		audit_events: z.number().int(),
		delivery_attempts: z.number().int(),
		dlq_items: z.number().int(),
		retries_stopped: z
			.number()
			.int()
			.meta({ description: 'Undelivered leads of the person that will not be retried' }),
		alert_files: z.number().int(),
	})
	.meta({ id: 'ErasureCounts', description: 'What one erasure changed, per kind of record' });

export const Erasure = z
	.object({
		erasure_id: z
			.number()
			.int()
			.nullable()
			.meta({ description: 'The erasure request recorded; null when nothing was left' }),
		erased_at: Instant,
		requested_by: z.string(),
		run_ids: z.array(z.uuid()),
		counts: ErasureCounts,
		crm: z.object({
			status: z.enum(['pending', 'not_needed']),
			first_attempt_at: Instant.nullable().meta({
				description:
					'When the CRM is first asked (later than now while a lead of the person was in flight); with nothing left, when it is next asked for an earlier request still pending',
			}),
		}),
		nothing_left: z.boolean(),
	})
	.meta({ id: 'Erasure', description: 'What was erased; never the person' });

export const PersonExport = z
	.object({
		exported_at: Instant,
		runs: z.array(z.looseObject({ run_id: z.uuid(), lead: z.looseObject({}).nullable() })),
		events: z.array(z.looseObject({})),
		attempts: z.array(z.looseObject({})),
		dlq: z.array(z.looseObject({})),
		identities: z.array(z.looseObject({})).meta({
			description: 'What the same-person check keeps (as salted hashes): the kind and since when',
		}),
		outcome_events: z.array(z.looseObject({})).meta({
			description: 'What n8n was told about the leads (ids, codes, counts)',
		}),
		alert_files: z.array(z.string()),
		alerts: z.array(z.object({ file: z.string(), content: z.looseObject({}).nullable() })).meta({
			description:
				"Each alert file's content (null when it cannot be read as a JSON object of at most 64 KB)",
		}),
	})
	.meta({
		id: 'PersonExport',
		description: 'Everything held about the person; `lead` is the raw lead where still held',
	});

export const PendingErasures = z
	.object({ pending: z.array(z.looseObject({ erasure_id: z.number().int() })) })
	.meta({ id: 'PendingErasures', description: 'Erasures the CRM has not confirmed yet' });

export const Retention = z
	.object({
		raw_leads_purged: z.number().int(),
		runs_anonymised: z.number().int(),
		alert_files_deleted: z.number().int(),
		refused_requests_cleared: z.number().int().meta({
			description:
				'Refused signatures whose request (client address, headers, body hash) was cleared',
		}),
		more: z.boolean().meta({ description: 'A batch limit was reached: the next pass goes on' }),
	})
	.meta({ id: 'Retention', description: 'What one retention pass removed' });
