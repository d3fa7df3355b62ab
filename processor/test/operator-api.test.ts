import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { z } from 'zod';
import * as answers from '../src/api/answers.js';
import { DEFAULT_DUPLICATE_SETTINGS } from '../src/intake/ruleset.js';
import { defaultMappingFile, defaultRulesFile } from '../src/paths.js';
import {
	postLead,
	startStack,
	TEST_SERVICE_TOKEN,
	validLead,
	type Stack,
} from './support/harness.js';

/** The operator API behind SERVICE_TOKEN, the OpenAPI document and /metrics. */
let stack: Stack;

beforeAll(async () => {
	// wrong tokens are sent on purpose below; their throttle is limits.test.ts's
	stack = await startStack({ env: { REFUSED_TOKENS_PER_MINUTE: '1000' } });
});
afterAll(() => stack.close());

/** A valid rules document: the shipped files, as version 1 is seeded from them. */
const document = {
	rules: JSON.parse(readFileSync(defaultRulesFile, 'utf8')) as unknown,
	mapping: JSON.parse(readFileSync(defaultMappingFile, 'utf8')) as unknown,
	duplicates: DEFAULT_DUPLICATE_SETTINGS,
};

// every row has three entries: jest reads a shorter row as a callback-style test
const OPERATOR_ENDPOINTS: [string, string, unknown][] = [
	['POST', '/internal/dlq/retry-due', {}],
	['GET', '/internal/dlq', undefined],
	['POST', '/internal/dlq/1/retry', undefined],
	['POST', '/internal/dlq/1/resolve', { note: 'x' }],
	['GET', '/internal/stats/runs', undefined],
	['GET', '/internal/runs', undefined],
	['GET', '/internal/runs/00000000-0000-4000-8000-000000000000', undefined],
	['POST', '/internal/kpi/compute-daily', {}],
	['POST', '/internal/alerts', { alert_id: 'x', severity: 'info', summary: 'x' }],
	['GET', '/internal/kpi', undefined],
	['POST', '/internal/dlq/replay', { dry_run: true }],
	['GET', '/internal/stats/ledger', undefined],
	['GET', '/internal/runs/by-key/some-key', undefined],
	['GET', '/internal/rules', undefined],
	['PUT', '/internal/rules', { document }],
	['POST', '/internal/rules/dry-run', { document }],
	['GET', '/internal/rules/versions', undefined],
	['GET', '/internal/rules/versions/1', undefined],
	['POST', '/internal/rules/versions/1/restore', {}],
];

test.each(OPERATOR_ENDPOINTS)(
	'%s %s rejects a missing or wrong service token',
	async (method, path, body) => {
		for (const token of [null, 'wrong-token', `${TEST_SERVICE_TOKEN}x`]) {
			const answer = await stack.internal(method, path, body, token);
			expect(answer.status).toBe(401);
			expect(answer.body.code).toBe('unauthorized');
		}
	},
);

test('every operator endpoint is in the OpenAPI document', async () => {
	const response = await fetch(`${stack.url}/openapi.json`);
	const document = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
	for (const [method, path] of OPERATOR_ENDPOINTS) {
		const templated = path
			.replace(/\/dlq\/1\//, '/dlq/{id}/')
			.replace(/\/runs\/[0-9a-f-]{36}$/, '/runs/{runId}')
			.replace(/\/by-key\/.+$/, '/by-key/{key}')
			.replace(/\/versions\/1(\/|$)/, '/versions/{version}$1');
		expect(document.paths[templated]?.[method.toLowerCase()]).toBeDefined();
	}
	expect(document.paths['/webhook/lead']?.post).toBeDefined();
});

test('an operator lists the DLQ by status with paging, retries one item now and resolves another by hand', async () => {
	// other tests of this file may leave open items: this one counts its own two on top
	const openBefore = (await stack.internal('GET', '/internal/dlq?status=open&limit=1')).body
		.total as number;
	await stack.crm.fail(2, 503);
	const first = await postLead(stack.url, validLead(), { key: 'op-1' });
	const second = await postLead(stack.url, validLead(), { key: 'op-2' });
	const [firstId, secondId] = [first.body.dlq_id as number, second.body.dlq_id as number];

	const page = await stack.internal('GET', '/internal/dlq?status=open&limit=1');
	expect(page.body).toMatchObject({ total: openBefore + 2, limit: 1, offset: 0 });
	expect((page.body.items as unknown[]).length).toBe(1);
	const rest = await stack.internal('GET', '/internal/dlq?status=open&limit=1&offset=1');
	expect((rest.body.items as { dlq_id: string }[])[0]!.dlq_id).not.toBe(
		(page.body.items as { dlq_id: string }[])[0]!.dlq_id,
	);
	expect((await stack.internal('GET', '/internal/dlq?status=bogus')).status).toBe(400);

	const retried = await stack.internal('POST', `/internal/dlq/${firstId}/retry`);
	expect(retried.body).toMatchObject({ dlq_id: firstId, outcome: 'resolved' });
	expect((await stack.internal('POST', `/internal/dlq/${firstId}/retry`)).status).toBe(409);
	expect((await stack.internal('POST', '/internal/dlq/999999/retry')).status).toBe(404);

	expect((await stack.internal('POST', `/internal/dlq/${secondId}/resolve`, {})).status).toBe(400);
	// a note may name anybody: no erasure of that person would reach it, so an address is masked
	const resolved = await stack.internal('POST', `/internal/dlq/${secondId}/resolve`, {
		note: 'entered in the CRM by hand, asked jane.doe@example.com',
	});
	expect(resolved.body).toMatchObject({
		status: 'resolved',
		resolution_note: 'entered in the CRM by hand, asked j***@example.com',
	});
	const [event] =
		await stack.sql`SELECT actor, payload FROM audit_events WHERE run_id = ${second.body.run_id as string} AND event_type = 'dlq_resolved'`;
	expect(event).toMatchObject({
		actor: 'operator',
		payload: { note: 'entered in the CRM by hand, asked j***@example.com' },
	});
	const [run] =
		await stack.sql`SELECT sealed_lead FROM runs WHERE run_id = ${second.body.run_id as string}`;
	expect(run!.sealed_lead).toBeNull();
});

test("run counts, recent runs and one run's full history", async () => {
	const accepted = await postLead(stack.url, validLead(), { key: 'history-1' });
	const runId = accepted.body.run_id as string;

	const stats = await stack.internal('GET', '/internal/stats/runs');
	const counts = await stack.sql`SELECT status, count(*)::int AS n FROM runs GROUP BY status`;
	for (const { status, n } of counts)
		expect((stats.body.by_status as Record<string, number>)[status]).toBe(n);

	const recent = await stack.internal('GET', '/internal/runs?limit=1');
	expect((recent.body.runs as { run_id: string }[]).map((run) => run.run_id)).toEqual([runId]);

	const history = await stack.internal('GET', `/internal/runs/${runId}`);
	expect(history.body.run).toMatchObject({ run_id: runId, status: 'processed' });
	expect(
		(history.body.events as { event_type: string }[]).map((event) => event.event_type),
	).toEqual(['lead_received', 'crm_upserted']);
	expect(history.body.attempts).toEqual([
		expect.objectContaining({ attempt_no: 1, success: true }),
	]);
	expect(history.body.dlq).toEqual([]);
	expect(JSON.stringify(history.body)).not.toContain('sealed_lead');
	expect(
		(await stack.internal('GET', '/internal/runs/00000000-0000-4000-8000-000000000000')).status,
	).toBe(404);
	expect((await stack.internal('GET', '/internal/runs/not-a-uuid')).status).toBe(400);
});

test('/metrics exposes requests by route and status, leads by outcome, DLQ depth and delivery latency', async () => {
	await postLead(stack.url, validLead(), { key: 'metrics-1' });
	const text = await (await fetch(`${stack.url}/metrics`)).text();
	expect(text).toMatch(
		/lih_http_requests_total\{method="POST",route="\/webhook\/lead",status="200"\} \d+/,
	);
	expect(text).toMatch(/lih_leads_total\{outcome="accepted"\} \d+/);
	expect(text).toMatch(/lih_dlq_items\{status="open"\} \d+/);
	expect(text).toMatch(/lih_crm_delivery_seconds_count\{result="ok"\} \d+/);
});

test('the answers are what the OpenAPI document says they are', async () => {
	await stack.crm.fail(1, 503);
	const failed = await postLead(stack.url, validLead(), { key: 'shape-failed' });
	const accepted = await postLead(stack.url, validLead(), { key: 'shape-ok' });
	const duplicate = await postLead(stack.url, validLead(), { key: 'shape-ok' });
	const rejected = await postLead(stack.url, validLead({ address: { zip: '10115' } }));
	expect(answers.IntakeFailure.safeParse(failed.body).success).toBe(true);
	for (const intake of [accepted, duplicate, rejected]) {
		expect(answers.IntakeAnswer.safeParse(intake.body).error).toBeUndefined();
	}
	const runId = accepted.body.run_id as string;
	const dlqId = failed.body.dlq_id as number;
	const shapes: [string, string, unknown, z.ZodType][] = [
		['GET', `/internal/runs/${runId}`, undefined, answers.RunHistory],
		['GET', '/internal/runs/by-key/shape-ok', undefined, answers.RunHistory],
		['GET', '/internal/runs', undefined, z.object({ runs: z.array(answers.Run) })],
		['GET', '/internal/dlq', undefined, answers.DlqPage],
		['GET', '/internal/stats/runs', undefined, answers.RunCounts],
		['GET', '/internal/stats/ledger', undefined, answers.Ledger],
		['POST', '/internal/dlq/replay', { status: ['open'], dry_run: true }, answers.ReplayAnswer],
		['POST', `/internal/dlq/${dlqId}/retry`, undefined, answers.RetryOutcome],
		['POST', '/internal/dlq/retry-due', {}, answers.RetryDueAnswer],
		['POST', '/internal/dlq/replay', { status: ['open', 'dead'] }, answers.ReplayAnswer],
		['GET', '/internal/runs/00000000-0000-4000-8000-000000000000', undefined, answers.ErrorAnswer],
		['GET', '/internal/dlq?limit=0', undefined, answers.ErrorAnswer],
	];
	for (const [method, path, body, schema] of shapes) {
		const answer = await stack.internal(method, path, body);
		expect({ path, issues: schema.safeParse(answer.body).error?.issues }).toEqual({
			path,
			issues: undefined,
		});
	}
});

describe('strict: whatever an endpoint does not take is refused with 400 naming it, never ignored', () => {
	const BODY_ENDPOINTS: [string, string, unknown][] = [
		['POST', '/internal/dlq/retry-due', { limit: 1 }],
		['POST', '/internal/dlq/replay', { dry_run: true }],
		['POST', '/internal/dlq/1/resolve', { note: 'x' }],
		['POST', '/internal/kpi/compute-daily', { date: '2026-01-01' }],
		['POST', '/internal/alerts', { alert_id: 'strict', severity: 'info', summary: 'x' }],
		['PUT', '/internal/rules', { document }],
		['POST', '/internal/rules/dry-run', { document }],
		['POST', '/internal/rules/versions/1/restore', { note: 'x' }],
	];

	test.each(OPERATOR_ENDPOINTS)('%s %s: an unknown query parameter', async (method, path, body) => {
		const answer = await stack.internal(
			method,
			`${path}${path.includes('?') ? '&' : '?'}bogus=1`,
			body,
		);
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({
			code: 'invalid_request',
			detail: expect.stringContaining('"bogus"'),
			issues: [expect.objectContaining({ path: 'bogus' })],
		});
	});

	test.each(BODY_ENDPOINTS)('%s %s: an unknown body field', async (method, path, body) => {
		const answer = await stack.internal(method, path, { ...(body as object), bogus: true });
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({
			code: 'invalid_request',
			detail: 'Unknown body field "bogus": nothing was done',
			issues: [expect.objectContaining({ path: 'bogus' })],
		});
	});

	test.each(OPERATOR_ENDPOINTS.filter(([, path]) => !BODY_ENDPOINTS.some(([, p]) => p === path)))(
		'%s %s: a body field where it takes no body',
		async (method, path) => {
			const answer = await withBody(method, path, '{"force":true}');
			expect(answer.status).toBe(400);
			expect(answer.body).toMatchObject({
				code: 'invalid_request',
				issues: [
					{ path: 'force', message: 'unknown body field; this endpoint takes no body fields' },
				],
			});
		},
	);

	test('compute-daily {"day": ...} names the field it does not know and the one it does', async () => {
		const answer = await stack.internal('POST', '/internal/kpi/compute-daily', {
			day: '2026-12-04',
		});
		expect(answer.status).toBe(400);
		expect(answer.body.issues).toEqual([
			{ path: 'day', message: 'unknown body field; the body fields are date' },
		]);
		expect(
			await stack.sql`SELECT 1 FROM audit_events WHERE event_type = 'kpi_computed'`,
		).toHaveLength(0);
	});

	test('POST /internal/dlq/replay?dry_run=true replays nothing: the query parameter is refused', async () => {
		await stack.crm.fail(1, 400);
		const dead = await postLead(stack.url, validLead(), { key: 'replay-query' });
		expect(dead.body).toMatchObject({ dlq_status: 'dead' });
		const calls = await stack.crm.calls();
		const answer = await stack.internal('POST', '/internal/dlq/replay?dry_run=true', {});
		expect(answer.status).toBe(400);
		expect(answer.body.detail).toBe('Unknown query parameter "dry_run": nothing was done');
		expect(await stack.crm.calls()).toBe(calls);
		const [item] =
			await stack.sql`SELECT status FROM dlq WHERE dlq_id = ${dead.body.dlq_id as number}`;
		expect(item).toEqual({ status: 'dead' });
	});

	test('a body that is not JSON is refused with 415 before it is read, never run as an empty body', async () => {
		const calls = await stack.crm.calls();
		for (const type of ['text/plain', 'application/x-www-form-urlencoded', null]) {
			const response = await fetch(`${stack.url}/internal/dlq/replay`, {
				method: 'POST',
				headers: {
					authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
					...(type ? { 'content-type': type } : {}),
				},
				body: '{"dry_run":true}',
			});
			expect(response.status).toBe(415);
			expect(await response.json()).toMatchObject({ code: 'unsupported_content_type' });
		}
		expect(await stack.crm.calls()).toBe(calls);
	});

	test.each([
		['POST', '/internal/kpi/compute-daily', { date: '0001-01-01' }],
		['POST', '/internal/kpi/compute-daily', { date: '9999-12-31' }],
		['POST', '/internal/kpi/compute-daily', { date: '1999-12-31' }],
		['GET', '/internal/kpi?from=0001-01-01', undefined],
		['GET', '/internal/kpi?to=9999-12-31', undefined],
		['GET', '/internal/stats/ledger?from=0001-01-01T00:00:00Z', undefined],
		['GET', '/internal/stats/ledger?to=2100-01-01', undefined],
		['POST', '/internal/dlq/replay', { from: '9999-12-31', dry_run: true }],
	])('%s %s %j: a day or instant out of range -> 400, not 500', async (method, path, body) => {
		const answer = await stack.internal(method, path, body);
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({
			code: 'invalid_request',
			issues: [expect.objectContaining({ message: 'must be from 2000-01-01 to 2099-12-31' })],
		});
	});

	test('the first and last days of the range are fine', async () => {
		for (const date of ['2000-01-01', '2099-12-31']) {
			expect((await stack.internal('POST', '/internal/kpi/compute-daily', { date })).status).toBe(
				200,
			);
		}
	});

	test('a ledger reads at most 31 days of runs: a longer range is refused before any is read', async () => {
		const ledger = (from: string, to: string) =>
			stack.internal('GET', `/internal/stats/ledger?from=${from}&to=${to}`);
		const years = await ledger('2000-01-01T00:00:00Z', '2099-12-31T00:00:00Z');
		expect(years.status).toBe(400);
		expect(years.body).toMatchObject({ code: 'invalid_range' });
		expect(String(years.body.detail)).toContain('31 days');
		expect((await ledger('2026-01-01T00:00:00Z', '2026-02-01T00:00:01Z')).status).toBe(400);
		expect((await ledger('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')).status).toBe(200);
	});

	test('the requests the Lead Intake node sends (nodes/LeadIntake/operator.ts, every parameter set) are all accepted', async () => {
		const node = async (method: string, path: string, body?: string) => {
			const response = await fetch(`${stack.url}${path}`, {
				method,
				// as the node's processorCall sends them: always this content type, the body as text
				headers: {
					authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
					'content-type': 'application/json',
				},
				body,
			});
			return { status: response.status, body: (await response.json()) as Record<string, unknown> };
		};
		await stack.crm.fail(1, 503);
		const failed = await postLead(stack.url, validLead(), { key: 'node-ops' });
		const dlqId = failed.body.dlq_id as number;
		const from = new Date('2026-01-01T00:00:00Z').toISOString();
		const to = new Date(stack.clock.now.getTime() + 60_000).toISOString();
		const sent: [string, string, string | undefined][] = [
			['GET', `/internal/runs/${failed.body.run_id as string}`, undefined],
			['GET', `/internal/runs/by-key/${encodeURIComponent('node-ops')}`, undefined],
			['GET', '/internal/dlq?status=open&reason=crm_http_503&limit=500&offset=0', undefined],
			[
				'POST',
				'/internal/dlq/replay',
				JSON.stringify({
					dry_run: true,
					limit: 100,
					status: ['open', 'dead'],
					reason: 'crm_http_503',
					source: 'unknown',
					from,
					to,
				}),
			],
			['POST', '/internal/dlq/retry-due', JSON.stringify({ limit: 500 })],
			['POST', '/internal/kpi/compute-daily', JSON.stringify({ date: '2026-01-01' })],
			['POST', '/internal/kpi/compute-daily', JSON.stringify({})],
			['POST', `/internal/dlq/${dlqId}/retry`, undefined],
			['POST', `/internal/dlq/${dlqId}/resolve`, JSON.stringify({ note: 'done by hand' })],
		];
		for (const [method, path, body] of sent) {
			const answer = await node(method, path, body);
			expect({ path, status: answer.status < 400 || answer.status === 409 }).toEqual({
				path,
				status: true,
			});
		}
	});
});

test('the OpenAPI document says every body refuses other fields and every operation other query parameters', async () => {
	const document = (await (await fetch(`${stack.url}/openapi.json`)).json()) as {
		paths: Record<
			string,
			Record<
				string,
				{
					description?: string;
					requestBody?: { content: Record<string, { schema: { additionalProperties?: unknown } }> };
				}
			>
		>;
	};
	for (const [path, operations] of Object.entries(document.paths)) {
		if (!path.startsWith('/internal')) continue;
		for (const operation of Object.values(operations)) {
			expect(operation.description).toMatch(/unknown query parameters? .*refused/i);
			const schema = operation.requestBody?.content['application/json']?.schema;
			if (schema)
				expect({ path, additionalProperties: schema.additionalProperties }).toEqual({
					path,
					additionalProperties: false,
				});
		}
	}
});

/** fetch sends no body with a GET: node's own client does. */
function withBody(
	method: string,
	path: string,
	body: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
	return new Promise((resolve, reject) => {
		const req = request(
			`${stack.url}${path}`,
			{
				method,
				headers: {
					authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
					'content-type': 'application/json',
					'content-length': String(Buffer.byteLength(body)),
				},
			},
			(res) => {
				let text = '';
				res.on('data', (chunk: Buffer) => (text += chunk.toString()));
				res.on('end', () =>
					resolve({
						status: res.statusCode ?? 0,
						body: JSON.parse(text) as Record<string, unknown>,
					}),
				);
			},
		);
		req.on('error', reject);
		req.end(body);
	});
}

test("a query the database's statement timeout cancels answers 503 database_unavailable, not 500", async () => {
	const slow = await startStack({
		env: { DB_QUERY_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '1000' },
	});
	try {
		// the KPI table held by another transaction: the operator's read waits until Postgres cancels it
		const answer = await slow.sql.begin(async (tx) => {
			await tx`LOCK TABLE kpi_daily IN ACCESS EXCLUSIVE MODE`;
			return slow.internal('GET', '/internal/kpi');
		});
		expect(answer.status).toBe(503);
		expect(answer.body).toMatchObject({ code: 'database_unavailable' });
	} finally {
		await slow.close();
	}
});
