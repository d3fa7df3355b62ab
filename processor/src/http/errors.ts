import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isBusyError, isConnectionError } from '../db/connection.js';
import { HttpError } from '../errors.js';
import { shownPath } from './request-logging.js';
import { sendJson } from './send-json.js';
import { ERR } from '../error-codes.js';

/**
 * The one place where errors become HTTP answers: always JSON `{detail, code, correlation_id}`,
 * never a stack trace. Unexpected errors are attached to the response so the request log line
 * records them (once, with the correlation id).
 */
export function sendError(req: IncomingMessage, res: ServerResponse, error: unknown): void {
	const answer = toHttpError(error);
	if (answer.status >= 500) res.err = error as Error;
	if (res.headersSent) return void res.destroy();
	sendJson(
		res,
		answer.status,
		{ detail: answer.message, code: answer.code, ...answer.details, correlation_id: req.id },
		answer.headers,
	);
}

export const errorHandler: ErrorRequestHandler = (error, req, res, _next) =>
	sendError(req, res, error);

export const notFound: RequestHandler = (req, _res, next) => {
	next(new HttpError(404, ERR.not_found, `No route for ${req.method} ${shownPath(req.path)}`));
};

function toHttpError(error: unknown): HttpError {
	if (error instanceof HttpError) return error;
	const type = (error as { type?: string } | null)?.type;
	if (type === 'entity.parse.failed')
		return new HttpError(400, ERR.invalid_json, 'Request body is not valid JSON');
	if (type === 'request.size.invalid') {
		return new HttpError(
			400,
			ERR.content_length_mismatch,
			'The body is not as long as Content-Length says',
		);
	}
	if (type === 'request.aborted')
		return new HttpError(400, ERR.request_aborted, 'The client stopped sending the body');
	if (type === 'entity.too.large') {
		const limit = (error as { limit?: number }).limit;
		return new HttpError(413, ERR.payload_too_large, `Request body is larger than ${limit} bytes`);
	}
	const unreadable = unreadableRequest(error);
	if (unreadable) return unreadable;
	if (isConnectionError(error) || isBusyError(error)) {
		return new HttpError(
			503,
			ERR.database_unavailable,
			isBusyError(error)
				? 'The records this request needs are held by other work right now; try again shortly'
				: 'The database is unavailable; try again shortly',
			{},
			{ 'Retry-After': '5' },
		);
	}
	return new HttpError(
		500,
		ERR.internal_error,
		'Internal error; quote the correlation id when reporting it',
	);
}

/**
 * What express's body parser and router refuse (an http-errors 4xx `status`): a compressed body
 * that does not decompress, an unknown Content-Encoding or charset, a path that is not valid
 * percent-encoding. The client's mistake, so a 4xx, never a 500.
 */
function unreadableRequest(error: unknown): HttpError | null {
	const { status, type, code } = (error ?? {}) as {
		status?: unknown;
		type?: string;
		code?: string;
	};
	if (typeof status !== 'number' || status < 400 || status > 499) return null;
	if (type === 'encoding.unsupported') {
		return new HttpError(
			415,
			ERR.unsupported_content_encoding,
			'Content-Encoding must be gzip, deflate, br or identity',
		);
	}
	if (type === 'charset.unsupported')
		return new HttpError(415, ERR.unsupported_charset, 'JSON bodies must be UTF-8');
	if (error instanceof URIError)
		return new HttpError(400, ERR.invalid_path, 'The path is not valid percent-encoding');
	if (code?.startsWith('Z_'))
		return new HttpError(400, ERR.invalid_body, 'The body does not decompress (Content-Encoding)');
	return new HttpError(status, ERR.bad_request, 'The request could not be read');
}
