import type { IncomingMessage } from 'node:http';
import { ipKeyGenerator, MemoryStore } from 'express-rate-limit';
import { HttpError } from '../errors.js';

const WINDOW_MS = 60_000;

/**
 * SPEC 3.7: per source (client address and X-Source), 429 with Retry-After beyond the limit.
 * express-rate-limit's fixed-window store, called directly: the intake route is a plain
 * node:http handler (see app.ts).
 */
export function perSourceRateLimit(perMinute: number): (req: IncomingMessage) => Promise<void> {
	const store = new MemoryStore();
	store.init({ windowMs: WINDOW_MS } as Parameters<MemoryStore['init']>[0]);
	return async (req) => {
		const source = req.headers['x-source'] ?? '';
		const { totalHits, resetTime } = await store.increment(
			`${ipKeyGenerator(req.socket.remoteAddress ?? '')}|${String(source)}`,
		);
		if (totalHits <= perMinute) return;
		const retryAfterSeconds = Math.max(
			1,
			Math.ceil(((resetTime?.getTime() ?? Date.now() + WINDOW_MS) - Date.now()) / 1000),
		);
		throw new HttpError(
			429,
			'rate_limited',
			`More than ${perMinute} requests per minute from this source`,
			{},
			{
				'Retry-After': String(retryAfterSeconds),
			},
		);
	};
}
