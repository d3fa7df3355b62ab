import { createHmac } from 'crypto';
import type { IDataObject } from 'n8n-workflow';
import { OUTCOME_EVENT_TYPES } from '../../nodes/LeadOutcomeTrigger/events';
import { LeadOutcomeTrigger } from '../../nodes/LeadOutcomeTrigger/LeadOutcomeTrigger.node';
import { OUTCOME_EVENT_TYPES as PROCESSOR_EVENT_TYPES } from '../../processor/src/vocabulary';
import { isCanonicalBase64, signEvent } from '../../nodes/LeadOutcomeTrigger/verify';
import { startWebhookServer, testCredential, type WebhookServer } from './support/engine';

/*
 * The Lead Outcome Trigger behind a stand-in for n8n's webhook server (support/engine.ts): each
 * event is a real HTTP request served by the node's webhook() on n8n's WebhookContext; what it
 * emits runs on n8n's engine. Events are signed here as the processor signs them (Standard Webhooks).
 */

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const previous = 'previous-events-secret-0123456789';

const servers: WebhookServer[] = [];
afterAll(async () => {
	await Promise.all(servers.map((server) => server.close()));
});

async function serve(
	parameters: IDataObject = {},
	credentials: IDataObject = {},
	typeVersion = 1.1,
) {
	const server = await startWebhookServer(
		{
			nodes: [
				{
					name: 'Outcomes',
					type: 'leadOutcomeTrigger',
					typeVersion,
					parameters: { path: 'outcomes', responseMode: 'lastNode', ...parameters },
				},
			],
		},
		{
			credentials: {
				leadIntakeEventsApi: { secret, previousSecret: '', ...credentials },
			},
		},
	);
	servers.push(server);
	return server;
}

let eventCounter = 0;
const eventBody = (type: string, data: IDataObject = {}) =>
	JSON.stringify({
		type,
		timestamp: '2026-12-04T10:00:00.000Z',
		data: { run_id: 17, source: 'website', ...data },
	});

const signature = (key: string, id: string, timestamp: string, body: string) =>
	`v1,${signEvent(key, id, timestamp, Buffer.from(body)).toString('base64')}`;

/** Posts an event; by default signed now with the current secret. */
async function post(
	server: WebhookServer,
	body: string,
	headers: (id: string, timestamp: string) => Record<string, string> = (id, timestamp) => ({
		'webhook-signature': signature(secret, id, timestamp, body),
	}),
) {
	const id = `evt_${++eventCounter}`;
	const timestamp = String(Math.floor(Date.now() / 1000));
	const served = server.calls.length + 1;
	const response = await fetch(`${server.url}/webhook/outcomes`, {
		method: 'POST',
		headers: {
			'content-type': 'application/json',
			'webhook-id': id,
			'webhook-timestamp': timestamp,
			...headers(id, timestamp),
		},
		body,
	});
	const text = await response.text();
	const call = (await server.served(served))[served - 1]!;
	expect(call.failure).toBeUndefined();
	return { id, status: response.status, text, call };
}

test('version 1 (workflows made before 1.1) verifies and routes an event as 1.1 does', async () => {
	const server = await serve({}, {}, 1);
	const { status, call } = await post(server, eventBody('lead.dead', { reason: 'crm_http_400' }));
	expect(status).toBe(200);
	expect(call.execution!.json('Outcomes')[2]).toEqual([
		expect.objectContaining({ type: 'lead.dead', run_id: 17 }),
	]);
	const forged = await post(server, eventBody('lead.dead'), () => ({
		'webhook-signature': 'v1,Zm9yZ2Vk',
	}));
	expect(forged.status).toBe(401);
	expect(forged.call.execution).toBeUndefined();
});

test("the trigger's outputs are the processor's event types, in its order", () => {
	expect(OUTCOME_EVENT_TYPES).toEqual(PROCESSOR_EVENT_TYPES);
});

test.each(OUTCOME_EVENT_TYPES.map((type, index) => [type, index] as const))(
	'a signed %s event runs the workflow from its own output',
	async (type, index) => {
		const server = await serve();
		const { id, status, call } = await post(
			server,
			eventBody(type, { dlq_id: 3, reason: 'crm_http_503', status_code: 503 }),
		);
		expect(status).toBe(200);
		const outputs = call.execution!.json('Outcomes');
		expect(outputs).toHaveLength(5);
		outputs.forEach((items, output) => expect(items).toHaveLength(output === index ? 1 : 0));
		expect(outputs[index]![0]).toMatchObject({
			event_id: id,
			type,
			outcome: type.slice('lead.'.length),
			run_id: 17,
			source: 'website',
			statusCode: 503,
			timestamp: '2026-12-04T10:00:00.000Z',
			response: { run_id: 17, dlq_id: 3, reason: 'crm_http_503' },
		});
	},
);

test('the previous secret is accepted during a rotation; any one matching entry is enough', async () => {
	const server = await serve(
		{},
		{ secret: 'new-events-secret-0123456789', previousSecret: previous },
	);
	const body = eventBody('lead.dead');
	const rotated = await post(server, body, (id, timestamp) => ({
		'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} ${signature(previous, id, timestamp, body)}`,
	}));
	expect(rotated.status).toBe(200);
	expect(rotated.call.execution!.json('Outcomes')[2]).toHaveLength(1);
});

describe('refused before anything runs (401 JSON, no execution)', () => {
	const refusedWith = async (
		result: Awaited<ReturnType<typeof post>>,
		status: number,
		code: string,
	) => {
		expect(result.status).toBe(status);
		const answer = JSON.parse(result.text) as IDataObject;
		expect(answer).toMatchObject({ code });
		expect(Object.keys(answer).sort()).toEqual(['code', 'detail']);
		expect(result.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
		expect(result.call.execution).toBeUndefined();
	};

	/** A correctly signed event stamped `timestamp`: refused as out of tolerance. */
	const refusedAt = async (server: WebhookServer, timestamp: string) => {
		const body = eventBody('lead.failed');
		await refusedWith(
			await post(server, body, (id) => ({
				'webhook-timestamp': timestamp,
				'webhook-signature': signature(secret, id, timestamp, body),
			})),
			401,
			'timestamp_out_of_tolerance',
		);
	};

	test('no signature headers', async () => {
		const server = await serve();
		await refusedWith(
			await post(server, eventBody('lead.failed'), () => ({})),
			401,
			'signature_missing',
		);
	});

	test('a signature made with another secret, or over another body', async () => {
		const server = await serve();
		const body = eventBody('lead.failed');
		await refusedWith(
			await post(server, body, (id, timestamp) => ({
				'webhook-signature': signature('some-other-secret-0123456789', id, timestamp, body),
			})),
			401,
			'signature_invalid',
		);
		await refusedWith(
			await post(server, body, (id, timestamp) => ({
				'webhook-signature': signature(secret, id, timestamp, eventBody('lead.delivered')),
			})),
			401,
			'signature_invalid',
		);
	});

	test('an old event, signed correctly but outside the tolerance', async () => {
		const server = await serve({ toleranceSeconds: 60 });
		await refusedAt(server, String(Math.floor(Date.now() / 1000) - 61));
	});

	test('a timestamp ahead of the clock by more than the tolerance', async () => {
		const server = await serve({ toleranceSeconds: 60 });
		await refusedAt(server, String(Math.floor(Date.now() / 1000) + 61));
	});

	test('a tolerance that is no number (an expression gone wrong) is the default, not unlimited', async () => {
		const server = await serve({ toleranceSeconds: 'not a number' });
		await refusedAt(server, String(Math.floor(Date.now() / 1000) - 3600 * 24 * 30));
	});

	test('a body n8n took as a form (multipart): 400 before any execution, not a failed one', async () => {
		const server = await serve();
		const boundary = 'lih-boundary';
		const body = `--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nlead.failed\r\n--${boundary}--\r\n`;
		await refusedWith(
			await post(server, body, (id, timestamp) => ({
				'content-type': `multipart/form-data; boundary=${boundary}`,
				'webhook-signature': signature(secret, id, timestamp, body),
			})),
			400,
			'event_unreadable',
		);
	});

	test('stray base64 bits: the same bytes spelled another way are refused', async () => {
		const server = await serve();
		const body = eventBody('lead.failed');
		await refusedWith(
			await post(server, body, (id, timestamp) => {
				const good = signature(secret, id, timestamp, body).slice(3);
				// the last character before '=' carries 2 unused bits: set one of them
				const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
				const last = good[42]!;
				const stray = good.slice(0, 42) + alphabet[alphabet.indexOf(last) | 1]! + '=';
				expect(stray).not.toBe(good);
				expect(Buffer.from(stray, 'base64')).toEqual(Buffer.from(good, 'base64'));
				expect(isCanonicalBase64(stray)).toBe(false);
				return { 'webhook-signature': `v1,${stray}` };
			}),
			401,
			'signature_invalid',
		);
		// and without its padding
		await refusedWith(
			await post(server, body, (id, timestamp) => ({
				'webhook-signature': signature(secret, id, timestamp, body).replace(/=$/, ''),
			})),
			401,
			'signature_invalid',
		);
	});

	test('a signed body that is not an outcome event is a 400', async () => {
		const server = await serve();
		await refusedWith(await post(server, '[1,2]'), 400, 'event_invalid');
		await refusedWith(
			await post(server, JSON.stringify({ type: 7, timestamp: 'now', data: {} })),
			400,
			'event_invalid',
		);
	});
});

test('a signed event of a type this package does not know (a newer processor) is acknowledged, not refused', async () => {
	const server = await serve();
	const unknown = await post(server, eventBody('lead.archived'));
	expect(unknown.status).toBe(200);
	expect(JSON.parse(unknown.text)).toEqual({ status: 'ignored', type: 'lead.archived' });
	expect(unknown.call.execution).toBeUndefined();
});

test('the answer is the acknowledgement only: n8n is told to send no item back (a branch may end empty)', () => {
	const [webhook] = new LeadOutcomeTrigger().description.webhooks!;
	expect(webhook!.responseData).toBe('noData');
});

test('event types not picked are acknowledged and start nothing', async () => {
	const server = await serve({ events: ['lead.failed', 'lead.dead'] });
	const skipped = await post(server, eventBody('lead.delivered'));
	expect(skipped.status).toBe(200);
	expect(JSON.parse(skipped.text)).toEqual({ status: 'ignored', type: 'lead.delivered' });
	expect(skipped.call.execution).toBeUndefined();
	const picked = await post(server, eventBody('lead.dead'));
	expect(picked.call.execution!.json('Outcomes')[2]).toHaveLength(1);
});

test('Acknowledge When Received answers once the execution has started', async () => {
	const server = await serve({ responseMode: 'onReceived' });
	const result = await post(server, eventBody('lead.resolved'));
	expect(result.status).toBe(200);
	expect(result.text).toBe('');
	expect(result.call.execution!.json('Outcomes')[3]).toHaveLength(1);
});

test('a receiver without a usable secret refuses every event with 503', async () => {
	const server = await serve({}, { secret: 'short' });
	const result = await post(server, eventBody('lead.failed'));
	expect(result.status).toBe(503);
	expect(JSON.parse(result.text)).toMatchObject({ code: 'events_not_configured' });
	expect(result.text).not.toContain('short');
});

test('the credential test names what is wrong', async () => {
	expect(
		await testCredential('leadOutcomeTrigger', 'leadIntakeEventsApiTest', { secret }),
	).toMatchObject({ status: 'OK' });
	expect(
		await testCredential('leadOutcomeTrigger', 'leadIntakeEventsApiTest', { secret: '' }),
	).toMatchObject({ status: 'Error', message: expect.stringContaining('empty') });
	expect(
		await testCredential('leadOutcomeTrigger', 'leadIntakeEventsApiTest', {
			secret,
			previousSecret: 'whsec_AAAB',
		}),
	).toMatchObject({ status: 'Error' });
});

test('signatures are HMAC-SHA256 over "<id>.<timestamp>.<body>" with the whsec_ key bytes', () => {
	const body = '{"type":"lead.failed"}';
	expect(signEvent(secret, 'msg_1', '1700000000', Buffer.from(body))).toEqual(
		createHmac('sha256', Buffer.from(secret.slice(6), 'base64'))
			.update(`msg_1.1700000000.${body}`)
			.digest(),
	);
});

test('a webhook-signature header a proxy split in two (joined with ", ") still verifies', async () => {
	const server = await serve({}, { previousSecret: previous });
	const body = eventBody('lead.failed');
	const id = 'evt_split_header';
	const timestamp = String(Math.floor(Date.now() / 1000));
	const headers = new Headers({
		'content-type': 'application/json',
		'webhook-id': id,
		'webhook-timestamp': timestamp,
	});
	// the matching signature first: it is the one that gets the comma
	headers.append('webhook-signature', signature(secret, id, timestamp, body));
	headers.append(
		'webhook-signature',
		signature('some-other-secret-0123456789', id, timestamp, body),
	);
	const served = server.calls.length + 1;
	const response = await fetch(`${server.url}/webhook/outcomes`, { method: 'POST', headers, body });
	expect(response.status).toBe(200);
	const call = (await server.served(served))[served - 1]!;
	expect(call.execution!.json('Outcomes')[1]).toEqual([
		expect.objectContaining({ type: 'lead.failed', event_id: id }),
	]);
});
