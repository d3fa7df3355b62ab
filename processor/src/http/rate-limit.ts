import { ipKeyGenerator, MemoryStore } from 'express-rate-limit';
import type { Sql } from '../db/connection.js';
import { withDeadline } from '../db/deadline.js';
import { countHits, deleteExpiredHits } from '../db/rate-limit-hits.js';
import { HttpError } from '../errors.js';
import { ERR } from '../error-codes.js';
import type { Logger } from '../logger.js';
import type { RateLimitName } from '../vocabulary.js';

const WINDOW_MS = 60_000;

export interface RateLimit {
	/** Counts a request against `key`; 429 with Retry-After beyond the limit. */
	take(key: string): Promise<void>;
	close(): void;
	/** For takeLocally: the process's own count (throws the 429), then what the shared count needs. */
	readonly parts: LimitParts;
}

interface LimitParts {
	name: RateLimitName;
	countLocally(key: string): Promise<void>;
	shared: SharedCounter | undefined;
	/** The shared count of this window answered: 429 past the limit. */
	judge(hits: number, windowStart: number): void;
	/** The shared count failed: passes (`open`) or throws the 503 (`closed`). */
	failed(error: unknown): void;
}

/**
 * Where the limits are counted together by every processor process: a row per key and minute in
 * Postgres (RATE_LIMIT_STORE=postgres), or nowhere (memory: each process counts alone).
 */
export interface SharedCounter {
	sql: Sql;
	/** A count that takes longer is a store failure (`onFailure` decides). */
	deadlineMs: number;
	/** `open`: the request passes on the process's own count; `closed`: 503. */
	onFailure: 'open' | 'closed';
	logger: Logger;
	/** The clock all processes count minutes by (the database's: db/clock.ts). */
	now: () => Date;
}

/**
 * A fixed one-minute window per key. The process's own count comes first (express-rate-limit's
 * store, called directly: the intake route is a plain node:http handler): past the limit here,
 * the request is refused without asking the shared store, so refusals cost no write. Then the
 * shared count of all processes for this minute (one upsert), which is what holds the limit.
 */
export function rateLimit(
	perMinute: number,
	what: string,
	name: RateLimitName,
	shared?: SharedCounter,
): RateLimit {
	const store = new MemoryStore();
	store.init({ windowMs: WINDOW_MS } as Parameters<MemoryStore['init']>[0]);
	let failing = false;
	/** `nowMs`: on the clock `resetMs` is on (the process's, or the shared count's). */
	const refuse = (resetMs: number, nowMs = Date.now()) => {
		const retryAfterSeconds = Math.max(1, Math.ceil((resetMs - nowMs) / 1000));
		return new HttpError(
			429,
			ERR.rate_limited,
			`More than ${perMinute} ${what} per minute`,
			{ limit: name },
			{
				'Retry-After': String(retryAfterSeconds),
			},
		);
	};
	const parts: LimitParts = {
		name,
		async countLocally(key) {
			const { totalHits, resetTime } = await store.increment(key);
			if (totalHits > perMinute) throw refuse(resetTime?.getTime() ?? Date.now() + WINDOW_MS);
		},
		shared,
		judge(hits, windowStart) {
			if (failing) shared?.logger.info({ limit: name }, 'shared rate limit store answers again');
			failing = false;
			if (hits > perMinute) throw refuse(windowStart + WINDOW_MS, shared!.now().getTime());
		},
		failed(error) {
			if (!shared) return;
			if (!failing) {
				shared.logger.warn(
					{ err: error, limit: name, on_failure: shared.onFailure },
					shared.onFailure === 'open'
						? 'shared rate limit store failed: each process counts alone until it answers'
						: 'shared rate limit store failed: requests are refused until it answers',
				);
			}
			failing = true;
			if (shared.onFailure === 'open') return;
			throw new HttpError(
				503,
				ERR.rate_limit_unavailable,
				'The rate limit cannot be checked now',
				{},
				{
					'Retry-After': '5',
				},
			);
		},
	};
	const limit: RateLimit = {
		take: async (key) => countShared(await takeLocally([[limit, key]])),
		close: () => store.shutdown(),
		parts,
	};
	return limit;
}

/**
 * The shared count a request still owes after its own process counted it (takeLocally): made
 * by countShared, a statement of its own before the lead is written (intake-service.ts).
 */
export interface SharedCount {
	sql: Sql;
	deadlineMs: number;
	windowStart: Date;
	/** `<limit>:<key>` per limit. */
	keys: string[];
	/** The window totals after this request: throws the 429 past any limit. */
	judge(hits: ReadonlyMap<string, number>): void;
	/** The count failed: passes (`open`) or throws the 503 (`closed`). */
	failed(error: unknown): void;
}

/**
 * The process's own counts (429 past one, no write); then what the shared count needs, if any.
 * A request's limits (the signer's and the source's) are counted together, their shared counts
 * in ONE statement: every round trip costs the lead's path CPU on both ends. Their shared
 * counters must share one database.
 */
export async function takeLocally(
	takes: readonly (readonly [RateLimit, string])[],
): Promise<SharedCount | null> {
	for (const [limit, key] of takes) await limit.parts.countLocally(key);
	const counted = takes.filter(([limit]) => limit.parts.shared);
	if (counted.length === 0) return null;
	const { sql, deadlineMs, now } = counted[0]![0].parts.shared!;
	const windowStart = Math.floor(now().getTime() / WINDOW_MS) * WINDOW_MS;
	const keys = counted.map(([limit, key]) => `${limit.parts.name}:${key}`);
	return {
		sql,
		deadlineMs,
		windowStart: new Date(windowStart),
		keys,
		judge(hits) {
			counted.forEach(([limit], index) =>
				limit.parts.judge(hits.get(keys[index]!) ?? 0, windowStart),
			);
		},
		failed(error) {
			for (const [limit] of counted) limit.parts.failed(error);
		},
	};
}

/** Makes a shared count on its own statement (none owed: nothing). */
export async function countShared(count: SharedCount | null): Promise<void> {
	if (!count) return;
	let hits: Map<string, number>;
	try {
		hits = await withDeadline(
			countHits(count.sql, count.keys, count.windowStart),
			count.deadlineMs,
		);
	} catch (error) {
		count.failed(error);
		return;
	}
	count.judge(hits);
}

/** Expired windows are deleted in small batches, by every processor (any one is enough). */
export function startRateLimitCleanup(sql: Sql, logger: Logger, now: () => Date): { stop(): void } {
	const timer = setInterval(() => {
		deleteExpiredWindows(sql, new Date(now().getTime() - 2 * WINDOW_MS)).catch((error: unknown) =>
			logger.debug({ err: error }, 'expired rate limit windows not deleted; the next pass will'),
		);
	}, WINDOW_MS).unref();
	return { stop: () => clearInterval(timer) };
}

/**
 * Every window that ended before `before`, a batch per statement until one comes back short: a
 * flood from many addresses leaves more than one batch a minute, and each row names a client
 * address, which may stay no longer than two windows (docs/privacy.md). Returns how many.
 */
export async function deleteExpiredWindows(sql: Sql, before: Date, batch = 5000): Promise<number> {
	let deleted = 0;
	for (let pass = 0; pass < 1000; pass++) {
		const rows = await deleteExpiredHits(sql, before, batch);
		deleted += rows;
		if (rows < batch) break;
	}
	return deleted;
}

/** A client address as a rate-limit key (IPv6 by its /56, so one host cannot rotate through its range). */
export function clientKey(address: string | undefined): string {
	return ipKeyGenerator(address ?? '');
}
