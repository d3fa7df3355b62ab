import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';

/*
 * Clients that send a large body the way a proxy or a streaming lead source does, for the tests
 * that every answer reaches its client even when the server answered before reading the body.
 */

export interface StreamedAnswer {
	/** 0: no answer arrived. */
	status: number;
	headers: Record<string, string>;
	body: string;
	/** Bytes of the body written before the connection ended or the body was done. */
	sent: number;
	/** The error writing the body met (EPIPE, ECONNRESET), if any. */
	writeError: string | null;
	/** When the answer's first byte arrived, and when the connection closed (ms from the start). */
	answeredMs: number | null;
	closedMs: number;
	/** Everything received, as text (to see that exactly one answer came). */
	raw: string;
}

export interface StreamOptions {
	port: number;
	host?: string;
	/** The request line and headers, without the blank line that ends them. */
	head: string;
	bodyBytes: number;
	chunkBytes?: number;
	/** A pause after each chunk: a slow sender. */
	pauseMs?: number;
	/**
	 * false (default): the answer is read only once the whole body is sent (a client that sends,
	 * then reads); true: read as it arrives.
	 */
	readWhileSending?: boolean;
	/** Send the body as HTTP chunks (no Content-Length in `head`). */
	chunked?: boolean;
	timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One request over a raw socket: head, then the body chunk by chunk as the socket takes it. */
export function streamRequest(options: StreamOptions): Promise<StreamedAnswer> {
	const chunkBytes = options.chunkBytes ?? 64 * 1024;
	const timeoutMs = options.timeoutMs ?? 30_000;
	return new Promise((resolve, reject) => {
		const started = performance.now();
		const socket = connect({ port: options.port, host: options.host ?? '127.0.0.1' });
		const received: Buffer[] = [];
		let answeredMs: number | null = null;
		let sent = 0;
		let writeError: string | null = null;
		let closed = false;
		const timer = setTimeout(() => {
			socket.destroy();
			reject(new Error(`no end within ${timeoutMs} ms (sent ${sent} bytes)`));
		}, timeoutMs);
		if (!options.readWhileSending) socket.pause();
		socket.on('data', (chunk: Buffer) => {
			answeredMs ??= performance.now() - started;
			received.push(chunk);
		});
		socket.on('error', (error: NodeJS.ErrnoException) => {
			writeError ??= error.code ?? error.message;
		});
		socket.on('close', () => {
			closed = true;
			clearTimeout(timer);
			resolve({
				...parseAnswer(Buffer.concat(received)),
				sent,
				writeError,
				answeredMs,
				closedMs: performance.now() - started,
			});
		});
		const write = (bytes: Buffer | string) =>
			new Promise<boolean>((done) => {
				if (closed || socket.destroyed || !socket.writable) return done(false);
				const onClose = () => done(false);
				socket.once('close', onClose);
				socket.write(bytes, (error) => {
					socket.off('close', onClose);
					done(!error);
				});
			});
		socket.on('connect', async () => {
			await write(`${options.head}\r\n\r\n`);
			const chunk = Buffer.alloc(chunkBytes, 'x');
			while (sent < options.bodyBytes) {
				const size = Math.min(chunkBytes, options.bodyBytes - sent);
				const piece = chunk.subarray(0, size);
				const framed = options.chunked
					? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
					: piece;
				if (!(await write(framed))) break;
				sent += size;
				if (options.pauseMs) await sleep(options.pauseMs);
			}
			if (options.chunked && sent === options.bodyBytes) await write('0\r\n\r\n');
			// the whole body is out (or the connection is gone): now read the answer
			socket.resume();
			if (!closed && socket.writable) socket.end();
		});
	});
}

/** One request with node's own HTTP client, its body streamed from a Readable. */
export function streamWithNodeClient(options: {
	port: number;
	method?: string;
	path: string;
	headers: Record<string, string>;
	bodyBytes: number;
}): Promise<{ status: number; body: string; requestError: string | null }> {
	return new Promise((resolve, reject) => {
		let requestError: string | null = null;
		let answered = false;
		let left = options.bodyBytes;
		const chunk = Buffer.alloc(64 * 1024, 'x');
		const body = new Readable({
			read() {
				if (left <= 0) return void this.push(null);
				const size = Math.min(chunk.length, left);
				left -= size;
				this.push(chunk.subarray(0, size));
			},
		});
		const req = httpRequest(
			{
				host: '127.0.0.1',
				port: options.port,
				method: options.method ?? 'POST',
				path: options.path,
				headers: options.headers,
				agent: false,
			},
			(res) => {
				answered = true;
				const parts: Buffer[] = [];
				res.on('data', (part: Buffer) => parts.push(part));
				res.on('end', () =>
					resolve({
						status: res.statusCode ?? 0,
						body: Buffer.concat(parts).toString('utf8'),
						requestError,
					}),
				);
				res.on('error', reject);
			},
		);
		req.on('error', (error: NodeJS.ErrnoException) => {
			requestError = error.code ?? error.message;
			// an error before any answer is the failure under test
			if (!answered) reject(new Error(`no answer: ${requestError}`));
		});
		body.pipe(req);
	});
}

function parseAnswer(bytes: Buffer): Pick<StreamedAnswer, 'status' | 'headers' | 'body' | 'raw'> {
	const raw = bytes.toString('latin1');
	const end = bytes.indexOf('\r\n\r\n');
	if (end === -1) return { status: 0, headers: {}, body: '', raw };
	const [statusLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
	const headers: Record<string, string> = {};
	for (const line of lines) {
		const colon = line.indexOf(':');
		headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
	}
	const length = Number(headers['content-length'] ?? NaN);
	const rest = bytes.subarray(end + 4);
	const body = (Number.isNaN(length) ? rest : rest.subarray(0, length)).toString('utf8');
	return { status: Number(statusLine!.split(' ')[1]), headers, body, raw };
}
