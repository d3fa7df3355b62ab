import type { Request } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { HttpError } from '../errors.js';

/** SPEC 3.7: per source (client address and X-Source), 429 with Retry-After beyond the limit. */
export function perSourceRateLimit(perMinute: number) {
	return rateLimit({
		windowMs: 60_000,
		limit: perMinute,
		standardHeaders: 'draft-8',
		legacyHeaders: false,
		keyGenerator: (req: Request) => `${ipKeyGenerator(req.ip ?? '')}|${req.get('x-source') ?? ''}`,
		handler: (_req, _res, next) => {
			next(new HttpError(429, 'rate_limited', `More than ${perMinute} requests per minute from this source`));
		},
	});
}
