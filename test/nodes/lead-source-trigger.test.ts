import type { IDataObject, INode } from 'n8n-workflow';
import {
	resolveWebhookDescriptionField,
	webhookDescriptionIsNativelyResolvable,
} from 'n8n-workflow';
import { LeadSourceTrigger } from '../../nodes/LeadSourceTrigger/LeadSourceTrigger.node';
import { SourceRateLimiter } from '../../nodes/LeadSourceTrigger/rate-limit';
import {
	credentialProblem,
	keyMatches,
	presentedKey,
} from '../../nodes/LeadSourceTrigger/source-auth';
import {
	n8nLogLine,
	startWebhookServer,
	testCredential,
	type NodeSpec,
	type WebhookServer,
} from './support/engine';

/*
 * The Lead Source Trigger behind a stand-in for n8n's webhook server (support/engine.ts): each
 * request is served by the node's webhook() on n8n's WebhookContext, and what it emits runs on
 * n8n's engine. A lead source's requests are real HTTP requests.
 */

const credentials = { sourceName: 'website', apiKey: 'current-key-0123456789', previousApiKey: '' };
let sourceCounter = 0;
/** A source of its own, so the rate limit of one test does not touch another. */
const freshSource = () => ({ ...credentials, sourceName: `source-${++sourceCounter}` });

const servers: WebhookServer[] = [];
afterAll(async () => {
	await Promise.all(servers.map((server) => server.close()));
});

/** A workflow of one Lead Source Trigger at /webhook/leads, answering with what it emits. */
async function serve(options: {
	credentials?: IDataObject;
	parameters?: IDataObject;
	version?: number;
	/** Nodes after the trigger, each feeding the next. */
	after?: NodeSpec[];
}) {
	const server = await startWebhookServer(
		{
			nodes: [
				{
					name: 'Lead source',
					type: 'leadSourceTrigger',
					typeVersion: options.version ?? 1.1,
					parameters: { path: 'leads', responseMode: 'lastNode', ...options.parameters },
				},
				...(options.after ?? []),
			],
		},
		options.credentials ? { credentials: { leadSourceApi: options.credentials } } : {},
	);
	servers.push(server);
	return server;
}

async function post(
	server: WebhookServer,
	headers: Record<string, string>,
	body: string = JSON.stringify({ email: 'jane@example.com' }),
) {
	const served = server.calls.length + 1;
	const response = await fetch(`${server.url}/webhook/leads`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body,
	});
	const text = await response.text();
	const call = (await server.served(served))[served - 1]!;
	expect(call.failure).toBeUndefined();
	return {
		status: response.status,
		headers: response.headers,
		text,
		answer: JSON.parse(text) as IDataObject,
		call,
	};
}

/** A Lead Intake node (2.2) after the trigger, with these parameters. */
const intake = (parameters: IDataObject): NodeSpec => ({
	name: 'Lead Intake',
	type: 'leadIntake',
	typeVersion: 2.2,
	parameters,
	continueOnFail: true,
});

test('the right key: one item with the lead and the source from the credential, no headers', async () => {
	const server = await serve({ credentials });
	const { status, call, answer } = await post(server, {
		authorization: 'Bearer current-key-0123456789',
		'webhook-id': 'lead-42',
		'x-correlation-id': 'corr-1',
		'x-source': 'spoofed',
	});
	expect(status).toBe(200);
	expect(call.response.noWebhookResponse).toBeUndefined();
	const [[item]] = call.execution!.outputs('Lead source');
	expect(item!.json).toEqual({
		body: { email: 'jane@example.com' },
		source: 'website',
		idempotency_key: 'lead-42',
		correlation_id: 'corr-1',
		received_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
	});
	expect(answer).toEqual(item!.json);
	expect(JSON.stringify(call.execution!.run.data)).not.toContain('current-key-0123456789');
});

test('"When Last Node Finishes" before a Lead Intake node that answers the source: 503 and no execution, since n8n would answer 200 whatever became of the lead', async () => {
	const answering = await serve({ credentials: freshSource(), after: [intake({})] });
	const refused = await post(answering, { authorization: 'Bearer current-key-0123456789' });
	expect([refused.status, refused.answer.code]).toEqual([503, 'source_not_configured']);
	expect(refused.call.execution).toBeUndefined();
	expect(await n8nLogLine(/Lead Intake.{1,3} answers the source, but Respond is/)).toMatch(
		/error/i,
	);

	// a Lead Intake node that does not answer the source leaves the last node's answer to n8n
	for (const parameters of [
		{ respondToSource: false },
		{ resource: 'dlqItem', operation: 'list' },
	]) {
		const quiet = await serve({ credentials: freshSource(), after: [intake(parameters)] });
		const { status, call } = await post(quiet, { authorization: 'Bearer current-key-0123456789' });
		expect(status).toBe(200);
		expect(call.execution!.executed).toContain('Lead Intake');
	}
});

test('"By the Lead Intake Node" with nothing after the trigger that answers: 503 and no execution, since n8n would answer 200 with nothing whatever became of the lead', async () => {
	const byNode = { responseMode: 'responseNode' };
	for (const after of [[], [intake({ respondToSource: false })]]) {
		const server = await serve({ credentials: freshSource(), parameters: byNode, after });
		const refused = await post(server, { authorization: 'Bearer current-key-0123456789' });
		expect([after.length, refused.status, refused.answer.code]).toEqual([
			after.length,
			503,
			'source_not_configured',
		]);
		expect(refused.headers.get('retry-after')).toBe('60');
		expect(refused.call.execution).toBeUndefined();
	}
	expect(await n8nLogLine(/no node after the trigger answers/)).toMatch(/error/i);
});

test('X-API-Key and the previous key during a rotation are accepted; no idempotency key is null', async () => {
	const server = await serve({
		credentials: { ...freshSource(), previousApiKey: 'previous-key-0123456789' },
	});
	const { status, answer } = await post(server, { 'x-api-key': 'previous-key-0123456789' });
	expect(status).toBe(200);
	expect(answer).toMatchObject({
		idempotency_key: null,
		correlation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
	});
});

test("version 1.2 puts the source's key in the source's own space: two sources' lead 1 are two leads; a long key is hashed", async () => {
	const keyOf = async (sourceName: string, key: string) => {
		const server = await serve({ credentials: { ...credentials, sourceName }, version: 1.2 });
		const { status, answer } = await post(server, {
			authorization: 'Bearer current-key-0123456789',
			'idempotency-key': key,
		});
		expect(status).toBe(200);
		return answer.idempotency_key;
	};
	expect(await keyOf('shop-a', '1')).toBe('shop-a/1');
	expect(await keyOf('shop-b', '1')).toBe('shop-b/1');
	const long = await keyOf('shop-a', 'k'.repeat(200));
	expect(long).toMatch(/^shop-a\/~[0-9a-f]{64}$/);
	expect(await keyOf('shop-a', 'k'.repeat(200))).toBe(long);
	// version 1.1 (old workflows) passes the key on as it came
	const old = await serve({ credentials: freshSource(), version: 1.1 });
	const { answer } = await post(old, {
		authorization: 'Bearer current-key-0123456789',
		'idempotency-key': '1',
	});
	expect(answer.idempotency_key).toBe('1');
});

test('no key: 401 with WWW-Authenticate and a JSON body, and no execution', async () => {
	const server = await serve({ credentials });
	const missing = await post(server, {});
	expect(missing.status).toBe(401);
	expect(missing.call.response).toEqual({ noWebhookResponse: true });
	expect(missing.call.execution).toBeUndefined();
	expect(missing.headers.get('content-type')).toBe('application/json; charset=utf-8');
	expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="lead-intake"');
	expect(missing.answer).toMatchObject({
		code: 'api_key_missing',
		correlation_id: expect.any(String),
	});
	expect((await post(server, { authorization: 'Basic abc' })).status).toBe(401);
});

test('a wrong key: 403 and no execution; the key is not echoed', async () => {
	const server = await serve({ credentials });
	const wrong = await post(server, { authorization: 'Bearer wrong-key-0123456789' });
	expect(wrong.status).toBe(403);
	expect(wrong.call.execution).toBeUndefined();
	expect(wrong.answer).toMatchObject({ code: 'api_key_invalid' });
	expect(wrong.text).not.toContain('wrong-key');
});

test('over the rate limit: 429 with Retry-After, per source', async () => {
	const source = freshSource();
	const server = await serve({ credentials: source, parameters: { rateLimitPerMinute: 2 } });
	const headers = { authorization: `Bearer ${source.apiKey}` };
	expect((await post(server, headers)).status).toBe(200);
	expect((await post(server, headers)).status).toBe(200);
	const limited = await post(server, headers);
	expect(limited.status).toBe(429);
	expect(limited.call.execution).toBeUndefined();
	expect(limited.headers.get('retry-after')).toBe('30');
	expect(limited.answer.code).toBe('rate_limited');
	const other = freshSource();
	const otherServer = await serve({ credentials: other, parameters: { rateLimitPerMinute: 2 } });
	expect((await post(otherServer, { authorization: `Bearer ${other.apiKey}` })).status).toBe(200);
});

test('not JSON: 415; an unusable idempotency key: 400', async () => {
	const source = freshSource();
	const server = await serve({ credentials: source });
	const authorization = `Bearer ${source.apiKey}`;
	const form = await post(
		server,
		{ authorization, 'content-type': 'application/x-www-form-urlencoded' },
		'email=jane%40example.com',
	);
	expect(form.status).toBe(415);
	// a `+json` body is taken only by a version 1 trigger
	const problem = { authorization, 'content-type': 'application/problem+json' };
	expect((await post(server, problem)).status).toBe(415);
	const v1 = await serve({ credentials: source, version: 1 });
	const v1Answer = await post(v1, problem);
	expect(v1Answer.status).toBe(200);
	expect(v1Answer.answer.body).toEqual({ email: 'jane@example.com' });
	// n8n itself parses only exactly `application/json`: the trigger reads the others as they came
	const spaced = { authorization, 'content-type': 'application/json ; charset=utf-8' };
	const spacedAnswer = await post(server, spaced);
	expect(spacedAnswer.status).toBe(200);
	expect(spacedAnswer.answer.body).toEqual({ email: 'jane@example.com' });
	const broken = await post(v1, problem, '{"email": ');
	expect(broken.status).toBe(422);
	expect(broken.answer.code).toBe('invalid_json');
	const badKey = await post(server, { authorization, 'idempotency-key': 'é'.repeat(3) });
	expect(badKey.status).toBe(400);
	expect(badKey.answer.code).toBe('idempotency_key_invalid');
	// the keys an erasure leaves: the processor would refuse the lead, and the source could not
	// tell why from a later failure
	const erasedKey = await post(server, { authorization, 'idempotency-key': 'erased:abc' });
	expect([erasedKey.status, erasedKey.answer.code]).toEqual([400, 'idempotency_key_invalid']);
	expect(erasedKey.call.execution).toBeUndefined();
});

test('a lead nested deeper or larger than the processor takes: 422 before any execution, as the processor would answer', async () => {
	const source = freshSource();
	const server = await serve({ credentials: source });
	const authorization = `Bearer ${source.apiKey}`;
	const nested = (levels: number) => '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);
	// 32 levels pass, as at the processor; 33, or thousands (which n8n could not serialise), do not
	expect((await post(server, { authorization }, nested(32))).status).toBe(200);
	for (const levels of [33, 20_000]) {
		const deep = await post(server, { authorization }, nested(levels));
		expect([levels, deep.status, deep.answer.code]).toEqual([levels, 422, 'lead_too_deep']);
		expect(deep.call.execution).toBeUndefined();
	}
	const wide = JSON.stringify({ tags: Array.from({ length: 10_000 }, () => 'x') });
	const large = await post(server, { authorization }, wide);
	expect([large.status, large.answer.code]).toEqual([422, 'lead_too_large']);
	expect(large.answer.detail).toBe('A lead may hold 10000 values at most');
});

test('a misconfigured or unreadable credential: 503 for the caller, an error in the n8n log', async () => {
	const short = await serve({ credentials: { sourceName: 'misconfigured', apiKey: 'short' } });
	const refused = await post(short, { authorization: 'Bearer short' });
	expect(refused.status).toBe(503);
	expect(refused.answer.code).toBe('source_not_configured');
	expect(await n8nLogLine(/API Key must be at least 16 characters/)).toMatch(/error/i);

	const unset = await serve({});
	const missing = await post(unset, { authorization: 'Bearer current-key-0123456789' });
	expect(missing.status).toBe(503);
	expect(missing.answer.code).toBe('source_not_configured');
	expect(await n8nLogLine(/the Lead Source credential cannot be read/)).toBeTruthy();
});

test('the credential test checks the fields without a network call', async () => {
	const run = (data: IDataObject) => testCredential('leadSourceTrigger', 'leadSourceApiTest', data);
	expect(await run(credentials)).toEqual({ status: 'OK', message: expect.any(String) });
	expect(await run({ ...credentials, sourceName: 'has space' })).toMatchObject({ status: 'Error' });
	expect(await run({ ...credentials, previousApiKey: credentials.apiKey })).toEqual({
		status: 'Error',
		message: 'Previous API Key must differ from API Key',
	});
});

test('the pure parts: presented key, key comparison, credential problems, rate budget', () => {
	expect(presentedKey({ authorization: 'bearer  k-1 ' })).toBe('k-1');
	expect(presentedKey({ authorization: 'Bearer ', 'x-api-key': 'k-2' })).toBe('k-2');
	expect(presentedKey({ authorization: ['Bearer k-3', 'Bearer other'] })).toBe('k-3');
	expect(presentedKey({})).toBeNull();
	expect(keyMatches('current-key-0123456789', credentials)).toBe(true);
	expect(keyMatches('current-key-012345678', credentials)).toBe(false);
	expect(keyMatches('x'.repeat(10_000), credentials)).toBe(false);
	expect(credentialProblem(credentials)).toBeNull();
	expect(credentialProblem({ ...credentials, sourceName: 'a'.repeat(65) })).toMatch(/Source Name/);
	expect(credentialProblem({ ...credentials, sourceName: 'erased:partner' })).toMatch(
		/not beginning 'erased:'/,
	);

	const limiter = new SourceRateLimiter();
	expect(limiter.take('s', 60, 0)).toEqual({ allowed: true });
	for (let index = 1; index < 60; index++) limiter.take('s', 60, 0);
	expect(limiter.take('s', 60, 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
	expect(limiter.take('s', 60, 1000)).toEqual({ allowed: true });
});

test("n8n resolves the webhook's path and response mode without its expression engine", () => {
	const [webhook] = new LeadSourceTrigger().description.webhooks!;
	expect(webhookDescriptionIsNativelyResolvable(webhook!)).toBe(true);
	const trigger: INode = {
		id: 'trigger',
		name: 'Lead source',
		type: 'n8n-nodes-lead-intake.leadSourceTrigger',
		typeVersion: 1,
		position: [0, 0],
		parameters: { path: 'web-form', responseMode: 'responseNode', rateLimitPerMinute: 600 },
	};
	expect(resolveWebhookDescriptionField(trigger, webhook!, 'path')).toEqual({
		resolved: true,
		value: 'web-form',
	});
	expect(resolveWebhookDescriptionField(trigger, webhook!, 'responseMode')).toEqual({
		resolved: true,
		value: 'responseNode',
	});
});
