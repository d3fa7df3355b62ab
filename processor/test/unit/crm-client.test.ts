import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attemptRecordOf, createCrmClient } from '../../src/crm/crm-client.js';

/** A CRM that answers `status` and then sends body bytes without end. */
let server: Server;
let status = 200;
let url: string;
beforeAll(async () => {
	server = createServer((_req, res) => {
		res.writeHead(status, { 'content-type': 'application/json' });
		res.write('{"crm_id":"crm_1",');
		const chunk = Buffer.alloc(16 * 1024, 0x20);
		const timer = setInterval(() => res.write(chunk), 1);
		res.on('close', () => clearInterval(timer));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/leads/upsert`;
});
afterAll(async () => {
	server.closeAllConnections();
	await new Promise((resolve) => server.close(resolve));
});

test.each([
	[200, { ok: true, statusCode: 200, crmId: null }],
	[503, { ok: false, statusCode: 503, reason: 'crm_http_503' }],
])(
	'an answer %i with a body that never ends is not read to its end: the call settles before its timeout',
	async (answerStatus, expected) => {
		status = answerStatus;
		const crm = createCrmClient({ url, token: 't', timeoutMs: 10_000, connections: 1 });
		try {
			const result = await crm.upsert({ key: 'k' });
			expect(result).toMatchObject(expected);
			expect(result.durationMs).toBeLessThan(10_000);
		} finally {
			await crm.close();
		}
	},
);

test('a status HTTP does not have (999) is recorded without its code: the attempt can be written', async () => {
	status = 999;
	const crm = createCrmClient({ url, token: 't', timeoutMs: 10_000, connections: 1 });
	try {
		const result = await crm.upsert({ key: 'k' });
		expect(result).toMatchObject({ ok: false, reason: 'crm_http_999', retryable: true });
		expect(attemptRecordOf(result)).toMatchObject({ statusCode: null, success: false });
	} finally {
		await crm.close();
	}
});
