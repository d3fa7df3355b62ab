import type { IncomingMessage } from 'node:http';
import { eventBody, signedHeaders } from '../../src/events/dispatcher.js';
import { prefersAsync } from '../../src/intake/intake-route.js';
import { signingKeys } from '../../src/intake/signature.js';

describe('outcome events are signed as Standard Webhooks', () => {
	test('the Standard Webhooks reference vector: one signature per secret, space-separated', () => {
		const keys = signingKeys([
			'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
			'another-secret-for-rotation-42',
		]);
		const headers = signedHeaders(
			keys,
			'msg_p5jXN8AQM9LWM0D4loKWxJek',
			'1614265330',
			'{"test": 2432232314}',
		);
		expect(headers['webhook-id']).toBe('msg_p5jXN8AQM9LWM0D4loKWxJek');
		expect(headers['webhook-timestamp']).toBe('1614265330');
		const [current, previous, extra] = headers['webhook-signature']!.split(' ');
		expect(current).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
		expect(previous).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
		expect(previous).not.toBe(current);
		expect(extra).toBeUndefined();
	});

	test('the body is the envelope: type, ISO timestamp, data as stored', () => {
		const body = eventBody({
			event_id: '7',
			webhook_id: 'evt_1',
			event_type: 'lead.delivered',
			run_id: '6f1c0b6e-0000-4000-8000-000000000000',
			data: { run_id: '6f1c0b6e-0000-4000-8000-000000000000', source: 'web', crm_id: 'crm_1' },
			occurred_at: new Date('2026-12-04T13:05:00.123Z'),
			attempts: 1,
		});
		expect(body).toEqual({
			type: 'lead.delivered',
			timestamp: '2026-12-04T13:05:00.123Z',
			data: { run_id: '6f1c0b6e-0000-4000-8000-000000000000', source: 'web', crm_id: 'crm_1' },
		});
	});
});

describe('Prefer: respond-async (RFC 7240)', () => {
	const request = (prefer?: string | string[]) =>
		({ headers: prefer === undefined ? {} : { prefer } }) as unknown as IncomingMessage;
	test.each([
		['respond-async', true],
		['Respond-Async', true],
		['wait=5, respond-async', true],
		['respond-async; foo=bar', true],
		[['return=minimal', 'respond-async'], true],
		[undefined, false],
		['', false],
		['respond-asyncx', false],
		['return=representation', false],
	] as const)('%p -> %p', (prefer, expected) => {
		expect(prefersAsync(request(prefer as string | string[] | undefined))).toBe(expected);
	});
});
