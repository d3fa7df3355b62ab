import { postLead, startStack, TEST_SECRET, validLead, type Stack } from './support/harness.js';

const OTHER_SECRET = 'a-second-signer-0123456789';

let stack: Stack;
beforeAll(async () => {
	stack = await startStack({
		env: {
			BODY_LIMIT_BYTES: '2048',
			RATE_LIMIT_PER_MINUTE: '5',
			REFUSED_PER_MINUTE: '3',
			WEBHOOK_HMAC_SECRET: `${TEST_SECRET},${OTHER_SECRET}`,
		},
	});
});
afterAll(() => stack.close());

test('a body over the limit -> 413 JSON, nothing recorded', async () => {
	const answer = await postLead(stack.url, validLead({ note: 'x'.repeat(4096) }), {
		key: 'too-big',
		headers: { 'x-source': 'size-test' },
	});
	expect(answer.status).toBe(413);
	expect(answer.body).toMatchObject({ code: 'payload_too_large' });
	expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'too-big'`).toHaveLength(0);
});

test('a compressed body -> 415 JSON (the signature covers the bytes as sent), nothing recorded', async () => {
	const answer = await postLead(stack.url, validLead(), {
		key: 'gzipped',
		headers: { 'x-source': 'encoding-test', 'content-encoding': 'gzip' },
	});
	expect(answer.status).toBe(415);
	expect(answer.body).toMatchObject({ code: 'unsupported_content_encoding' });
	expect(await stack.sql`SELECT 1 FROM runs WHERE idempotency_key = 'gzipped'`).toHaveLength(0);
});

test('per verified signer: past the limit -> 429 with Retry-After, whatever X-Source says; another signer is unaffected', async () => {
	const statuses: number[] = [];
	let limited: Awaited<ReturnType<typeof postLead>> | undefined;
	for (let i = 0; i < 6; i++) {
		// a new X-Source each time: the limit is on the secret that signed, not on a header
		const answer = await postLead(stack.url, validLead(), {
			headers: { 'x-source': `source-${i}` },
		});
		statuses.push(answer.status);
		limited = answer;
	}
	expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
	expect(limited!.body).toMatchObject({ code: 'rate_limited' });
	expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);

	const other = await postLead(stack.url, validLead(), { secret: OTHER_SECRET });
	expect(other.status).toBe(200);
});

test('refused signatures are limited per client: past the limit -> 429 before any work, no row per refusal', async () => {
	const statuses: number[] = [];
	for (let i = 0; i < 5; i++) {
		const answer = await postLead(stack.url, validLead(), { secret: 'a-forger-0123456789' });
		statuses.push(answer.status);
	}
	expect(statuses).toEqual([401, 401, 401, 429, 429]);
	expect(await stack.sql`SELECT 1 FROM dlq WHERE reason = 'signature_invalid'`).toHaveLength(0);
	await stack.processor.flush();
	const [row] = await stack.sql`SELECT occurrences FROM dlq WHERE reason = 'signature_invalid'`;
	expect(row).toEqual({ occurrences: 3 });
});
