import { createServer } from 'http';
import type { AddressInfo } from 'net';
import type { IDataObject } from 'n8n-workflow';
import { PROCESSOR_TIMEOUT_MS } from '../../nodes/LeadIntake/processor';
import { contentKey, signV1, signV2 } from '../../nodes/LeadIntake/signature';
import { runNode, type NodeSpec, type RunOptions } from './support/engine';
import { runPastTimeout } from './support/held-request';
import { startHttpStub, type HttpStub, type ReceivedRequest } from './support/http-stub';

/*
 * Lead Intake's Submit, run by n8n's engine in small workflows (Test Items -> Lead Intake) against
 * a stub processor that records each request as it arrived.
 */

let processor: HttpStub;
beforeAll(async () => {
	processor = await startHttpStub();
});
afterAll(async () => {
	await processor.close();
});
beforeEach(() => {
	processor.reset();
	processor.answer(() => ({
		status: 200,
		body: { status: 'accepted', run_id: 'run-1', run_status: 'processed' },
	}));
});

const hmacSecret = 'current-secret-0123456789';
const credentials = () => ({
	leadIntakeProcessorApi: {
		baseUrl: `${processor.url}/`,
		hmacSecret,
		nextHmacSecret: '',
		serviceToken: 'token',
	},
});
const lead = { email: 'jane.doe@example.com', address: { zip: '66123' } };
/** The item the Lead Source Trigger emits. */
const triggerItem = {
	body: lead,
	source: 'website',
	idempotency_key: 'lead-1',
	correlation_id: 'corr-1',
	received_at: '2026-11-25T10:00:00.000Z',
};

async function submit(
	node: Partial<NodeSpec> & { typeVersion?: number },
	options: RunOptions & { items: IDataObject[] },
) {
	return await runNode(
		{
			type: 'leadIntake',
			typeVersion: 2,
			...node,
			parameters: { resource: 'lead', operation: 'submitLead', ...node.parameters },
		},
		{ credentials: credentials(), ...options },
	);
}

/** host:port where nothing listens (a processor that is down). */
async function closedAddress(): Promise<string> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	await new Promise((resolve) => server.close(resolve));
	return `127.0.0.1:${port}`;
}

const headersOf = (request: ReceivedRequest) => request.headers as Record<string, string>;

describe('Submit (version 2)', () => {
	test("signs the trigger item's body with Standard Webhooks and sends the source from the item", async () => {
		const before = Math.floor(Date.now() / 1000);
		const run = await submit({}, { items: [triggerItem] });
		expect(run.error).toBeUndefined();
		expect(processor.requests).toHaveLength(1);
		const [request] = processor.requests;
		expect(request).toMatchObject({ method: 'POST', path: '/webhook/lead' });
		expect(request!.body).toBe(JSON.stringify(lead));
		const headers = headersOf(request!);
		const timestamp = headers['webhook-timestamp']!;
		expect(Number(timestamp)).toBeGreaterThanOrEqual(before);
		expect(headers).toMatchObject({
			'content-type': 'application/json',
			'webhook-id': 'lead-1',
			'webhook-signature': signV2(
				[hmacSecret],
				'lead-1',
				timestamp,
				JSON.stringify(lead),
				'delivered',
				'website',
			),
			'x-source': 'website',
			'x-correlation-id': 'corr-1',
		});
		expect(headers).not.toHaveProperty('x-signature');
		// the intake endpoint is authenticated by the signature alone: no service token
		expect(headers).not.toHaveProperty('authorization');
		expect(run.json('Node')).toEqual([
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
		expect(run.outputs('Node')[0]![0]!.pairedItem).toEqual({ item: 0 });
		expect(run.hints('Node')).toEqual([]);
	});

	test('during a rotation it signs with both secrets', async () => {
		const next = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
		await submit(
			{},
			{
				items: [triggerItem],
				credentials: {
					leadIntakeProcessorApi: { ...credentials().leadIntakeProcessorApi, nextHmacSecret: next },
				},
			},
		);
		const headers = headersOf(processor.requests[0]!);
		expect(headers['webhook-signature']).toBe(
			signV2(
				[hmacSecret, next],
				'lead-1',
				headers['webhook-timestamp']!,
				JSON.stringify(lead),
				'delivered',
				'website',
			),
		);
		expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
	});

	test('a Webhook node item: key from its header, never the source from a header; fallbacks', async () => {
		const run = await submit(
			{},
			{
				items: [
					{ headers: { 'idempotency-key': 'from-header', 'x-source': 'spoofed' }, body: lead },
					{ email: 'plain@example.com' },
				],
			},
		);
		const [first, second] = processor.requests;
		expect(headersOf(first!)).toMatchObject({
			'webhook-id': 'from-header',
			'x-source': 'n8n',
			'x-correlation-id': 'n8n-exec-1-0',
		});
		expect(second!.body).toBe('{"email":"plain@example.com"}');
		expect(headersOf(second!)['webhook-id']).toBe(contentKey('{"email":"plain@example.com"}'));
		expect(headersOf(second!)['x-correlation-id']).toBe('n8n-exec-1-1');
		expect(run.outputs('Node')[0]!.map((item) => item.pairedItem)).toEqual([
			{ item: 0 },
			{ item: 1 },
		]);
	});

	test('options override the key, source and correlation id, and can sign legacy', async () => {
		await submit(
			{
				parameters: {
					options: {
						idempotencyKey: ' custom-key ',
						source: 'campaign',
						correlationId: 'corr-x',
						signatureScheme: 'legacy',
					},
				},
			},
			{ items: [triggerItem] },
		);
		const headers = headersOf(processor.requests[0]!);
		expect(headers).toMatchObject({
			'x-idempotency-key': 'custom-key',
			'x-source': 'campaign',
			'x-correlation-id': 'corr-x',
			'x-signature': signV1(
				hmacSecret,
				headers['x-timestamp']!,
				JSON.stringify(lead),
				'delivered',
				'campaign',
			),
		});
		expect(headers).not.toHaveProperty('webhook-signature');
	});

	test('options resolve expressions per item', async () => {
		await submit(
			{ parameters: { options: { source: '={{ $json.channel }}-leads' } } },
			{ items: [{ ...triggerItem, channel: 'radio' }] },
		);
		expect(headersOf(processor.requests[0]!)['x-source']).toBe('radio-leads');
	});

	test('a custom lead is sent byte for byte; invalid JSON is an error', async () => {
		const custom = '{ "email": "x@example.com",  "zip": "66111" }';
		const run = await submit(
			{ parameters: { leadInput: 'custom', customLead: custom } },
			{ items: [triggerItem] },
		);
		expect(processor.requests[0]!.body).toBe(custom);
		expect(run.json('Node')[0]![0]!.lead).toEqual({ email: 'x@example.com', zip: '66111' });

		processor.reset();
		await submit(
			{ parameters: { leadInput: 'custom', customLead: '={{ $json.body }}' } },
			{ items: [{ body: { zip: '66000' } }] },
		);
		expect(processor.requests[0]!.body).toBe('{"zip":"66000"}');

		processor.reset();
		const broken = await submit(
			{ parameters: { leadInput: 'custom', customLead: '{nope' } },
			{ items: [triggerItem] },
		);
		expect(broken.error).toMatchObject({
			name: 'NodeOperationError',
			message: 'Custom Lead is not valid JSON',
		});
		expect(processor.requests).toHaveLength(0);
	});

	test('with Continue On Fail a broken item goes to Failed and the others go on', async () => {
		const run = await submit(
			{
				continueOnFail: true,
				parameters: {
					leadInput: '={{ $json.broken ? "custom" : "trigger" }}',
					customLead: '{nope',
				},
			},
			{ items: [{ ...triggerItem, broken: true }, triggerItem] },
		);
		expect(run.error).toBeUndefined();
		expect(processor.requests).toHaveLength(1);
		const [accepted, , , failed] = run.outputs('Node');
		expect(accepted!.map((item) => item.pairedItem)).toEqual([{ item: 1 }]);
		expect(failed).toEqual([
			{
				json: { outcome: 'failed', statusCode: 0, error: 'Custom Lead is not valid JSON' },
				pairedItem: { item: 0 },
			},
		]);
	});

	test('every answer lands on the output of its outcome, and hints say what to do', async () => {
		processor.answerInTurn(
			{ status: 200, body: { status: 'accepted', run_id: 'r0' } },
			{ status: 200, body: { status: 'duplicate', run_id: 'r1' } },
			{ status: 200, body: { status: 'rejected', run_id: 'r2', reasons: ['ZIP'] } },
			{ status: 422, body: { code: 'idempotency_key_reused', detail: 'x' } },
			{ status: 500, body: { status: 'failed', run_id: 'r4', dlq_id: 7 } },
			{ status: 409, body: { code: 'request_in_progress' } },
			{ status: 502, body: '<html>bad gateway</html>' },
		);
		const items = Array.from({ length: 7 }, (_, index) => ({
			...triggerItem,
			idempotency_key: `k${index}`,
		}));
		const run = await submit({}, { items });
		expect(run.outputs('Node').map((output) => output.map((item) => item.pairedItem))).toEqual([
			[{ item: 0 }],
			[{ item: 1 }],
			[{ item: 2 }, { item: 3 }],
			[{ item: 4 }, { item: 5 }, { item: 6 }],
		]);
		expect(run.json('Node')[3]![2]!.response).toEqual({ detail: '<html>bad gateway</html>' });
		const hints = run.hints('Node').map((hint) => hint.message);
		expect(hints).toHaveLength(3);
		expect(hints[0]).toMatch(/^1 lead on <b>Duplicate<\/b>/);
		expect(hints[1]).toMatch(/^2 leads on <b>Rejected<\/b>/);
		expect(hints[2]).toMatch(/^3 leads on <b>Failed<\/b>.*DLQ/);
	});

	test('a duplicate of the same person carries duplicate_of and match; a repeated key does not', async () => {
		processor.answerInTurn(
			{
				status: 200,
				body: { status: 'duplicate', run_id: 'r9', duplicate_of: 'r1', match: 'phone' },
			},
			{ status: 200, body: { status: 'duplicate', run_id: 'r1', existing_status: 'processed' } },
		);
		const items = ['k-person', 'k-repeat'].map((key) => ({ ...triggerItem, idempotency_key: key }));
		const run = await submit({}, { items });
		const [, duplicates] = run.json('Node');
		expect(duplicates).toHaveLength(2);
		expect(duplicates![0]).toMatchObject({
			outcome: 'duplicate',
			run_id: 'r9',
			duplicate_of: 'r1',
			match: 'phone',
		});
		expect(duplicates![1]).toMatchObject({ outcome: 'duplicate', run_id: 'r1' });
		expect(duplicates![1]).not.toHaveProperty('duplicate_of');
	});

	test('an unreachable processor is a Failed lead, not an error', async () => {
		processor.answer(() => ({ status: 0, hangUp: true }));
		const run = await submit({}, { items: [triggerItem] });
		expect(run.error).toBeUndefined();
		expect(run.json('Node')[3]![0]).toMatchObject({
			outcome: 'failed',
			statusCode: 0,
			run_id: null,
			response: { code: 'processor_unreachable' },
		});
	});
});

test(`a processor that does not answer within ${PROCESSOR_TIMEOUT_MS / 1000} s leaves the lead Failed`, async () => {
	const run = await runPastTimeout(PROCESSOR_TIMEOUT_MS, processor, () =>
		submit({}, { items: [triggerItem] }),
	);
	expect(run.json('Node')[3]![0]!.response).toEqual({
		code: 'processor_unreachable',
		detail: `The processor could not be reached: timeout of ${PROCESSOR_TIMEOUT_MS}ms exceeded`,
	});
});

describe('Answer the Lead Source (version 2.1)', () => {
	test("answers the webhook's caller once, with the first lead's processor answer", async () => {
		const run = await submit(
			{ typeVersion: 2.1 },
			{ items: [triggerItem, { ...triggerItem, idempotency_key: 'lead-2' }] },
		);
		expect(run.json('Node')[0]).toHaveLength(2);
		expect(run.responses).toEqual([
			{
				statusCode: 200,
				headers: {
					'content-type': 'application/json; charset=utf-8',
					'x-correlation-id': 'corr-1',
				},
				body: { status: 'accepted', run_id: 'run-1', run_status: 'processed' },
			},
		]);
	});

	test("the processor's rate limit reaches the source as a 429 with the processor's Retry-After", async () => {
		processor.answer(() => ({
			status: 429,
			body: {
				code: 'rate_limited',
				detail: 'More than 600 leads from one lead source per minute',
				limit: 'source',
			},
			headers: { 'retry-after': '17' },
		}));
		const limited = await submit({ typeVersion: 2.1 }, { items: [triggerItem] });
		expect(limited.responses[0]).toMatchObject({
			statusCode: 429,
			headers: { 'retry-after': '17' },
			body: { code: 'rate_limited' },
		});
		expect(limited.json('Node')[3]![0]!.statusCode).toBe(429);
	});

	test("passes the processor's refusal on; an unreachable processor is a 502 that names no address", async () => {
		processor.answer(() => ({ status: 422, body: { status: 'rejected' } }));
		const refused = await submit({ typeVersion: 2.1 }, { items: [triggerItem] });
		expect(refused.responses[0]).toMatchObject({ statusCode: 422, body: { status: 'rejected' } });

		// a refusal of n8n's hand-off (a rotated secret, a wrong URL, n8n's clock): the lead was not
		// stored and the source cannot fix it, so it hears 502, send it again; the operator sees why
		for (const [status, code, limit] of [
			[401, 'signature_invalid'],
			[404, 'not_found'],
			[409, 'timestamp_out_of_window'],
			[400, 'timestamp_invalid'],
			// n8n's signatures kept being refused: the source's pace is not the cause
			[429, 'rate_limited', 'refused-signature'],
		] as const) {
			processor.answer(() => ({ status, body: { code, detail: 'x', limit } }));
			const handOff = await submit({ typeVersion: 2.1 }, { items: [triggerItem] });
			expect([code, handOff.responses[0]]).toMatchObject([
				code,
				{ statusCode: 502, body: { code: 'lead_not_handed_on', correlation_id: 'corr-1' } },
			]);
			expect(handOff.json('Node')[3]![0]).toMatchObject({ statusCode: status, response: { code } });
		}

		const address = await closedAddress();
		const unreachable = await submit(
			{ typeVersion: 2.1 },
			{
				items: [triggerItem],
				credentials: {
					leadIntakeProcessorApi: {
						...credentials().leadIntakeProcessorApi,
						baseUrl: `http://${address}`,
					},
				},
			},
		);
		expect(unreachable.responses[0]).toMatchObject({
			statusCode: 502,
			body: { code: 'processor_unreachable', correlation_id: 'corr-1' },
		});
		expect(JSON.stringify(unreachable.responses)).not.toContain(address);
		// the operator sees why in the item
		expect(JSON.stringify(unreachable.json('Node')[3]![0]!.response)).toContain(address);
	});

	test("a success that is not the processor's (a proxy or a maintenance page at the base URL) is Failed, and the source hears 502, not that its lead was taken", async () => {
		for (const [status, body] of [
			[200, '<html>maintenance</html>'],
			[202, { status: 'queued-elsewhere' }],
			[200, { ok: true }],
		] as const) {
			processor.answer(() => ({ status, body }));
			const run = await submit({ typeVersion: 2.2 }, { items: [triggerItem] });
			expect([status, body, run.responses[0]]).toMatchObject([
				status,
				body,
				{ statusCode: 502, body: { code: 'lead_not_handed_on' } },
			]);
			expect(run.json('Node')[3]).toHaveLength(1);
		}
	});

	test("a key the processor refuses as the lead's Standard Webhooks id (too long, an erasure's) is the source's to fix: Rejected, and the source hears the 400", async () => {
		processor.answer(() => ({
			status: 400,
			body: { code: 'webhook_id_invalid', detail: 'webhook-id must be …' },
		}));
		const run = await submit({ typeVersion: 2.2 }, { items: [triggerItem] });
		expect(run.responses[0]).toMatchObject({
			statusCode: 400,
			body: { code: 'webhook_id_invalid' },
		});
		expect(run.json('Node')[2]).toEqual([
			expect.objectContaining({ outcome: 'rejected', statusCode: 400 }),
		]);
	});

	test('a lead that could not be sent (Continue On Fail) is answered 502', async () => {
		const run = await submit(
			{
				typeVersion: 2.1,
				continueOnFail: true,
				parameters: { leadInput: 'custom', customLead: '{not json' },
			},
			{ items: [triggerItem] },
		);
		expect(run.responses[0]).toMatchObject({
			statusCode: 502,
			body: { code: 'lead_not_submitted' },
		});
	});

	test('off, and in version 2, the node leaves the answer to a Respond to Webhook node', async () => {
		const off = await submit(
			{ typeVersion: 2.1, parameters: { respondToSource: false } },
			{ items: [triggerItem] },
		);
		const v2 = await submit({ typeVersion: 2 }, { items: [triggerItem] });
		expect(off.responses).toEqual([]);
		expect(v2.responses).toEqual([]);
		expect(processor.requests).toHaveLength(2);
	});
});

describe('Answer the Source (version 2.2)', () => {
	const queued = { status: 'accepted', run_status: 'queued', run_id: 41 };

	test('by default asks to be answered when the lead is stored, signed with the derived key; the 202 is Accepted and answers the source', async () => {
		processor.answer(() => ({ status: 202, body: queued }));
		const run = await submit({ typeVersion: 2.2 }, { items: [triggerItem] });
		expect(run.error).toBeUndefined();
		const headers = headersOf(processor.requests[0]!);
		const timestamp = headers['webhook-timestamp']!;
		const body = JSON.stringify(lead);
		expect(headers.prefer).toBe('respond-async');
		expect(headers['webhook-signature']).toBe(
			signV2([hmacSecret], 'lead-1', timestamp, body, 'stored', 'website'),
		);
		// not the secret's own signature: a processor that ignored the header would refuse it
		expect(headers['webhook-signature']).not.toBe(signV2([hmacSecret], 'lead-1', timestamp, body));
		expect(run.json('Node')).toEqual([
			[expect.objectContaining({ outcome: 'accepted', statusCode: 202, run_id: 41 })],
			[],
			[],
			[],
		]);
		expect(run.json('Node')[0]![0]!.response).toEqual(queued);
		expect(run.hints('Node')).toEqual([]);
		expect(run.responses).toEqual([
			{
				statusCode: 202,
				headers: {
					'content-type': 'application/json; charset=utf-8',
					'x-correlation-id': 'corr-1',
				},
				body: queued,
			},
		]);
	});

	test('legacy signing and a rotation use the derived key of every secret too', async () => {
		const next = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
		processor.answer(() => ({ status: 202, body: queued }));
		await submit(
			{ typeVersion: 2.2 },
			{
				items: [triggerItem],
				credentials: {
					leadIntakeProcessorApi: { ...credentials().leadIntakeProcessorApi, nextHmacSecret: next },
				},
			},
		);
		await submit(
			{ typeVersion: 2.2, parameters: { options: { signatureScheme: 'legacy' } } },
			{ items: [triggerItem] },
		);
		const [v2, legacy] = processor.requests.map(headersOf);
		const body = JSON.stringify(lead);
		expect(v2!['webhook-signature']).toBe(
			signV2([hmacSecret, next], 'lead-1', v2!['webhook-timestamp']!, body, 'stored', 'website'),
		);
		expect(legacy).toMatchObject({
			prefer: 'respond-async',
			'x-signature': signV1(hmacSecret, legacy!['x-timestamp']!, body, 'stored', 'website'),
		});
	});

	test("'When the CRM Has It' is today's request and answer; so are versions 2 and 2.1", async () => {
		const delivered = await submit(
			{ typeVersion: 2.2, parameters: { answerWhen: 'delivered' } },
			{ items: [triggerItem] },
		);
		await submit({ typeVersion: 2.1 }, { items: [triggerItem] });
		await submit({ typeVersion: 2 }, { items: [triggerItem] });
		const body = JSON.stringify(lead);
		for (const headers of processor.requests.map(headersOf)) {
			expect(headers).not.toHaveProperty('prefer');
			expect(headers['webhook-signature']).toBe(
				signV2([hmacSecret], 'lead-1', headers['webhook-timestamp']!, body, 'delivered', 'website'),
			);
		}
		expect(delivered.json('Node')[0]![0]).toMatchObject({ outcome: 'accepted', statusCode: 200 });
		expect(delivered.responses[0]).toMatchObject({ statusCode: 200 });
	});

	test('a 202 that is not a queued acceptance is Failed, never lost', async () => {
		processor.answer(() => ({ status: 202, body: { status: 'something-else' } }));
		const run = await submit({ typeVersion: 2.2 }, { items: [triggerItem] });
		expect(run.json('Node')[3]).toHaveLength(1);
	});
});
