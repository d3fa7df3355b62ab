import { errors, Pool, type Dispatcher } from 'undici';
import type { AttemptRecord } from '../db/delivery-attempts.js';

export type DeliveryResult =
	| { ok: true; statusCode: number; crmId: string | null; durationMs: number }
	| {
			ok: false;
			statusCode: number | null;
			/** Short, PII-free cause: `crm_http_503`, `crm_timeout`, `crm_network_error`. */
			reason: string;
			error: string;
			/** 5xx, 408, 409, 425, 429, timeouts and network errors are retried; other 4xx are not. */
			retryable: boolean;
			/** The CRM's Retry-After (on 429 and 503), in seconds: no retry before it. */
			retryAfterSeconds: number | null;
			durationMs: number;
			/** No call was made: the circuit breaker holds calls while the CRM keeps failing. */
			skipped?: true;
	  };

export interface CrmClient {
	upsert(payload: Record<string, unknown>): Promise<DeliveryResult>;
	close(): Promise<void>;
}

export interface CrmClientOptions {
	url: string;
	token: string;
	timeoutMs: number;
	connections: number;
}

/**
 * The CRM upsert over a keep-alive undici pool (chosen over got: a fifth of the CPU per call,
 * which the intake benchmark shows). One attempt per call; retries are the DLQ's job.
 */
export function createCrmClient(options: CrmClientOptions): CrmClient {
	const target = new URL(options.url);
	const pool = new Pool(target.origin, { connections: options.connections });
	const headers = { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' };

	return {
		async upsert(payload) {
			const started = performance.now();
			const elapsed = () => Math.round(performance.now() - started);
			try {
				const response = await pool.request({
					method: 'POST',
					path: target.pathname + target.search,
					headers,
					body: JSON.stringify(payload),
					signal: AbortSignal.timeout(options.timeoutMs),
				});
				const { statusCode } = response;
				if (statusCode >= 200 && statusCode < 300) {
					const text = await readAtMost(response.body, MAX_ANSWER_BYTES);
					return { ok: true, statusCode, crmId: readCrmId(text), durationMs: elapsed() };
				}
				await response.body.dump();
				return {
					ok: false,
					statusCode,
					reason: `crm_http_${statusCode}`,
					error: `CRM answered HTTP ${statusCode}`,
					retryable: isRetryableStatus(statusCode),
					retryAfterSeconds:
						statusCode === 429 || statusCode === 503
							? retryAfterSeconds(response.headers['retry-after'])
							: null,
					durationMs: elapsed(),
				};
			} catch (error) {
				const timedOut = isTimeout(error);
				return {
					ok: false,
					statusCode: null,
					reason: timedOut ? 'crm_timeout' : 'crm_network_error',
					error: timedOut
						? `CRM did not answer within ${options.timeoutMs} ms`
						: `CRM unreachable: ${(error as Error).message}`,
					retryable: true,
					retryAfterSeconds: null,
					durationMs: elapsed(),
				};
			}
		},
		close: () => pool.close(),
	};
}

/** What `delivery_attempts` keeps of a delivery. */
export function attemptRecordOf(result: DeliveryResult): AttemptRecord {
	const { statusCode } = result;
	return {
		durationMs: result.durationMs,
		// HTTP has 100-599 (the column's check); a CRM answering 999 would make the write fail
		// every time, and its run or DLQ item could never settle
		statusCode: statusCode !== null && statusCode >= 100 && statusCode <= 599 ? statusCode : null,
		success: result.ok,
		error: result.ok ? null : result.error,
	};
}

/** Client errors that say "try again later" rather than "this request is wrong". */
const RETRYABLE_CLIENT_ERRORS = new Set([408, 409, 425, 429]);
/**
 * Answers about this processor's way to the CRM, not about the lead: a token the CRM no longer
 * takes (401, 403, a proxy's 407), an address that is not the upsert (404, 405, a redirect). Every
 * lead would get the same answer until an operator fixes CRM_TOKEN or CRM_URL, so they are an
 * outage like a 503: retried, and counted by the circuit breaker, which pauses the calls.
 */
const CONFIGURATION_FAULTS = new Set([401, 403, 404, 405, 407]);

function isRetryableStatus(statusCode: number): boolean {
	return (
		statusCode >= 500 ||
		(statusCode >= 300 && statusCode < 400) ||
		RETRYABLE_CLIENT_ERRORS.has(statusCode) ||
		CONFIGURATION_FAULTS.has(statusCode)
	);
}

/** Retry-After as delay-seconds or an HTTP date; null when absent or unreadable. */
function retryAfterSeconds(
	value: string | string[] | undefined,
	now: number = Date.now(),
): number | null {
	const text = (Array.isArray(value) ? value[0] : value)?.trim();
	if (!text) return null;
	if (/^\d{1,10}$/.test(text)) return Number(text);
	const date = Date.parse(text);
	return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

function isTimeout(error: unknown): boolean {
	const name = (error as Error | null)?.name;
	return (
		name === 'TimeoutError' ||
		error instanceof errors.HeadersTimeoutError ||
		error instanceof errors.BodyTimeoutError
	);
}

/** More than an upsert's answer needs: a larger one is not read (the lead is upserted all the same). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The body as text, or null past `limit` bytes (then the rest is not read). */
async function readAtMost(
	body: Dispatcher.ResponseData['body'],
	limit: number,
): Promise<string | null> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of body as AsyncIterable<Buffer>) {
		size += chunk.length;
		if (size > limit) {
			body.destroy();
			return null;
		}
		chunks.push(chunk);
	}
	return Buffer.concat(chunks).toString('utf8');
}

function readCrmId(body: string | null): string | null {
	if (body === null) return null;
	try {
		const parsed = JSON.parse(body) as { crm_id?: unknown };
		return typeof parsed.crm_id === 'string' ? parsed.crm_id : null;
	} catch {
		return null;
	}
}
