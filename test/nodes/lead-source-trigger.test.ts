import type { IDataObject } from 'n8n-workflow';
import {
	resolveWebhookDescriptionField,
	webhookDescriptionIsNativelyResolvable,
} from 'n8n-workflow';
import type { ICredentialsDecrypted, ICredentialTestFunctions } from 'n8n-workflow';
import { mock } from 'jest-mock-extended';
import { LeadSourceTrigger } from '../../nodes/LeadSourceTrigger/LeadSourceTrigger.node';
import { SourceRateLimiter } from '../../nodes/LeadSourceTrigger/rate-limit';
import {
	credentialProblem,
	keyMatches,
	presentedKey,
} from '../../nodes/LeadSourceTrigger/source-auth';
import { node, webhookHarness } from './harness';

const credentials = { sourceName: 'website', apiKey: 'current-key-0123456789', previousApiKey: '' };
let sourceCounter = 0;

async function call(options: {
	headers?: Record<string, string>;
	body?: unknown;
	credentials?: IDataObject | Error;
	parameters?: Record<string, unknown>;
	version?: number;
}) {
	const harness = webhookHarness({
		version: options.version,
		headers: { 'content-type': 'application/json', ...options.headers },
		body: options.body ?? { email: 'jane@example.com' },
		credentials: options.credentials ?? credentials,
		parameters: options.parameters,
	});
	const result = await new LeadSourceTrigger().webhook.call(harness.context);
	return {
		...harness,
		result,
		answer: harness.response.body ? JSON.parse(harness.response.body) : null,
	};
}

/** A source of its own, so the rate limit of one test does not touch another. */
const freshSource = () => ({ ...credentials, sourceName: `source-${++sourceCounter}` });

test('the right key: one item with the lead and the source from the credential, no headers', async () => {
	const { result, response } = await call({
		headers: {
			authorization: 'Bearer current-key-0123456789',
			'webhook-id': 'lead-42',
			'x-correlation-id': 'corr-1',
			'x-source': 'spoofed',
		},
		body: { email: 'jane@example.com' },
	});
	expect(response.status).toBeUndefined();
	expect(result.noWebhookResponse).toBeUndefined();
	const [[item]] = result.workflowData!;
	expect(item!.json).toEqual({
		body: { email: 'jane@example.com' },
		source: 'website',
		idempotency_key: 'lead-42',
		correlation_id: 'corr-1',
		received_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
	});
	expect(JSON.stringify(item)).not.toContain('current-key-0123456789');
});

test('X-API-Key and the previous key during a rotation are accepted; no idempotency key is null', async () => {
	const rotating = { ...freshSource(), previousApiKey: 'previous-key-0123456789' };
	const viaHeader = await call({
		headers: { 'x-api-key': 'previous-key-0123456789' },
		credentials: rotating,
	});
	expect(viaHeader.result.workflowData![0]![0]!.json).toMatchObject({
		idempotency_key: null,
		correlation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
	});
});

test('no key: 401 with WWW-Authenticate and a JSON body, and no execution', async () => {
	const { result, response, answer } = await call({ headers: {} });
	expect(result).toEqual({ noWebhookResponse: true });
	expect(response.status).toBe(401);
	expect(response.headers).toMatchObject({
		'content-type': 'application/json; charset=utf-8',
		'www-authenticate': 'Bearer realm="lead-intake"',
	});
	expect(answer).toMatchObject({ code: 'api_key_missing', correlation_id: expect.any(String) });
	const basic = await call({ headers: { authorization: 'Basic abc' } });
	expect(basic.response.status).toBe(401);
});

test('a wrong key: 403 and no execution; the key is not echoed', async () => {
	const { result, response, answer } = await call({
		headers: { authorization: 'Bearer wrong-key-0123456789' },
	});
	expect(result).toEqual({ noWebhookResponse: true });
	expect(response.status).toBe(403);
	expect(answer).toMatchObject({ code: 'api_key_invalid' });
	expect(response.body).not.toContain('wrong-key');
});

test('over the rate limit: 429 with Retry-After, per source', async () => {
	const source = freshSource();
	const headers = { authorization: `Bearer ${source.apiKey}` };
	const parameters = { rateLimitPerMinute: 2 };
	for (let index = 0; index < 2; index++) {
		expect(
			(await call({ headers, credentials: source, parameters })).result.workflowData,
		).toHaveLength(1);
	}
	const limited = await call({ headers, credentials: source, parameters });
	expect(limited.result).toEqual({ noWebhookResponse: true });
	expect(limited.response.status).toBe(429);
	expect(limited.response.headers!['retry-after']).toBe('30');
	expect(limited.answer.code).toBe('rate_limited');
	const other = freshSource();
	const otherSource = await call({
		headers: { authorization: `Bearer ${other.apiKey}` },
		credentials: other,
		parameters,
	});
	expect(otherSource.result.workflowData).toHaveLength(1);
});

test('not JSON: 415; an unusable idempotency key: 400', async () => {
	const source = freshSource();
	const authorization = `Bearer ${source.apiKey}`;
	const form = await call({
		headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
		credentials: source,
	});
	expect(form.response.status).toBe(415);
	// n8n parses a `+json` body only for a version 1 trigger
	const problem = { authorization, 'content-type': 'application/problem+json' };
	expect((await call({ headers: problem, credentials: source })).response.status).toBe(415);
	const v1 = await call({ headers: problem, credentials: source, version: 1 });
	expect(v1.result.workflowData).toHaveLength(1);
	const badKey = await call({
		headers: { authorization, 'idempotency-key': 'é'.repeat(3) },
		credentials: source,
	});
	expect(badKey.response.status).toBe(400);
	expect(badKey.answer.code).toBe('idempotency_key_invalid');
});

test('a misconfigured or unreadable credential: 503 for the caller, an error in the n8n log', async () => {
	const short = await call({
		headers: { authorization: 'Bearer short' },
		credentials: { sourceName: 'x', apiKey: 'short' },
	});
	expect(short.response.status).toBe(503);
	expect(short.context.logger.error).toHaveBeenCalledWith(
		expect.stringContaining('API Key must be at least 16 characters'),
		expect.anything(),
	);
	const missing = await call({ credentials: new Error('Node does not have any credentials set') });
	expect(missing.response.status).toBe(503);
	expect(missing.answer.code).toBe('source_not_configured');
});

test('the credential test checks the fields without a network call', async () => {
	const test = new LeadSourceTrigger().methods.credentialTest.leadSourceApiTest;
	const run = (data: IDataObject) =>
		test.call(mock<ICredentialTestFunctions>(), { data } as unknown as ICredentialsDecrypted);
	expect(await run(credentials)).toEqual({ status: 'OK', message: expect.any(String) });
	expect(await run({ ...credentials, sourceName: 'has space' })).toMatchObject({ status: 'Error' });
	expect(await run({ ...credentials, previousApiKey: credentials.apiKey })).toMatchObject({
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

	const limiter = new SourceRateLimiter();
	expect(limiter.take('s', 60, 0)).toEqual({ allowed: true });
	for (let index = 1; index < 60; index++) limiter.take('s', 60, 0);
	expect(limiter.take('s', 60, 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
	expect(limiter.take('s', 60, 1000)).toEqual({ allowed: true });
});

test("n8n resolves the webhook's path and response mode without its expression engine", () => {
	const [webhook] = new LeadSourceTrigger().description.webhooks!;
	expect(webhookDescriptionIsNativelyResolvable(webhook!)).toBe(true);
	const trigger = {
		...node('leadSourceTrigger', 1),
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
