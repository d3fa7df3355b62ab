import type { IDataObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import { LeadIntake } from '../../nodes/LeadIntake/LeadIntake.node';
import { OUTCOMES } from '../../nodes/LeadIntake/outcome';
import { PROCESSOR_TIMEOUT_MS } from '../../nodes/LeadIntake/processor';
import { contentKey, signV1, signV2 } from '../../nodes/LeadIntake/signature';
import { executeHarness, jsonOf, type HttpCall, type ParameterValue } from './harness';

const credentials = {
	baseUrl: 'http://processor.test/',
	hmacSecret: 'current-secret-0123456789',
	nextHmacSecret: '',
	serviceToken: 'token',
};
const lead = { email: 'jane.doe@example.com', address: { zip: '66123' } };
const triggerItem = {
	body: lead,
	source: 'website',
	idempotency_key: 'lead-1',
	correlation_id: 'corr-1',
	received_at: '2026-11-25T10:00:00.000Z',
};
const accepted = () => ({
	statusCode: 200,
	body: JSON.stringify({ status: 'accepted', run_id: 'run-1', run_status: 'processed' }),
});

async function submit(options: {
	version?: number;
	items: IDataObject[];
	parameters?: Record<string, ParameterValue>;
	respond?: (call: HttpCall) => { statusCode: number; body: unknown };
	credentials?: IDataObject;
	continueOnFail?: boolean;
}) {
	const harness = executeHarness({
		type: 'leadIntake',
		version: options.version ?? 2,
		parameters: { operation: 'submitLead', ...options.parameters },
		items: options.items,
		credentials: options.credentials ?? credentials,
		continueOnFail: options.continueOnFail,
		respond: options.respond ?? accepted,
	});
	const outputs = await new LeadIntake().execute.call(harness.context);
	return { ...harness, outputs };
}

const headersOf = (call: HttpCall) => call.options.headers as Record<string, string>;

describe('Submit (version 2)', () => {
	test("signs the trigger item's body with Standard Webhooks and sends the source from the item", async () => {
		const before = Math.floor(Date.now() / 1000);
		const { calls, outputs } = await submit({ items: [triggerItem] });
		expect(calls).toHaveLength(1);
		const [call] = calls;
		expect(call!.authenticated).toBe(false);
		expect(call!.options).toMatchObject({
			method: 'POST',
			url: 'http://processor.test/webhook/lead',
			body: JSON.stringify(lead),
			timeout: PROCESSOR_TIMEOUT_MS,
		});
		const headers = headersOf(call!);
		const timestamp = headers['webhook-timestamp']!;
		expect(Number(timestamp)).toBeGreaterThanOrEqual(before);
		expect(headers).toMatchObject({
			'content-type': 'application/json',
			'webhook-id': 'lead-1',
			'webhook-signature': signV2(
				[credentials.hmacSecret],
				'lead-1',
				timestamp,
				JSON.stringify(lead),
			),
			'x-source': 'website',
			'x-correlation-id': 'corr-1',
		});
		expect(headers).not.toHaveProperty('x-signature');
		expect(jsonOf(outputs)).toEqual([
			[
				{
					outcome: 'accepted',
					statusCode: 200,
					run_id: 'run-1',
					idempotency_key: 'lead-1',
					correlation_id: 'corr-1',
					source: 'website',
					response: { status: 'accepted', run_id: 'run-1', run_status: 'processed' },
					lead,
				},
			],
			[],
			[],
			[],
		]);
		expect(outputs[0]![0]!.pairedItem).toEqual({ item: 0 });
	});

	test('during a rotation it signs with both secrets', async () => {
		const { calls } = await submit({
			items: [triggerItem],
			credentials: { ...credentials, nextHmacSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
		});
		const headers = headersOf(calls[0]!);
		expect(headers['webhook-signature']).toBe(
			signV2(
				[credentials.hmacSecret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
				'lead-1',
				headers['webhook-timestamp']!,
				JSON.stringify(lead),
			),
		);
		expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
	});

	test('a Webhook node item: key from its header, never the source from a header; fallbacks', async () => {
		const { calls, outputs } = await submit({
			items: [
				{ headers: { 'idempotency-key': 'from-header', 'x-source': 'spoofed' }, body: lead },
				{ email: 'plain@example.com' },
			],
		});
		expect(headersOf(calls[0]!)).toMatchObject({
			'webhook-id': 'from-header',
			'x-source': 'n8n',
			'x-correlation-id': 'n8n-exec-1-0',
		});
		const second = headersOf(calls[1]!);
		expect(calls[1]!.options.body).toBe('{"email":"plain@example.com"}');
		expect(second['webhook-id']).toBe(contentKey('{"email":"plain@example.com"}'));
		expect(second['x-correlation-id']).toBe('n8n-exec-1-1');
		expect(outputs[0]!.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
	});

	test('options override the key, source and correlation id, and can sign legacy', async () => {
		const { calls } = await submit({
			items: [triggerItem],
			parameters: {
				options: {
					idempotencyKey: ' custom-key ',
					source: 'campaign',
					correlationId: 'corr-x',
					signatureScheme: 'legacy',
				},
			},
		});
		const headers = headersOf(calls[0]!);
		expect(headers).toMatchObject({
			'x-idempotency-key': 'custom-key',
			'x-source': 'campaign',
			'x-correlation-id': 'corr-x',
			'x-signature': signV1(credentials.hmacSecret, headers['x-timestamp']!, JSON.stringify(lead)),
		});
		expect(headers).not.toHaveProperty('webhook-signature');
	});

	test('a custom lead is sent byte for byte; invalid JSON is an error', async () => {
		const custom = '{ "email": "x@example.com",  "zip": "66111" }';
		const { calls, outputs } = await submit({
			items: [triggerItem],
			parameters: { leadInput: 'custom', customLead: custom },
		});
		expect(calls[0]!.options.body).toBe(custom);
		expect(outputs[0]![0]!.json.lead).toEqual({ email: 'x@example.com', zip: '66111' });

		const objectLead = await submit({
			items: [triggerItem],
			parameters: { leadInput: 'custom', customLead: { zip: '66000' } },
		});
		expect(objectLead.calls[0]!.options.body).toBe('{"zip":"66000"}');

		await expect(
			submit({ items: [triggerItem], parameters: { leadInput: 'custom', customLead: '{nope' } }),
		).rejects.toThrow(NodeOperationError);
		await expect(
			submit({ items: [triggerItem], parameters: { leadInput: 'custom', customLead: '{nope' } }),
		).rejects.toThrow('Custom Lead is not valid JSON');
	});

	test('with Continue On Fail a broken item goes to Failed and the others go on', async () => {
		const { outputs, calls } = await submit({
			continueOnFail: true,
			items: [triggerItem, triggerItem],
			parameters: {
				leadInput: (index: number) => (index === 0 ? 'custom' : 'trigger'),
				customLead: '{nope',
			},
		});
		expect(calls).toHaveLength(1);
		expect(outputs[0]).toHaveLength(1);
		expect(outputs[0]![0]!.pairedItem).toEqual({ item: 1 });
		expect(outputs[3]).toEqual([
			{
				json: { outcome: 'failed', statusCode: 0, error: 'Custom Lead is not valid JSON' },
				pairedItem: { item: 0 },
			},
		]);
	});

	test('every answer lands on the output of its outcome, and hints say what to do', async () => {
		const answers = [
			{ statusCode: 200, body: JSON.stringify({ status: 'accepted', run_id: 'r0' }) },
			{ statusCode: 200, body: JSON.stringify({ status: 'duplicate', run_id: 'r1' }) },
			{
				statusCode: 200,
				body: JSON.stringify({ status: 'rejected', run_id: 'r2', reasons: ['ZIP'] }),
			},
			{ statusCode: 422, body: JSON.stringify({ code: 'idempotency_key_reused', detail: 'x' }) },
			{ statusCode: 500, body: JSON.stringify({ status: 'failed', run_id: 'r4', dlq_id: 7 }) },
			{ statusCode: 409, body: JSON.stringify({ code: 'request_in_progress' }) },
			{ statusCode: 502, body: '<html>bad gateway</html>' },
		];
		let next = 0;
		const items = answers.map((_, index) => ({ ...triggerItem, idempotency_key: `k${index}` }));
		const { outputs, context } = await submit({ items, respond: () => answers[next++]! });
		expect(outputs.map((output) => output.map((item) => item.pairedItem))).toEqual([
			[{ item: 0 }],
			[{ item: 1 }],
			[{ item: 2 }, { item: 3 }],
			[{ item: 4 }, { item: 5 }, { item: 6 }],
		]);
		expect(outputs[3]![2]!.json.response).toEqual({ detail: '<html>bad gateway</html>' });
		const hints = context.addExecutionHints.mock.calls.map(([hint]) => hint.message);
		expect(hints).toHaveLength(3);
		expect(hints[0]).toMatch(/^1 lead on <b>Duplicate<\/b>/);
		expect(hints[1]).toMatch(/^2 leads on <b>Rejected<\/b>/);
		expect(hints[2]).toMatch(/^3 leads on <b>Failed<\/b>.*DLQ/);
	});

	test('an unreachable processor is a Failed lead, not an error', async () => {
		const { outputs } = await submit({
			items: [triggerItem],
			respond: () => {
				throw new Error('connect ECONNREFUSED');
			},
		});
		expect(outputs[3]![0]!.json).toMatchObject({
			outcome: 'failed',
			statusCode: 0,
			run_id: null,
			response: { code: 'processor_unreachable' },
		});
	});
});

describe('Answer the Lead Source (version 2.1)', () => {
	test("answers the webhook's caller once, with the first lead's processor answer", async () => {
		const { context, outputs } = await submit({
			version: 2.1,
			items: [triggerItem, { ...triggerItem, idempotency_key: 'lead-2' }],
		});
		expect(jsonOf(outputs)[0]).toHaveLength(2);
		expect(context.sendResponse.mock.calls).toEqual([
			[
				{
					statusCode: 200,
					headers: {
						'content-type': 'application/json; charset=utf-8',
						'x-correlation-id': 'corr-1',
					},
					body: { status: 'accepted', run_id: 'run-1', run_status: 'processed' },
				},
			],
		]);
	});

	test("passes the processor's refusal on; an unreachable processor is a 502 that names no address", async () => {
		const refused = await submit({
			version: 2.1,
			items: [triggerItem],
			respond: () => ({ statusCode: 422, body: JSON.stringify({ status: 'rejected' }) }),
		});
		expect(refused.context.sendResponse.mock.calls[0]![0]).toMatchObject({
			statusCode: 422,
			body: { status: 'rejected' },
		});
		const unreachable = await submit({
			version: 2.1,
			items: [triggerItem],
			respond: () => {
				throw new Error('connect ECONNREFUSED 10.0.0.7:8000');
			},
		});
		const [answer] = unreachable.context.sendResponse.mock.calls[0]!;
		expect(answer).toMatchObject({
			statusCode: 502,
			body: { code: 'processor_unreachable', correlation_id: 'corr-1' },
		});
		expect(JSON.stringify(answer)).not.toContain('10.0.0.7');
	});

	test('a lead that could not be sent (Continue On Fail) is answered 502', async () => {
		const { context } = await submit({
			version: 2.1,
			items: [triggerItem],
			parameters: { leadInput: 'custom', customLead: '{not json' },
			continueOnFail: true,
		});
		expect(context.sendResponse.mock.calls[0]![0]).toMatchObject({
			statusCode: 502,
			body: { code: 'lead_not_submitted' },
		});
	});

	test('off, and in version 2, the node leaves the answer to a Respond to Webhook node', async () => {
		const off = await submit({
			version: 2.1,
			items: [triggerItem],
			parameters: { respondToSource: false },
		});
		const v2 = await submit({ version: 2, items: [triggerItem] });
		expect(off.context.sendResponse).not.toHaveBeenCalled();
		expect(v2.context.sendResponse).not.toHaveBeenCalled();
	});
});

describe('Submit (version 1, as it shipped)', () => {
	test('signs legacy and takes source and correlation id from the webhook headers', async () => {
		const { calls, outputs } = await submit({
			version: 1,
			items: [{ headers: { 'x-source': 'partner', 'x-correlation-id': 'c-9' }, body: lead }],
			parameters: { lead: '', idempotencyKey: 'k-1', source: '', correlationId: '' },
		});
		const headers = headersOf(calls[0]!);
		expect(headers).toMatchObject({
			'x-idempotency-key': 'k-1',
			'x-source': 'partner',
			'x-correlation-id': 'c-9',
			'x-signature': signV1(credentials.hmacSecret, headers['x-timestamp']!, JSON.stringify(lead)),
		});
		expect(outputs[0]![0]!.json).toMatchObject({ outcome: 'accepted', source: 'partner' });
	});

	test('a lead parameter given as text is sent as written; no key means a content key', async () => {
		const { calls } = await submit({
			version: 1,
			items: [{}],
			parameters: { lead: '{"zip":"66000"}', idempotencyKey: '' },
		});
		expect(calls[0]!.options.body).toBe('{"zip":"66000"}');
		expect(headersOf(calls[0]!)['x-idempotency-key']).toBe(contentKey('{"zip":"66000"}'));
		expect(headersOf(calls[0]!)['x-source']).toBe('n8n');
	});
});

describe('operator operations', () => {
	async function operate(
		operation: string,
		parameters: Record<string, ParameterValue>,
		respond: (call: HttpCall) => { statusCode: number; body: unknown },
		continueOnFail = false,
	) {
		const harness = executeHarness({
			type: 'leadIntake',
			version: 2,
			parameters: { operation, ...parameters },
			items: [{}],
			credentials,
			continueOnFail,
			respond,
		});
		const outputs = await new LeadIntake().execute.call(harness.context);
		return { ...harness, outputs };
	}
	const ok = (body: unknown) => () => ({ statusCode: 200, body: JSON.stringify(body) });

	test('Get a run by ID or by idempotency key (URL-encoded), with the service token', async () => {
		const byId = await operate(
			'getRun',
			{ lookUpBy: 'runId', runId: ' r-1 ' },
			ok({ run: { run_id: 'r-1' } }),
		);
		expect(byId.calls[0]).toMatchObject({
			authenticated: true,
			options: { method: 'GET', url: 'http://processor.test/internal/runs/r-1' },
		});
		expect(jsonOf(byId.outputs)).toEqual([[{ run: { run_id: 'r-1' } }]]);
		expect(byId.outputs[0]![0]!.pairedItem).toEqual({ item: 0 });

		const byKey = await operate(
			'getRun',
			{ lookUpBy: 'idempotencyKey', key: 'a/b c' },
			ok({ run: {} }),
		);
		expect(byKey.calls[0]!.options.url).toBe(
			'http://processor.test/internal/runs/by-key/a%2Fb%20c',
		);
	});

	test('a missing run is an API error that says so; an old processor is told apart', async () => {
		const notFound = operate('getRun', { lookUpBy: 'runId', runId: 'r-404' }, () => ({
			statusCode: 404,
			body: JSON.stringify({ code: 'run_not_found', detail: 'No run r-404' }),
		}));
		await expect(notFound).rejects.toThrow(NodeApiError);
		await expect(notFound).rejects.toThrow('No run r-404');
		await expect(
			operate('getRun', { lookUpBy: 'idempotencyKey', key: 'k' }, () => ({
				statusCode: 404,
				body: 'Not Found',
			})),
		).rejects.toThrow(/does not offer \/internal\/runs\/by-key\/k \(404\)/);
		await expect(
			operate('getRun', { lookUpBy: 'runId', runId: 'r' }, () => ({ statusCode: 401, body: '{}' })),
		).rejects.toThrow(/refused the service token/);
		await expect(operate('getRun', { lookUpBy: 'runId', runId: '  ' }, ok({}))).rejects.toThrow(
			'The parameter "runId" is empty',
		);
	});

	test('with Continue On Fail an operator error becomes an item', async () => {
		const { outputs } = await operate(
			'retryDlqItem',
			{ dlqId: 5 },
			() => ({ statusCode: 409, body: JSON.stringify({ detail: 'DLQ item 5 is resolved' }) }),
			true,
		);
		expect(outputs).toEqual([
			[{ json: { error: 'DLQ item 5 is resolved' }, pairedItem: { item: 0 } }],
		]);
	});

	test('Get Many DLQ items: one item each, filters as query, all pages with Return All', async () => {
		const limited = await operate(
			'listDlq',
			{ returnAll: false, limit: 2, filters: { status: 'dead', reason: ' crm_http_400 ' } },
			ok({ items: [{ id: 1 }, { id: 2 }], total: 9 }),
		);
		expect(limited.calls[0]!.options).toMatchObject({
			method: 'GET',
			url: 'http://processor.test/internal/dlq',
			qs: { status: 'dead', reason: 'crm_http_400', limit: 2, offset: 0 },
		});
		expect(jsonOf(limited.outputs)).toEqual([[{ id: 1 }, { id: 2 }]]);

		const pages = [Array.from({ length: 500 }, (_, index) => ({ id: index + 1 })), [{ id: 501 }]];
		let page = 0;
		const all = await operate('listDlq', { returnAll: true, filters: {} }, () => ({
			statusCode: 200,
			body: JSON.stringify({ items: pages[page++], total: 501 }),
		}));
		expect(all.calls.map((call) => call.options.qs)).toEqual([
			{ limit: 500, offset: 0 },
			{ limit: 500, offset: 500 },
		]);
		expect(all.outputs[0]).toHaveLength(501);
	});

	test('Retry and Resolve one DLQ item', async () => {
		const retried = await operate(
			'retryDlqItem',
			{ dlqId: 7 },
			ok({ dlq_id: 7, outcome: 'resolved' }),
		);
		expect(retried.calls[0]!.options).toMatchObject({
			method: 'POST',
			url: 'http://processor.test/internal/dlq/7/retry',
		});
		expect(jsonOf(retried.outputs)).toEqual([[{ dlq_id: 7, outcome: 'resolved' }]]);

		const resolved = await operate(
			'resolveDlqItem',
			{ dlqId: 7, note: ' typed in by hand ' },
			ok({ id: 7 }),
		);
		expect(resolved.calls[0]!.options).toMatchObject({
			method: 'POST',
			url: 'http://processor.test/internal/dlq/7/resolve',
			body: JSON.stringify({ note: 'typed in by hand' }),
		});
		await expect(operate('resolveDlqItem', { dlqId: 7, note: '' }, ok({}))).rejects.toThrow(
			'The parameter "note" is empty',
		);
		await expect(operate('retryDlqItem', { dlqId: 0 }, ok({}))).rejects.toThrow(/whole number/);
	});

	test('Replay: a dry run by default, filters in the body, dead items on the second output', async () => {
		const dry = await operate('replayDlq', {}, ok({ dry_run: true, matched: 12 }));
		expect(JSON.parse(dry.calls[0]!.options.body as string)).toEqual({ dry_run: true, limit: 100 });
		expect(jsonOf(dry.outputs)).toEqual([[{ dry_run: true, matched: 12 }], []]);

		const real = await operate(
			'replayDlq',
			{
				dryRun: false,
				replayLimit: 500,
				replayFilters: {
					status: ['dead'],
					reason: 'crm_http_503',
					source: 'website',
					from: '2026-11-01T00:00:00Z',
					to: '2026-11-02T00:00:00Z',
				},
			},
			ok({
				dry_run: false,
				matched: 2,
				items: [
					{ dlq_id: 1, run_id: 'r1', outcome: 'resolved' },
					{ dlq_id: 2, run_id: 'r2', outcome: 'dead', status_code: 400 },
				],
			}),
		);
		expect(JSON.parse(real.calls[0]!.options.body as string)).toEqual({
			dry_run: false,
			limit: 500,
			status: ['dead'],
			reason: 'crm_http_503',
			source: 'website',
			from: '2026-11-01T00:00:00.000Z',
			to: '2026-11-02T00:00:00.000Z',
		});
		expect(jsonOf(real.outputs)[1]).toEqual([
			{
				outcome: 'dead',
				statusCode: 400,
				run_id: 'r2',
				response: { dlq_id: 2, run_id: 'r2', outcome: 'dead', status_code: 400 },
			},
		]);
		await expect(
			operate('replayDlq', { replayFilters: { from: 'yesterday-ish' } }, ok({})),
		).rejects.toThrow('The filter "from" is not a date and time');
	});

	test('Retry Due: the summary and one item per item that died', async () => {
		const { calls, outputs } = await operate(
			'retryDue',
			{ batchSize: 50 },
			ok({ claimed: 2, dead: 1, dead_items: [{ dlq_id: 3, run_id: 'r3', status_code: 503 }] }),
		);
		expect(calls[0]!.options).toMatchObject({
			url: 'http://processor.test/internal/dlq/retry-due',
			body: JSON.stringify({ limit: 50 }),
		});
		expect(jsonOf(outputs)).toEqual([
			[{ claimed: 2, dead: 1, dead_items: [{ dlq_id: 3, run_id: 'r3', status_code: 503 }] }],
			[
				{
					outcome: 'dead',
					statusCode: 503,
					run_id: 'r3',
					response: { dlq_id: 3, run_id: 'r3', status_code: 503 },
				},
			],
		]);
		expect(outputs[1]![0]!.pairedItem).toEqual({ item: 0 });
	});

	test('Compute Daily KPI: a given day, or yesterday', async () => {
		const day = await operate('computeKpi', { date: '2026-11-23' }, ok({ day: '2026-11-23' }));
		expect(day.calls[0]!.options).toMatchObject({
			url: 'http://processor.test/internal/kpi/compute-daily',
			body: '{"date":"2026-11-23"}',
		});
		const yesterday = await operate('computeKpi', { date: '' }, ok({}));
		expect(yesterday.calls[0]!.options.body).toBe('{}');
	});

	test('an unreachable processor is an API error', async () => {
		await expect(
			operate('computeKpi', {}, () => {
				throw new Error('connect ECONNREFUSED');
			}),
		).rejects.toThrow(NodeApiError);
	});
});

test('the outputs are the outcomes, in order', () => {
	expect(OUTCOMES.map((outcome) => outcome.displayName)).toEqual([
		'Accepted',
		'Duplicate',
		'Rejected',
		'Failed',
	]);
});
