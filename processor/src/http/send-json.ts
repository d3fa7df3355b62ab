import type { ServerResponse } from 'node:http';

/** A JSON answer in one write, as express's `res.json` would send it. */
export function sendJson(
	res: ServerResponse,
	status: number,
	body: object,
	headers: Record<string, string> = {},
): void {
	const json = JSON.stringify(body);
	res
		.writeHead(status, {
			'Content-Type': 'application/json; charset=utf-8',
			'Content-Length': Buffer.byteLength(json),
			...headers,
		})
		.end(json);
}
