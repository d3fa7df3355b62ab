import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from '../errors.js';

/** Internal and operator endpoints need `Authorization: Bearer <SERVICE_TOKEN>`. */
export function requireServiceToken(token: string): RequestHandler {
	const expected = digest(token);
	return (req, _res, next) => {
		const offered = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
		// compared as digests: constant time whatever the offered length
		if (offered && timingSafeEqual(digest(offered), expected)) return next();
		next(
			new HttpError(
				401,
				'unauthorized',
				'A valid service token is required (Authorization: Bearer ...)',
				{},
				{ 'WWW-Authenticate': 'Bearer' },
			),
		);
	};
}

function digest(value: string): Buffer {
	return createHash('sha256').update(value).digest();
}
