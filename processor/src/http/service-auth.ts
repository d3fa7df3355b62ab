import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from '../errors.js';
import { clientKey, type RateLimit } from './rate-limit.js';
import { ERR } from '../error-codes.js';

/**
 * Internal and operator endpoints need `Authorization: Bearer <SERVICE_TOKEN>`. A wrong or
 * missing token counts against the client's address: past `refused`'s limit it is answered 429
 * (Retry-After) instead of 401, and logged at debug level only. The right token is never counted
 * and never refused, so n8n's workflows keep working beside whoever shares their address.
 */
export function requireServiceToken(token: string, refused: RateLimit): RequestHandler {
	const expected = digest(token);
	return async (req, res, next) => {
		const offered = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
		// compared as digests: constant time whatever the offered length
		if (offered && timingSafeEqual(digest(offered), expected)) return next();
		try {
			await refused.take(clientKey(req.socket.remoteAddress));
		} catch (error) {
			res.quiet = true;
			return next(error);
		}
		next(
			new HttpError(
				401,
				ERR.unauthorized,
				'A valid service token is required (Authorization: Bearer ...)',
				{},
				{ 'WWW-Authenticate': 'Bearer' },
			),
		);
	};
}

/**
 * A request body must be `application/json`: the JSON parser skips any other, and the operation
 * would run as if nothing had been sent (a replay without its `dry_run`). It must not say it is
 * longer than `limitBytes` either (the parser would read all of it before refusing). Both are
 * refused before the body is read; a request without a body passes.
 */
export function requireJsonBody(limitBytes: number): RequestHandler {
	return (req, _res, next) => {
		const length = req.headers['content-length'];
		const hasBody =
			req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
		if (!hasBody) return next();
		if (!req.is('application/json')) {
			return next(
				new HttpError(
					415,
					ERR.unsupported_content_type,
					'Send the body as JSON (Content-Type: application/json)',
				),
			);
		}
		if (length !== undefined && Number(length) > limitBytes) {
			return next(
				new HttpError(
					413,
					ERR.payload_too_large,
					`Request body is larger than ${limitBytes} bytes`,
				),
			);
		}
		next();
	};
}

function digest(value: string): Buffer {
	return createHash('sha256').update(value).digest();
}
