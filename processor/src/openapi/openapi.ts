import { z } from 'zod';
import {
	createDocument,
	type ZodOpenApiOperationObject,
	type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import * as answer from '../api/answers.js';
import * as request from '../api/requests.js';
import { LeadSchema } from '../intake/lead-schema.js';

/**
 * The OpenAPI document served at GET /openapi.json, generated (zod-openapi) from the schemas the
 * routes validate requests with (api/requests.ts) and the answer shapes the tests hold the
 * routes to (api/answers.ts).
 */

const json = (schema: z.ZodType, description: string) => ({
	description,
	content: { 'application/json': { schema } },
});
const failure = (description: string) => json(answer.ErrorAnswer, description);
const unavailable = { '503': failure('The database cannot be reached; try again (Retry-After)') };
const STRICT =
	'Unknown query parameters are refused, and so are body fields the body schema does not name (additionalProperties: false) or any body where the operation takes none: 400 invalid_request naming each, and nothing is done.';

function internal(
	summary: string,
	operation: Omit<ZodOpenApiOperationObject, 'responses'> & {
		responses: ZodOpenApiResponsesObject;
	},
): ZodOpenApiOperationObject {
	return {
		summary,
		description: STRICT,
		security: [{ serviceToken: [] }],
		...operation,
		responses: {
			'400': failure(
				'A parameter is invalid, or unknown (a query parameter or body field this operation does not take): the answer names each one',
			),
			'401': failure('Missing or wrong service token'),
			'413': failure('A body over 16 KB (after decompression)'),
			'415': failure(
				'A body that is not application/json (unsupported_content_type), an unknown Content-Encoding or a charset that is not UTF',
			),
			'429': failure(
				'More than REFUSED_TOKENS_PER_MINUTE wrong or missing service tokens from this address in a minute (Retry-After); the right token is never refused',
			),
			...unavailable,
			...operation.responses,
		},
	};
}

const signatureHeaders = z.object({
	'webhook-id': z
		.string()
		.optional()
		.meta({ description: 'v2: the idempotency key (1-200 printable ASCII)' }),
	'webhook-timestamp': z.string().optional().meta({ description: 'v2: Unix seconds' }),
	'webhook-signature': z.string().optional().meta({
		description: 'v2: space-separated `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`',
	}),
	'x-timestamp': z.string().optional().meta({ description: 'legacy: Unix seconds' }),
	'x-signature': z
		.string()
		.optional()
		.meta({ description: 'legacy: `sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`' }),
	'x-idempotency-key': z.string().optional().meta({ description: 'legacy: the idempotency key' }),
	'x-source': z.string().optional().meta({
		description:
			'The lead source n8n authenticated; the signature is made with the key bound to it, HMAC-SHA256(key, "lead-intake source:" + X-Source)',
	}),
	prefer: z.string().optional().meta({
		description:
			'`respond-async`: answer 202 once stored (the signature is then made with the answer-on-store key)',
	}),
	'x-correlation-id': z.string().optional().meta({ description: 'Echoed; generated when absent' }),
});

export const openApiDocument: ReturnType<typeof createDocument> = createDocument({
	openapi: '3.1.0',
	info: {
		title: 'Lead Intake Hub processor',
		version: '0.2.0',
		description:
			'Signed lead intake, DLQ retries and replay, the ledger, KPIs and the operator API. Every answer carries X-Correlation-ID; every error is JSON {detail, code, correlation_id}.',
	},
	components: {
		securitySchemes: {
			serviceToken: { type: 'http', scheme: 'bearer', description: 'SERVICE_TOKEN' },
		},
	},
	paths: {
		'/webhook/lead': {
			post: {
				summary: 'Submit a signed lead',
				requestParams: { header: signatureHeaders },
				requestBody: { required: true, content: { 'application/json': { schema: LeadSchema } } },
				responses: {
					'200': json(
						answer.IntakeAnswer,
						'Accepted and delivered, a duplicate, or rejected by the rules',
					),
					'202': json(
						answer.QueuedAnswer,
						'Prefer: respond-async: stored, delivered in the background (Preference-Applied: respond-async). Without it, only for a policy-update lead whose older lead of the same CRM record was still on its way to the CRM: queued behind it',
					),
					'400': failure('Invalid JSON or UTF-8, a missing or invalid key, a bad timestamp'),
					'401': failure('Missing or wrong signature, or the legacy scheme is switched off'),
					'409': failure(
						'Timestamp outside the tolerance, a legacy signature replayed with another key, or the first request with this key is still being delivered and this one waits for the CRM (Retry-After)',
					),
					'413': failure('Body too large'),
					'415': failure('Compressed body: the signature covers the bytes as sent'),
					'422': failure(
						'Not a lead: shape, depth, size, forbidden key, NUL; or the key was used for another lead',
					),
					'429': failure(
						'Rate limit of the signer, or a refused signature past REFUSED_PER_MINUTE refused signatures from this client (Retry-After); a signature that matches is never refused for what others sent',
					),
					'500': json(answer.IntakeFailure, 'Delivery failed; the lead is in the DLQ'),
					...unavailable,
				},
			},
		},
		'/livez': {
			get: {
				summary: 'The process answers (no database)',
				responses: { '200': json(z.object({ status: z.literal('alive') }), 'Alive') },
			},
		},
		'/health': {
			get: {
				summary:
					'Readiness: the database answers (audited as health_check at most every HEALTH_AUDIT_INTERVAL_SECONDS)',
				responses: {
					'200': json(answer.Health, 'Ready'),
					'503': json(answer.Health, 'The database cannot be reached'),
				},
			},
		},
		'/metrics': {
			get: {
				summary: 'Prometheus metrics',
				responses: { '200': { description: 'Prometheus text format' } },
			},
		},
		'/openapi.json': {
			get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
		},
		'/internal/dlq/retry-due': {
			post: internal('Recover interrupted runs, then claim and re-deliver due DLQ items', {
				requestBody: { content: { 'application/json': { schema: request.RetryDueBody } } },
				responses: { '200': json(answer.RetryDueAnswer, 'What was claimed and how each ended') },
			}),
		},
		'/internal/dlq/replay': {
			post: internal('Re-deliver the DLQ items matching a filter now (or count them)', {
				requestBody: { content: { 'application/json': { schema: request.ReplayBody } } },
				responses: { '200': json(answer.ReplayAnswer, 'The count, or what was re-delivered') },
			}),
		},
		'/internal/events': {
			get: internal('The outcome events waiting to be sent (counts, and the oldest first)', {
				requestParams: { query: request.OutboxQuery },
				responses: { '200': json(answer.OutboxAnswer, 'What waits in the outbox') },
			}),
		},
		'/internal/events/retry': {
			post: internal('Send every pending outcome event now (their backoff waits are cut short)', {
				responses: { '200': json(answer.OutboxRetryAnswer, 'How many were made due') },
			}),
		},
		'/internal/dlq': {
			get: internal('List DLQ items, newest first', {
				requestParams: { query: request.DlqListQuery },
				responses: { '200': json(answer.DlqPage, 'A page of items') },
			}),
		},
		'/internal/dlq/{id}/retry': {
			post: internal('Re-deliver one open or dead item now', {
				requestParams: { path: request.DlqIdParams },
				responses: {
					'200': json(answer.RetryOutcome, 'How it ended'),
					'404': failure('No such item'),
					'409': failure('Resolved, or being retried right now'),
				},
			}),
		},
		'/internal/dlq/{id}/resolve': {
			post: internal('Close one item by hand (actor operator; the raw lead is purged)', {
				requestParams: { path: request.DlqIdParams },
				requestBody: {
					required: true,
					content: { 'application/json': { schema: request.ResolveBody } },
				},
				responses: {
					'200': json(answer.DlqItem, 'The item as it is now'),
					'404': failure('No such item'),
					'409': failure('Already resolved, or being retried right now'),
				},
			}),
		},
		'/internal/stats/runs': {
			get: internal('Run counts by status', {
				responses: { '200': json(answer.RunCounts, 'Counts') },
			}),
		},
		'/internal/stats/ledger': {
			get: internal('Where every lead received in a time range (at most 31 days) is now', {
				requestParams: { query: request.LedgerQuery },
				responses: { '200': json(answer.Ledger, 'The ledger of the range') },
			}),
		},
		'/internal/runs': {
			get: internal('Recent runs, newest first', {
				requestParams: { query: request.RunsQuery },
				responses: { '200': json(z.object({ runs: z.array(answer.Run) }), 'Runs') },
			}),
		},
		'/internal/runs/{runId}': {
			get: internal("One run's full history", {
				requestParams: { path: request.RunIdParams },
				responses: { '200': json(answer.RunHistory, 'The history'), '404': failure('No such run') },
			}),
		},
		'/internal/runs/by-key/{key}': {
			get: internal('The run of an idempotency key, with its full history', {
				requestParams: { path: request.RunKeyParams },
				responses: {
					'200': json(answer.RunHistory, 'The history'),
					'404': failure('No run with this key'),
				},
			}),
		},
		'/internal/kpi/compute-daily': {
			post: internal(
				'Recompute one UTC day (default yesterday) and the 13 before it, and write its report files (kpi_<day>.md, .csv, .html)',
				{
					requestBody: { content: { 'application/json': { schema: request.KpiComputeBody } } },
					responses: {
						'200': json(answer.KpiComputed, 'The KPI row and the report files written'),
					},
				},
			),
		},
		'/internal/alerts': {
			post: internal(
				"Write an alert n8n's Alert Router raised: its file in the alerts folder (masked by the processor's allow-list) and its alerts/index.md entry; idempotent by alert_id",
				{
					requestBody: {
						required: true,
						content: { 'application/json': { schema: request.AlertBody } },
					},
					responses: {
						'201': json(answer.AlertRouted, 'The alert file written'),
						'200': json(
							answer.AlertRouted,
							'This alert_id was handed over before: the file written then; nothing was written now',
						),
						'409': failure(
							'Another call has been writing this alert for 5 s (request_in_progress, with Retry-After)',
						),
					},
				},
			),
		},
		'/internal/privacy/erase': {
			post: internal(
				"Erase a person's personal data: runs, events, attempts, DLQ items, alert files, and (driven by the processor) the CRM's record (docs/privacy.md)",
				{
					requestParams: { header: request.OperatorHeaders },
					requestBody: {
						required: true,
						content: { 'application/json': { schema: request.PersonBody } },
					},
					responses: { '200': json(answer.Erasure, 'What was erased') },
				},
			),
		},
		'/internal/privacy/export': {
			post: internal('Everything held about a person, in one document (docs/privacy.md)', {
				requestParams: { header: request.OperatorHeaders },
				requestBody: {
					required: true,
					content: { 'application/json': { schema: request.PersonBody } },
				},
				responses: { '200': json(answer.PersonExport, 'The export') },
			}),
		},
		'/internal/privacy/retention': {
			post: internal(
				'Run the retention pass now (it also runs a minute after start, then every RETENTION_PASS_SECONDS)',
				{
					responses: { '200': json(answer.Retention, 'What was removed') },
				},
			),
		},
		'/internal/privacy/erasures': {
			get: internal('Erasures whose CRM part is still pending', {
				responses: { '200': json(answer.PendingErasures, 'Pending erasures') },
			}),
		},
		'/internal/rules': {
			get: internal('The rules document in force (the newest version)', {
				responses: { '200': json(answer.RulesVersion, 'The version in force') },
			}),
			put: internal(
				'Save a new version of the rules document: in force in every processor within seconds (audited as rules_changed)',
				{
					requestParams: { header: request.OperatorHeaders },
					requestBody: {
						required: true,
						content: { 'application/json': { schema: request.RulesSaveBody } },
					},
					responses: {
						'200': json(
							answer.RulesSaved,
							'The version in force now: the new one, or (saved false) the one equal to the document',
						),
						'400': failure(
							'The document does not validate: `issues` names each field (document.rules.checks.0.pattern, …); nothing was saved',
						),
						'409': failure('expected_version is no longer the version in force (current_version)'),
						'413': failure('Body larger than 256 KB'),
					},
				},
			),
		},
		'/internal/rules/dry-run': {
			post: internal(
				'What a proposed rules document would change, against the newest stored leads (nothing is saved)',
				{
					requestBody: {
						required: true,
						content: { 'application/json': { schema: request.RulesDryRunBody } },
					},
					responses: { '200': json(answer.RulesDryRun, 'The differences, counted') },
				},
			),
		},
		'/internal/rules/versions': {
			get: internal('Rules versions, newest first', {
				requestParams: { query: request.RulesVersionsQuery },
				responses: { '200': json(answer.RulesVersionList, 'A page of versions') },
			}),
		},
		'/internal/rules/versions/{version}': {
			get: internal('One rules version, with its document', {
				requestParams: { path: request.RulesVersionParams },
				responses: {
					'200': json(answer.RulesVersion, 'The version'),
					'404': failure('No such version'),
				},
			}),
		},
		'/internal/rules/versions/{version}/restore': {
			post: internal("Roll back: save this version's document again as the newest version", {
				requestParams: { path: request.RulesVersionParams, header: request.OperatorHeaders },
				requestBody: { content: { 'application/json': { schema: request.RulesRestoreBody } } },
				responses: {
					'200': json(answer.RulesSaved, 'The version in force now'),
					'404': failure('No such version'),
					'409': failure('expected_version is no longer the version in force'),
					'422': failure("The version's document does not pass today's checks (`issues`)"),
				},
			}),
		},
		'/internal/kpi': {
			get: internal('KPI rows for a date range (default: the last 7 days)', {
				requestParams: { query: request.KpiRangeQuery },
				responses: { '200': json(answer.KpiRange, 'The rows') },
			}),
		},
	},
});
