import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { Sql } from '../db/connection.js';
import {
	claimDueEvents,
	dropUnsubscribed,
	markSent,
	pruneEvents,
	releaseClaims,
	renewClaims,
	reschedule,
	type OutboxEvent,
} from '../db/outcome-events.js';
import { startLoop, type Loop } from '../delivery/loop.js';
import { batchWorstCaseMs } from '../concurrency.js';
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
 * Sends the outbox: claims due events with a lease (a killed processor's claims are due again
 * after it), POSTs each signed, marks it sent on a 2xx and otherwise schedules it again with
 * backoff. At least once: a receiver drops repeats by `webhook-id`. Up to `concurrency` sends are
 * under way at any time, each settled on its own: a receiver that holds one event until the
 * timeout holds one send, never the others, and the free sends are claimed again as soon as half
 * of them are free. Events of types the receiver does not subscribe to are dropped, never sent:
 * each would cost the receiver a request (in n8n, a webhook call per lead) for nothing.
 */
export function startDispatcher(options: DispatcherOptions): Loop {
	const target = new URL(options.url);
	// the pool's own timeouts back up each send's: no socket waits longer than one attempt may
	const pool = new Pool(target.origin, {
		connections: options.concurrency,
		headersTimeout: options.timeoutMs,
		bodyTimeout: options.timeoutMs,
	});
	// a stop does not wait out EVENTS_TIMEOUT_MS: the sends under way are cut, and rescheduled
	const stopping = new AbortController();
	// a claim lasts one send and its write, and is renewed while the send is under way: a killed
	// processor's unsent events are due again that soon
	const leaseMs = batchWorstCaseMs(
		options.concurrency,
		options.concurrency,
		options.timeoutMs,
		options.deadlineMs,
	);
	const subscribesToAll = OUTCOME_EVENT_TYPES.every((type) => options.types.includes(type));
	const refillAt = Math.floor(options.concurrency / 2);
	/** Claimed by this dispatcher and not settled yet: the sends under way. */
	const inFlight = new Map<string, Promise<void>>();
	/** A claim failed on this side: it may have committed all the same, and left events leased here. */
	let claimMayHaveLeaked = false;
	/**
	 * Each event is settled as soon as its attempt ends: an acknowledged one is marked sent at once,
	 * so a kill or a slow neighbour never gets it sent again.
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
	const renewal = keepClaimed(inFlight, Math.ceil(leaseMs / 3), () => {
		const leaseUntil = new Date(options.now().getTime() + leaseMs);
		return renewClaims(options.sql, {
			eventIds: [...inFlight.keys()],
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
	/** Claims as many due events as there are free sends, and starts them. True if all were due. */
	const claimAndStart = async (): Promise<boolean> => {
		const room = Math.min(options.batch, options.concurrency - inFlight.size);
		if (room <= 0 || stopping.signal.aborted) return false;
		if (claimMayHaveLeaked) {
			await releaseClaims(options.sql, {
				owner: options.owner,
				except: [...inFlight.keys()],
				deadlineMs: options.deadlineMs,
			});
			claimMayHaveLeaked = false;
		}
		const now = options.now();
		const events = await claimDueEvents(options.sql, {
			owner: options.owner,
			now,
			leaseUntil: new Date(now.getTime() + leaseMs),
			limit: room,
			types: options.types,
			deadlineMs: options.deadlineMs,
		}).catch((failure: unknown) => {
			claimMayHaveLeaked = true;
			throw failure;
		});
		for (const event of events) {
			const sending = settle(event).finally(() => {
				inFlight.delete(event.event_id);
				if (inFlight.size <= refillAt) loop.wake();
			});
			inFlight.set(event.event_id, sending);
		}
		return events.length === room;
	};
	const loop = startLoop(
		async () => {
			const full = await claimAndStart();
			// housekeeping after the claim, so that it never holds up a send
			const dropped = subscribesToAll ? 0 : await dropLeftovers();
			return full || dropped === DROP_LIMIT;
		},
		{ pollMs: options.pollMs, logger: options.logger, name: 'events' },
	);
	return {
		wake: loop.wake,
		async stop() {
			stopping.abort();
			await loop.stop();
			await Promise.all(inFlight.values());
			renewal.stop();
			await pool.close();
		},
	};
}

/** Renews a claim every `everyMs` while some of it is unsettled; one renewal at a time. */
function keepClaimed(
	unsettled: ReadonlyMap<string, unknown>,
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
	timer.unref();
	return { stop: () => clearInterval(timer) };
}

/** The most of a refusal's body read, for the `code` a receiver such as the trigger answers. */
const REFUSAL_READ_BYTES = 1024;

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
	// not AbortSignal.any: on Node.js 20 it holds its timeout weakly, and a collected timeout
	// never fires (nodejs/node#57736)
	const attempt = new AbortController();
	const timer = setTimeout(
		() => attempt.abort(new DOMException('the attempt timed out', 'TimeoutError')),
		options.timeoutMs,
	);
	const cut = () => attempt.abort(stopped.reason);
	if (stopped.aborted) cut();
	else stopped.addEventListener('abort', cut, { once: true });
	try {
		const response = await pool.request({
			method: 'POST',
			path: target.pathname + target.search,
			headers: signedHeaders(options.keys, event.webhook_id, timestamp, body),
			body,
			signal: attempt.signal,
		});
		if (response.statusCode >= 200 && response.statusCode < 300) {
			// an acknowledgement's body is not read: bounded work whatever the receiver sends back
			await response.body.dump();
			return null;
		}
		const code = refusalCode(await leadingBytes(response.body, REFUSAL_READ_BYTES));
		return `the receiver answered HTTP ${response.statusCode}${code ? ` (${code})` : ''}`;
	} catch (error) {
		const name = (error as Error).name;
		if (stopped.aborted) return 'the processor stopped before the receiver answered';
		return name === 'TimeoutError' || name === 'AbortError'
			? `the receiver did not answer within ${options.timeoutMs} ms`
			: `the receiver cannot be reached: ${(error as Error).message.slice(0, 200)}`;
	} finally {
		clearTimeout(timer);
		stopped.removeEventListener('abort', cut);
	}
}

/** Up to `limit` bytes of a body; the rest is not read (the connection is given up instead). */
async function leadingBytes(body: Readable, limit: number): Promise<Buffer> {
	const chunks: Buffer[] = [];
	let length = 0;
	for await (const chunk of body) {
		chunks.push(chunk as Buffer);
		length += (chunk as Buffer).length;
		if (length >= limit) break;
	}
	body.destroy();
	return Buffer.concat(chunks).subarray(0, limit);
}

const CODE_PATTERN = /^[a-z0-9_.-]{1,64}$/i;

/**
 * The `code` of a JSON refusal (the Lead Outcome Trigger answers one: `signature_invalid`,
 * `timestamp_out_of_tolerance`, …), so that an operator can tell a wrong secret from a clock
 * that drifted. Only a short token is kept: nothing else a receiver answers reaches the outbox.
 */
function refusalCode(raw: Buffer): string | null {
	try {
		const code = (JSON.parse(raw.toString('utf8')) as { code?: unknown } | null)?.code;
		return typeof code === 'string' && CODE_PATTERN.test(code) ? code : null;
	} catch {
		return null;
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
