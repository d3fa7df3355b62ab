import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { signingKeys, verifySignature } from '../src/intake/signature.js';

/*
 * The benchmark's floor: the least any signed, idempotent intake must do. A bare node:http
 * server that reads the body, checks the HMAC and inserts the key once. Started as a child
 * process by intake-bench so it gets a process of its own, as the processor does.
 */
const sql = postgres(process.env.DATABASE_URL!, { max: 16, onnotice: () => undefined });
const keys = signingKeys([process.env.WEBHOOK_HMAC_SECRET!]);

await sql`CREATE TABLE IF NOT EXISTS floor_leads (idempotency_key text PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now())`;

const server = createServer((req, res) => {
	const chunks: Buffer[] = [];
	req.on('data', (chunk: Buffer) => chunks.push(chunk));
	req.on('end', () => {
		const rawBody = Buffer.concat(chunks);
		const verdict = verifySignature(
			{
				webhookId: header(req.headers['webhook-id']),
				webhookTimestamp: header(req.headers['webhook-timestamp']),
				webhookSignature: header(req.headers['webhook-signature']),
			},
			rawBody,
			{
				keys,
				legacyEnabled: false,
				toleranceSeconds: 300,
				nowSeconds: Math.floor(Date.now() / 1000),
			},
		);
		if (!verdict.ok) return answer(res, verdict.status, { code: verdict.code });
		sql`INSERT INTO floor_leads (idempotency_key) VALUES (${verdict.scheme === 'v2' ? verdict.webhookId : ''})
			ON CONFLICT DO NOTHING RETURNING idempotency_key`.then(
			(rows) => answer(res, 200, { status: rows.length === 1 ? 'accepted' : 'duplicate' }),
			() => answer(res, 500, { code: 'insert_failed' }),
		);
	});
});

server.listen(0, '127.0.0.1', () => {
	process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => {
	server.close();
	void sql.end();
});

function header(value: string | string[] | undefined): string | undefined {
	return Array.isArray(value) ? value[0] : value;
}

function answer(res: import('node:http').ServerResponse, status: number, body: object): void {
	res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
