/** The OpenAPI document of every endpoint, served at GET /openapi.json. */

const json = (schema: object, description: string) => ({
	description,
	content: { 'application/json': { schema } },
});
const error = (description: string) => json({ $ref: '#/components/schemas/Error' }, description);
const object = (properties: Record<string, object>, required: string[] = []) => ({
	type: 'object',
	properties,
	required,
});
const str = { type: 'string' };
const int = { type: 'integer' };
const secured = { security: [{ serviceToken: [] }] };
const unauthorized = { 401: error('Missing or wrong service token') };
const query = (name: string, schema: object, description: string) => ({
	name,
	in: 'query',
	required: false,
	schema,
	description,
});
const path = (name: string, schema: object) => ({ name, in: 'path', required: true, schema });
const ok = (schema: object, description = 'OK') => ({ 200: json(schema, description) });

const dlqStatus = { type: 'string', enum: ['open', 'retrying', 'resolved', 'dead'] };
const runStatus = { type: 'string', enum: ['accepted', 'processed', 'failed', 'rejected'] };
const date = { type: 'string', format: 'date' };

export const openApiDocument = {
	openapi: '3.1.0',
	info: {
		title: 'Lead Intake Hub processor',
		version: '0.1.0',
		description:
			'Signed lead intake, DLQ retries, KPIs and the operator API. Every answer carries X-Correlation-ID.',
	},
	components: {
		securitySchemes: {
			serviceToken: { type: 'http', scheme: 'bearer', description: 'SERVICE_TOKEN' },
		},
		schemas: {
			Error: object({ detail: str, code: str, correlation_id: str }, ['detail', 'code']),
			RetrySummary: object({
				claimed: int,
				resolved: int,
				retried: int,
				dead: int,
				dead_items: {
					type: 'array',
					items: object({ dlq_id: int, run_id: str, outcome: str, reason: str, status_code: int }),
				},
			}),
			KpiRow: object({
				day: date,
				received_count: int,
				processed_count: int,
				rejected_count: int,
				failed_count: int,
				duplicate_count: int,
				dlq_open_count: int,
				avg_processing_ms: { type: ['number', 'null'] },
				p50_processing_ms: { type: ['number', 'null'] },
				p95_processing_ms: { type: ['number', 'null'] },
				computed_at: { type: 'string', format: 'date-time' },
			}),
		},
	},
	paths: {
		'/webhook/lead': {
			post: {
				summary: 'Submit a signed lead (SPEC 3.1-3.5)',
				parameters: [
					'X-Timestamp',
					'X-Signature',
					'X-Idempotency-Key',
					'X-Source',
					'X-Correlation-ID',
				].map((name) => ({
					name,
					in: 'header',
					required: ['X-Timestamp', 'X-Signature', 'X-Idempotency-Key'].includes(name),
					schema: str,
				})),
				requestBody: {
					required: true,
					content: { 'application/json': { schema: { type: 'object' } } },
				},
				responses: {
					...ok(
						object({
							status: { type: 'string', enum: ['accepted', 'duplicate', 'rejected'] },
							run_id: str,
							reasons: { type: 'array', items: str },
						}),
						'Accepted, duplicate or rejected by the rules',
					),
					400: error('Invalid JSON, missing idempotency key or bad timestamp'),
					401: error('Missing or wrong signature'),
					409: error('Timestamp outside the allowed skew'),
					413: error('Body too large'),
					415: error('Compressed body (Content-Encoding other than identity)'),
					422: error('Not a lead object, or the idempotency key was used for another body'),
					429: error('Rate limit per source exceeded'),
					500: json(
						object({ detail: str, status: str, run_id: str, dlq_id: int, reason: str }),
						'Delivery failed; the lead is in the DLQ',
					),
				},
			},
		},
		'/health': {
			get: {
				summary: 'Writes a health_check event',
				responses: {
					...ok(object({ status: str, database: str })),
					503: error('Database unreachable'),
				},
			},
		},
		'/metrics': {
			get: {
				summary: 'Prometheus metrics',
				responses: { 200: { description: 'Prometheus text format' } },
			},
		},
		'/internal/dlq/retry-due': {
			post: {
				...secured,
				summary: 'Claim and re-deliver due DLQ items',
				requestBody: { content: { 'application/json': { schema: object({ limit: int }) } } },
				responses: { ...ok({ $ref: '#/components/schemas/RetrySummary' }), ...unauthorized },
			},
		},
		'/internal/dlq': {
			get: {
				...secured,
				summary: 'List DLQ items',
				parameters: [
					query('status', dlqStatus, 'only this status'),
					query('limit', int, '1-500, default 50'),
					query('offset', int, 'default 0'),
				],
				responses: {
					...ok(
						object({
							items: { type: 'array', items: { type: 'object' } },
							total: int,
							limit: int,
							offset: int,
						}),
					),
					...unauthorized,
				},
			},
		},
		'/internal/dlq/{id}/retry': {
			post: {
				...secured,
				summary: 'Retry one DLQ item now (open or dead)',
				parameters: [path('id', int)],
				responses: {
					...ok(object({ dlq_id: int, run_id: str, outcome: str })),
					...unauthorized,
					404: error('No such item'),
					409: error('Item resolved or in flight'),
				},
			},
		},
		'/internal/dlq/{id}/resolve': {
			post: {
				...secured,
				summary: 'Resolve one DLQ item by hand (actor operator)',
				parameters: [path('id', int)],
				requestBody: {
					required: true,
					content: { 'application/json': { schema: object({ note: str }, ['note']) } },
				},
				responses: {
					...ok({ type: 'object' }),
					...unauthorized,
					404: error('No such item'),
					409: error('Item already resolved or in flight'),
				},
			},
		},
		'/internal/stats/runs': {
			get: {
				...secured,
				summary: 'Run counts by status',
				responses: { ...ok(object({ by_status: { type: 'object' } })), ...unauthorized },
			},
		},
		'/internal/runs': {
			get: {
				...secured,
				summary: 'Recent runs',
				parameters: [
					query('status', runStatus, 'only this status'),
					query('limit', int, '1-500, default 50'),
				],
				responses: {
					...ok(object({ runs: { type: 'array', items: { type: 'object' } } })),
					...unauthorized,
				},
			},
		},
		'/internal/runs/{runId}': {
			get: {
				...secured,
				summary: "One run's full history",
				parameters: [path('runId', { type: 'string', format: 'uuid' })],
				responses: {
					...ok(
						object({
							run: { type: 'object' },
							events: { type: 'array' },
							attempts: { type: 'array' },
							dlq: { type: 'array' },
						}),
					),
					...unauthorized,
					404: error('No such run'),
				},
			},
		},
		'/internal/kpi/compute-daily': {
			post: {
				...secured,
				summary:
					'Recompute one UTC day (default yesterday) and the 13 before it, and write its report files (kpi_<day>.md, .csv, .html)',
				requestBody: { content: { 'application/json': { schema: object({ date }) } } },
				responses: {
					...ok(
						object({
							row: { $ref: '#/components/schemas/KpiRow' },
							report_files: { type: 'array', items: str },
						}),
					),
					...unauthorized,
				},
			},
		},
		'/internal/kpi': {
			get: {
				...secured,
				summary: 'KPI rows for a date range (default: the last 7 days)',
				parameters: [query('from', date, 'first day'), query('to', date, 'last day')],
				responses: {
					...ok(
						object({
							from: date,
							to: date,
							rows: { type: 'array', items: { $ref: '#/components/schemas/KpiRow' } },
						}),
					),
					...unauthorized,
				},
			},
		},
		'/openapi.json': {
			get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
		},
	},
};
