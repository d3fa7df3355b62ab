import { ipKeyGenerator, MemoryStore } from 'express-rate-limit';
import { HttpError } from '../errors.js';
import { ERR } from '../error-codes.js';

const WINDOW_MS = 60_000;

export interface RateLimit {
	/** Counts a request against `key`; 429 with Retry-After beyond the limit. */
	take(key: string): Promise<void>;
	close(): void;
}

/**
 * A fixed one-minute window per key (express-rate-limit's store, called directly: the intake
 * route is a plain node:http handler).
 */
export function rateLimit(perMinute: number, what: string): RateLimit {
	const store = new MemoryStore();
	store.init({ windowMs: WINDOW_MS } as Parameters<MemoryStore['init']>[0]);
	const refuse = (resetTime: Date | undefined) => {
		const retryAfterSeconds = Math.max(
			1,
			Math.ceil(((resetTime?.getTime() ?? Date.now() + WINDOW_MS) - Date.now()) / 1000),
		);
		return new HttpError(
			429,
			ERR.rate_limited,
			`More than ${perMinute} ${what} per minute`,
			{},
			{
				'Retry-After': String(retryAfterSeconds),
			},
		);
	};
	return {
		async take(key) {
			const { totalHits, resetTime } = await store.increment(key);
			if (totalHits > perMinute) throw refuse(resetTime);
		},
		close: () => store.shutdown(),
	};
}

/** A client address as a rate-limit key (IPv6 by its /56, so one host cannot rotate through its range). */
export function clientKey(address: string | undefined): string {
	return ipKeyGenerator(address ?? '');
}
