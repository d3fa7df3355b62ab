import { z } from 'zod';
import { ProposedDocumentSchema } from '../rules/document.js';
import { DLQ_STATUSES, RUN_STATUSES } from '../vocabulary.js';

/*
 * Every operator request's parameters, as the routes validate them; the OpenAPI document is
 * generated from these same schemas (openapi/openapi.ts), so it cannot drift from the code.
 * Every schema is strict: a query parameter or body field it does not name is refused (400
 * naming it), never ignored; a route that takes none refuses any (NoQuery, NoBody).
 */

/** Days and instants an operator may name: the KPI and ledger arithmetic stays in range. */
const FIRST_DAY = '2000-01-01';
const LAST_DAY = '2099-12-31';
const dayInRange = (day: string) => day >= FIRST_DAY && day <= LAST_DAY;
const IN_RANGE = `must be from ${FIRST_DAY} to ${LAST_DAY}`;
const RANGE = `from ${FIRST_DAY} to ${LAST_DAY}`;

const Day = z.iso
	.date()
	.refine(dayInRange, IN_RANGE)
	.meta({
		description: `A UTC day, YYYY-MM-DD, from ${FIRST_DAY} to ${LAST_DAY}`,
		example: '2026-11-24',
	});
const instantInRange = (date: Date) =>
	date.getTime() >= Date.parse(`${FIRST_DAY}T00:00:00Z`) &&
	date.getTime() < Date.parse(`${LAST_DAY}T00:00:00Z`) + 24 * 3600 * 1000;
/** An ISO date (midnight UTC) or date-time. */
const Instant = z
	.union([z.iso.datetime({ offset: true }), z.iso.date()])
	.transform((value) => new Date(value))
	.refine(instantInRange, IN_RANGE)
	.meta({
		description: `An ISO 8601 date-time with offset, or a date (midnight UTC), from ${FIRST_DAY} to ${LAST_DAY}`,
	});
/** Operator text reaches SQL: Postgres refuses a NUL in text, so it is a 400 here, not a 500 there. */
const Text = (max: number) =>
	z
		.string()
		.trim()
		.min(1)
		.max(max)
		.refine((text) => !text.includes('\u0000'), 'must not contain NUL characters');
const Reason = Text(100).meta({
	description: 'A DLQ reason, e.g. crm_http_503, crm_unavailable, interrupted',
});
/**
 * A whole number in a query string or path, written in decimal digits: what Number() would also
 * take (`0x10`, `1e2`, ` 5`, an empty value) is refused, not read as something else.
 */
const Digits = z
	.string()
	.regex(/^\d{1,16}$/, 'must be a whole number written in digits')
	.transform(Number);
const Limit = Digits.pipe(z.number().int().min(1).max(500)).default(50);

export { nameSome } from '../text/names.js';

/** A route that takes no query parameters, or no body: anything sent is refused, not ignored. */
export const NoQuery = z.strictObject({});
export const NoBody = z.strictObject({});

export const DlqListQuery = z.strictObject({
	status: z.enum(DLQ_STATUSES).optional(),
	reason: Reason.optional(),
	limit: Limit,
	offset: Digits.pipe(z.number().int().min(0).max(1_000_000)).default(0),
});

export const DlqIdParams = z.strictObject({
	id: Digits.pipe(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)).meta({
		description: 'dlq_id',
	}),
});

export const ResolveBody = z.strictObject({
	note: Text(1000).meta({ description: 'Why the item is closed by hand' }),
});

export const RetryDueBody = z.strictObject({
	limit: z.number().int().min(1).max(10_000).optional().meta({
		description: 'How many due items to claim (default DLQ_RETRY_BATCH)',
	}),
});

export const ReplayBody = z.strictObject({
	status: z
		.array(z.enum(['open', 'dead']))
		.min(1)
		.default(['dead'])
		.meta({ description: 'Which items: dead (default) and/or open ones' }),
	reason: Reason.optional(),
	source: Text(100).optional().meta({ description: "The runs' source" }),
	from: Instant.optional().meta({ description: `Items created at or after; ${RANGE}` }),
	to: Instant.optional().meta({ description: `Items created before; ${RANGE}` }),
	limit: z
		.number()
		.int()
		.min(1)
		.max(10_000)
		.default(100)
		.meta({ description: 'At most this many are re-delivered' }),
	dry_run: z.boolean().default(false).meta({ description: 'Only count the matching items' }),
});

export const OutboxQuery = z.strictObject({ limit: Limit });
export const RunsQuery = z.strictObject({ status: z.enum(RUN_STATUSES).optional(), limit: Limit });

export const RunIdParams = z.strictObject({ runId: z.uuid() });

export const RunKeyParams = z.strictObject({
	key: Text(200).meta({
		description:
			'The idempotency key as it was signed (through the Lead Source Trigger 1.2: `<source>/<key>`), URL-encoded',
	}),
});

export const KpiComputeBody = z.strictObject({
	date: Day.optional().meta({ description: `Default: yesterday (UTC); ${RANGE}` }),
});

export const KpiRangeQuery = z.strictObject({
	from: Day.optional().meta({
		description: `Default: six days before \`to\` (seven days with \`to\`); ${RANGE}`,
	}),
	to: Day.optional().meta({ description: `Default: yesterday (UTC); ${RANGE}` }),
});

export const LedgerQuery = z.strictObject({
	from: Instant.optional().meta({ description: `Default: 24 hours ago; ${RANGE}` }),
	to: Instant.optional().meta({ description: `Default: now; ${RANGE}` }),
});

const RulesVersionNumber = z.number().int().positive().max(2_147_483_647);
const RulesChange = {
	note: Text(1000)
		.optional()
		.meta({ description: 'Why: kept with the version and its audit event' }),
	expected_version: RulesVersionNumber.optional().meta({
		description:
			'Save only while this is the version in force (409 otherwise): set it to the version you edited',
	}),
	actor: Text(100).optional().meta({
		description:
			'Who saves it (else the X-Operator header, else "operator"); e-mail addresses are masked',
	}),
};

export const RulesSaveBody = z.strictObject({ document: ProposedDocumentSchema, ...RulesChange });

export const RulesRestoreBody = z.strictObject(RulesChange);

export const RulesDryRunBody = z.strictObject({
	document: ProposedDocumentSchema,
	limit: z
		.number()
		.int()
		.min(1)
		.max(10_000)
		.default(1000)
		.meta({ description: 'How many of the newest leads to evaluate' }),
});

export const RulesVersionParams = z.object({
	version: Digits.pipe(RulesVersionNumber).meta({ description: 'A rules version' }),
});

export const RulesVersionsQuery = z.strictObject({
	limit: Limit,
	before: Digits.pipe(RulesVersionNumber)
		.optional()
		.meta({ description: 'Only versions older than this one (the next page)' }),
});

export const OperatorHeaders = z.object({
	'x-operator': Text(100)
		.optional()
		.meta({ description: 'Who makes the change, when the body names nobody (`actor`)' }),
});

/** How deep an alert's `response` or `payload` may nest: bounded work to mask and write it. */
const ALERT_DEPTH = 12;

function depthOf(value: unknown, limit: number): number {
	if (value === null || typeof value !== 'object') return 0;
	if (limit <= 0) return 1;
	let deepest = 0;
	for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item, limit - 1));
	return deepest + 1;
}

/** Any JSON value (the body is parsed JSON already). */
const AlertData = z
	.unknown()
	.refine((value) => depthOf(value, ALERT_DEPTH) <= ALERT_DEPTH, `nests deeper than ${ALERT_DEPTH}`)
	.optional();

/** Free text of an alert (masked again by the processor before it is written). */
const AlertText = (max: number) =>
	z
		.string()
		.max(max)
		.refine((text) => !text.includes('\u0000'), 'must not contain NUL characters');

/** What the Alert Router (version 3) hands to POST /internal/alerts. */
export const AlertBody = z.strictObject({
	alert_id: z
		.string()
		.regex(/^[A-Za-z0-9._:@-]{1,200}$/, 'must be 1-200 characters of A-Z a-z 0-9 . _ : @ -')
		.meta({
			description:
				'Makes the call idempotent: a repeat answers the file written the first time and writes nothing. The Alert Router sends the outcome event id when there is one, else `<outcome>:<run_id>`, else the n8n execution id',
			example: 'failed:3f8e2f0e-0c5e-4a54-9a57-1a4c1d6f3a10',
		}),
	severity: z.enum(['info', 'warning', 'high', 'critical']),
	summary: AlertText(1000).meta({ description: 'One line a reader understands' }),
	run_id: z
		.string()
		.regex(/^[A-Za-z0-9_-]{1,100}$/)
		.nullable()
		.default(null)
		.meta({ description: "The lead's run id, or the n8n execution id of a workflow error" }),
	statusCode: z.number().int().min(0).max(599).default(0),
	reason: AlertText(1000).default('unknown'),
	outcome: z
		.string()
		.regex(/^[a-z_]{1,40}$/)
		.nullable()
		.default(null),
	created_at: z.iso
		.datetime({ offset: true })
		.refine((text) => instantInRange(new Date(text)), IN_RANGE)
		.optional()
		.meta({ description: `When the alert was raised (default: now); ${RANGE}` }),
	response: AlertData.meta({ description: "The processor's answer the alert is about" }),
	payload: AlertData.meta({ description: 'What the alert shows; personal data is masked' }),
});
/** A person, by what they give when they ask (docs/privacy.md): an e-mail and/or a phone. */
export const PersonBody = z
	.strictObject({
		email: Text(320)
			.refine((value) => value.includes('@'), 'must be an e-mail address')
			.optional()
			.meta({
				description: 'The e-mail address the person gave (compared as the intake stores it)',
			}),
		// a number too, as a lead may carry it (copied from a lead's JSON)
		phone: z
			.union([
				Text(50),
				z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).transform(String),
			])
			.refine((value) => /\d{4,}/.test(value.replace(/\D/g, '')), 'must hold at least 4 digits')
			.optional()
			.meta({
				description:
					'The phone number the person gave, as text or a number (compared by its digits)',
			}),
		actor: Text(100).optional().meta({
			description:
				'Who asks (else the X-Operator header, else "operator"); kept with the audit event',
		}),
	})
	.refine((body) => body.email !== undefined || body.phone !== undefined, {
		message: 'name the person: "email", "phone" or both',
		path: ['email'],
	});
