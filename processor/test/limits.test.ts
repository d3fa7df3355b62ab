import { postLead, startStack, validLead, type Stack } from './support/harness.js';

let stack: Stack;
beforeAll(async () => {
	stack = await startStack({ env: { BODY_LIMIT_BYTES: '2048', RATE_LIMIT_PER_MINUTE: '5' } });
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

test('per source: past the limit -> 429 with Retry-After; another source is unaffected', async () => {
	const statuses: number[] = [];
	let limited: Awaited<ReturnType<typeof postLead>> | undefined;
	for (let i = 0; i < 6; i++) {
		const answer = await postLead(stack.url, validLead(), {
			headers: { 'x-source': 'busy-source' },
		});
		statuses.push(answer.status);
		limited = answer;
	}
	expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
	expect(limited!.body).toMatchObject({ code: 'rate_limited' });
	expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);

	const other = await postLead(stack.url, validLead(), { headers: { 'x-source': 'quiet-source' } });
	expect(other.status).toBe(200);
});
