import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import type { RefusalLogBudget } from './log-budget.js';
import { isDiscarding } from './read-to-the-end.js';
import { correlationIdOf } from './request-logging.js';
import { sendJson } from './send-json.js';
import { ERR } from '../error-codes.js';

/**
 * node:http's `clientError`: what it refuses before any handler runs (not HTTP/1.1, headers over
 * the limit, Content-Length and Transfer-Encoding together, a client too slow with its headers
 * or body). Answered with the same JSON body as every other error instead of node's bodiless
 * default, and only while nothing of a response was written yet (as node's own default does).
 */
export function answerClientError(logger: Logger, loud: RefusalLogBudget) {
	return (error: Error & { code?: string }, socket: Duplex): void => {
		const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
		// answered already, the rest of its body was being dropped (read-to-the-end.ts): only close
		if (
			error.code === 'ECONNRESET' ||
			!socket.writable ||
			response?.headersSent ||
			isDiscarding(socket)
		) {
			socket.destroy();
			return;
		}
		const [status, code, detail] = refusalOf(error.code);
		const correlationId = randomUUID();
		const body = JSON.stringify({ detail, code, correlation_id: correlationId });
		socket.write(
			`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
				'Content-Type: application/json; charset=utf-8\r\n' +
				`Content-Length: ${Buffer.byteLength(body)}\r\n` +
				`X-Correlation-ID: ${correlationId}\r\n` +
				`Connection: close\r\n\r\n${body}`,
		);
		// closed once the answer is flushed: a refused client keeps no connection
		(socket as Duplex & { destroySoon(): void }).destroySoon();
		logger[loud((socket as Duplex & { remoteAddress?: string }).remoteAddress) ? 'warn' : 'debug'](
			{ correlation_id: correlationId, res: { status }, reason: error.code ?? 'unknown' },
			'request refused before it was read',
		);
	};
}

/**
 * node:http's `checkExpectation`: an `Expect` other than 100-continue is refused with 417 in the
 * same JSON form (node's own 417 has no body).
 */
export function refuseExpectation(logger: Logger, loud: RefusalLogBudget) {
	return (req: IncomingMessage, res: ServerResponse): void => {
		const correlationId = correlationIdOf(req, res);
		sendJson(res, 417, {
			detail: 'Only "Expect: 100-continue" is supported',
			code: ERR.expectation_failed,
			correlation_id: correlationId,
		});
		logger[loud(req.socket.remoteAddress) ? 'warn' : 'debug'](
			{ correlation_id: correlationId, res: { status: 417 } },
			'request refused: unsupported Expect',
		);
	};
}

function refusalOf(code: string | undefined): [number, string, string] {
	switch (code) {
		case 'ERR_HTTP_REQUEST_TIMEOUT':
			return [
				408,
				ERR.request_timeout,
				'The request was not received in time (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS)',
			];
		case 'HPE_HEADER_OVERFLOW':
			return [431, ERR.headers_too_large, 'The request headers are larger than 16 KB'];
		case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
			return [413, ERR.payload_too_large, 'The chunk extensions are too large'];
		default:
			return [400, ERR.bad_request, 'The request is not valid HTTP/1.1'];
	}
}
