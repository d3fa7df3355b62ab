import { createServer, type IncomingHttpHeaders, type Server } from 'http';
import type { AddressInfo } from 'net';

/*
 * A local HTTP server that stands in for the processor and for Jira/Confluence: it records every
 * request exactly as it arrived on the socket (method, path, query, headers, raw body) and answers
 * with what the test says. Loopback only; no other network.
 */

export interface ReceivedRequest {
	method: string;
	/** The path without the query string. */
	path: string;
	query: Record<string, string>;
	headers: IncomingHttpHeaders;
	/** The body as received, byte for byte (UTF-8). */
	body: string;
}

export interface StubAnswer {
	status: number;
	/** An object or array is sent as JSON; a string is sent as it is. */
	body?: unknown;
	/** Close the connection without an answer (a crashed server). */
	hangUp?: boolean;
	/** Never answer (a server that hangs); the connection is closed with the stub. */
	hold?: boolean;
	/** Headers besides the content type. */
	headers?: Record<string, string>;
}

export type StubHandler = (request: ReceivedRequest) => StubAnswer;

export interface HttpStub {
	/** http://127.0.0.1:<port> */
	url: string;
	/** Every request, in the order they arrived. */
	requests: ReceivedRequest[];
	/** Resolves once this many requests have arrived in all. */
	received(count: number): Promise<void>;
	/** What the next requests are answered with (the default: 200 `{}`). */
	answer(handler: StubHandler): void;
	/** Answers the next requests with these, in order (then 500). */
	answerInTurn(...answers: StubAnswer[]): void;
	reset(): void;
	close(): Promise<void>;
}

export async function startHttpStub(): Promise<HttpStub> {
	const requests: ReceivedRequest[] = [];
	const waiting: { count: number; resolve: () => void }[] = [];
	let handler: StubHandler = () => ({ status: 200, body: {} });
	const server: Server = createServer((request, response) => {
		const chunks: Buffer[] = [];
		request.on('data', (chunk: Buffer) => chunks.push(chunk));
		request.on('end', () => {
			const url = new URL(request.url ?? '/', 'http://stub');
			const received: ReceivedRequest = {
				method: request.method ?? '',
				path: url.pathname,
				query: Object.fromEntries(url.searchParams),
				headers: request.headers,
				body: Buffer.concat(chunks).toString('utf8'),
			};
			requests.push(received);
			for (const waiter of waiting.filter(({ count }) => requests.length >= count)) {
				waiting.splice(waiting.indexOf(waiter), 1);
				waiter.resolve();
			}
			let answer: StubAnswer;
			try {
				answer = handler(received);
			} catch (error) {
				answer = { status: 500, body: { stub_error: (error as Error).message } };
			}
			if (answer.hold) return;
			if (answer.hangUp) {
				request.socket.destroy();
				return;
			}
			const text =
				typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
			response.writeHead(answer.status, {
				'content-type':
					typeof answer.body === 'string' ? 'text/plain' : 'application/json; charset=utf-8',
				...answer.headers,
			});
			response.end(text);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		requests,
		received: (count) =>
			requests.length >= count
				? Promise.resolve()
				: new Promise<void>((resolve) => waiting.push({ count, resolve })),
		answer(next) {
			handler = next;
		},
		answerInTurn(...answers) {
			let index = 0;
			handler = () => answers[index++] ?? { status: 500, body: { stub_error: 'no answer left' } };
		},
		reset() {
			requests.length = 0;
			handler = () => ({ status: 200, body: {} });
		},
		close: () =>
			new Promise<void>((resolve, reject) => {
				server.closeAllConnections();
				server.close((error) => (error ? reject(error) : resolve()));
			}),
	};
}
