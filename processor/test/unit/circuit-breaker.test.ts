import type { CrmClient, DeliveryResult } from '../../src/crm/crm-client.js';
import { withCircuitBreaker } from '../../src/crm/circuit-breaker.js';

const ok: DeliveryResult = { ok: true, statusCode: 200, crmId: 'crm-1', durationMs: 5 };
const limited: DeliveryResult = {
	ok: false,
	statusCode: 429,
	reason: 'crm_http_429',
	error: 'rate limited',
	retryable: true,
	retryAfterSeconds: 600,
	durationMs: 5,
};

/** A CRM whose calls are answered when the test says, in any order. */
function heldCrm() {
	const pending: ((result: DeliveryResult) => void)[] = [];
	const crm: CrmClient = {
		upsert: () => new Promise((resolve) => pending.push(resolve)),
		close: async () => undefined,
	};
	return { crm, answer: (index: number, result: DeliveryResult) => pending[index]!(result) };
}

test('a success of a call sent before a Retry-After opened the circuit does not close it', async () => {
	let now = new Date('2026-12-01T10:00:00Z');
	const { crm, answer } = heldCrm();
	const breaker = withCircuitBreaker(
		crm,
		{ failureThreshold: 5, cooldownSeconds: 30, maxPauseSeconds: 3600 },
		() => now,
	);
	const early = breaker.upsert({ key: 'a' });
	const limitedCall = breaker.upsert({ key: 'b' });
	answer(1, limited);
	await limitedCall;
	expect(breaker.status().state).toBe('open');
	answer(0, ok);
	expect(await early).toMatchObject({ ok: true });
	expect(breaker.status()).toEqual({ state: 'open', until: '2026-12-01T10:10:00.000Z' });
	// once the pause is over, the probe's success closes it
	now = new Date('2026-12-01T10:10:01Z');
	expect(breaker.status().state).toBe('half-open');
	const probe = breaker.upsert({ key: 'c' });
	answer(2, ok);
	await probe;
	expect(breaker.status().state).toBe('closed');
});
