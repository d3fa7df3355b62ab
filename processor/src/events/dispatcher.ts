import { Pool } from 'undici';
import type { Sql } from '../db/connection.js';
import {
	claimDueEvents,
	dropUnsubscribed,
	markSent,
	pruneEvents,
	renewClaims,
	reschedule,
	type OutboxEvent,
} from '../db/outcome-events.js';
import { startLoop, type Loop } from '../delivery/loop.js';
import { batchWorstCaseMs, mapConcurrently } from '../concurrency.js';
import { signV2, type SigningKey } from '../intake/signature.js';
import type { Logger } from '../logger.js';
import { OUTCOME_EVENT_TYPES, type OutcomeEvent, type OutcomeEventType } from '../vocabulary.js';

export interface DispatcherOptions {
	sql: Sql;
	/** Where events go (n8n's Lead Outcome Trigger webhook). */
	url: string;
	/** The types the receiver subscribes to (EVENTS_TYPES): others are dropped unsent. */
	types: readonly OutcomeEventType[];
	/** EVENTS_SECRET, then EVENTS_SECRET_PREVIOUS during a rotation: one signature each. */
	keys: readonly SigningKey[];
	owner: string;
	batch: number;
	concurrency: number;
	timeoutMs: number;
	/** Waits after a refused attempt: the nth for the nth failure, the last one repeating. */
	backoffSeconds: readonly number[];
	pollMs: number;
	deadlineMs: number;
	now: () => Date;
	logger: Logger;
}

/** The body POSTed for an event: the envelope of vocabulary.ts, as the outbox holds it. */
export function eventBody(event: OutboxEvent): OutcomeEvent {
	return {
		type: event.event_type,
		timestamp: event.occurred_at.toISOString(),
		data: event.data,
		// the trigger that wrote the row built `data` in the shape OutcomeData declares
	} as unknown as OutcomeEvent;
}

/** Standard Webhooks headers: one `v1,` signature per key, over `<id>.<timestamp>.<body>`. */
export function signedHeaders(
	keys: readonly SigningKey[],
	webhookId: string,
	timestamp: string,
	body: string,
): Record<string, string> {
	const raw = Buffer.from(body, 'utf8');
	return {
		'content-type': 'application/json',
		'webhook-id': webhookId,
		'webhook-timestamp': timestamp,
		'webhook-signature': keys.map(({ key }) => signV2(key, webhookId, timestamp, raw)).join(' '),
	};
}

/** Events of a type this process does not send are dropped once this old (dropUnsubscribed). */
export const UNSUBSCRIBED_GRACE_MS = 10 * 60 * 1000;
const DROP_LIMIT = 1000;

/**
 * Sends the outbox: claims a bounded batch of due events with a lease (a killed processor's
 * claims are due again after it), POSTs each signed, marks it sent on a 2xx and otherwise
 * schedules it again with backoff. At least once: a receiver drops repeats by `webhook-id`.
 * Events of types the receiver does not subscribe to are dropped, never sent: each would cost the
 * receiver a request (in n8n, a webhook call per lead) for nothing.
 */
export function startDispatcher(options: DispatcherOptions): Loop {
	const target = new URL(options.url);
	const pool = new Pool(target.origin, { connections: options.concurrency });
	// a stop does not wait out EVENTS_TIMEOUT_MS: the sends under way are cut, and rescheduled
	const stopping = new AbortController();
	// a claim lasts one round of sends and their writes, and is renewed while its batch is worked:
	// a killed processor's unsent events are due again that soon, not after the longest its whole
	// batch could have taken (EVENTS_BATCH / EVENTS_CONCURRENCY rounds of the timeout)
	const leaseMs = batchWorstCaseMs(
		options.concurrency,
		options.concurrency,
		options.timeoutMs,
		options.deadlineMs,
	);
	const renewEveryMs = Math.ceil(leaseMs / 3);
	const subscribesToAll = OUTCOME_EVENT_TYPES.every((type) => options.types.includes(type));
	/**
	 * Each event is settled as soon as its attempt ends: an acknowledged one is marked sent at once,
	 * so a kill or a slow neighbour in the batch never gets it sent again.
	 */
	const settle = async (event: OutboxEvent) => {
		const error = await send(pool, target, options, event, stopping.signal);
		const stopped = error !== null && stopping.signal.aborted;
		const delays = options.backoffSeconds;
		const delay = delays[Math.min(event.attempts, delays.length) - 1] ?? delays[0]!;
		const write =
			error === null
				? markSent(options.sql, [event.event_id], options.owner, options.deadlineMs)
				: reschedule(
						options.sql,
						{
							eventId: event.event_id,
							owner: options.owner,
							// cut by a stop, not refused: due at once, and no step further in the backoff
							nextAttemptAt: new Date(options.now().getTime() + (stopped ? 0 : delay * 1000)),
							error,
							uncount: stopped,
						},
						options.deadlineMs,
					);
		await write.catch((failure: unknown) =>
			options.logger.warn(
				{ err: failure, event_id: event.event_id },
				'an outcome event could not be settled; it is due again when its claim ends',
			),
		);
	};
	const dropLeftovers = () => {
		const now = options.now();
		return dropUnsubscribed(options.sql, {
			types: options.types,
			before: new Date(now.getTime() - UNSUBSCRIBED_GRACE_MS),
			now,
			limit: DROP_LIMIT,
			deadlineMs: options.deadlineMs,
		}).catch((failure: unknown) => {
			options.logger.warn({ err: failure }, 'unsubscribed outcome events could not be dropped');
			return 0;
		});
	};
	const loop = startLoop(
		async () => {
			const now = options.now();
			const events = await claimDueEvents(options.sql, {
				owner: options.owner,
				now,
				leaseUntil: new Date(now.getTime() + leaseMs),
				limit: options.batch,
				types: options.types,
				deadlineMs: options.deadlineMs,
			});
			const unsettled = new Set(events.map((event) => event.event_id));
			const renewal = keepClaimed(unsettled, renewEveryMs, () => {
				const leaseUntil = new Date(options.now().getTime() + leaseMs);
				return renewClaims(options.sql, {
					eventIds: [...unsettled],
					owner: options.owner,
					leaseUntil,
					deadlineMs: options.deadlineMs,
				}).catch((failure: unknown) => {
					options.logger.warn(
						{ err: failure },
						'the claim on outcome events being sent could not be renewed; another processor may send them too',
					);
				});
			});
			try {
				await mapConcurrently(events, options.concurrency, async (event) => {
					await settle(event);
					unsettled.delete(event.event_id);
				});
			} finally {
				renewal.stop();
			}
			// housekeeping after the sends, so that a slow one never holds them up
			const dropped = subscribesToAll ? 0 : await dropLeftovers();
			return events.length === options.batch || dropped === DROP_LIMIT;
		},
		{ pollMs: options.pollMs, logger: options.logger, name: 'events' },
	);
	return {
		wake: loop.wake,
		async stop() {
			stopping.abort();
			await loop.stop();
			await pool.close();
		},
	};
}

/** Renews a claim every `everyMs` while some of it is unsettled; one renewal at a time. */
function keepClaimed(
	unsettled: ReadonlySet<string>,
	everyMs: number,
	renew: () => Promise<unknown>,
): { stop(): void } {
	let renewing = false;
	const timer = setInterval(() => {
		if (renewing || unsettled.size === 0) return;
		renewing = true;
		void renew().finally(() => {
			renewing = false;
		});
	}, everyMs);
	return { stop: () => clearInterval(timer) };
}

/** One attempt: null when acknowledged (2xx), else why not (no body, no secret in it). */
async function send(
	pool: Pool,
	target: URL,
	options: DispatcherOptions,
	event: OutboxEvent,
	stopped: AbortSignal,
): Promise<string | null> {
	const body = JSON.stringify(eventBody(event));
	const timestamp = String(Math.floor(options.now().getTime() / 1000));
	try {
		const response = await pool.request({
			method: 'POST',
			path: target.pathname + target.search,
			headers: signedHeaders(options.keys, event.webhook_id, timestamp, body),
			body,
			signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), stopped]),
		});
		// the answer is not read: bounded work whatever the receiver sends back
		await response.body.dump();
		if (response.statusCode >= 200 && response.statusCode < 300) return null;
		return `the receiver answered HTTP ${response.statusCode}`;
	} catch (error) {
		const name = (error as Error).name;
		if (stopped.aborted) return 'the processor stopped before the receiver answered';
		return name === 'TimeoutError' || name === 'AbortError'
			? `the receiver did not answer within ${options.timeoutMs} ms`
			: `the receiver cannot be reached: ${(error as Error).message.slice(0, 200)}`;
	}
}

/** Keeps the outbox bounded: sent events (and, with no EVENTS_URL, unsent ones) past retention. */
export function startEventPruning(options: {
	sql: Sql;
	retentionHours: number;
	pendingToo: boolean;
	now: () => Date;
	logger: Logger;
}): Loop {
	return startLoop(
		async () => {
			const before = new Date(options.now().getTime() - options.retentionHours * 3600 * 1000);
			const pruned = await pruneEvents(options.sql, {
				before,
				pendingToo: options.pendingToo,
				limit: 1000,
			});
			return pruned === 1000;
		},
		{ pollMs: 10 * 60 * 1000, logger: options.logger, name: 'events-pruning' },
	);
}
