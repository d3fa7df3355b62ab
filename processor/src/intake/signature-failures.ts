import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Sql } from '../db/connection.js';
import { recordSignatureFailures, type SignatureFailures } from '../db/signature-failures.js';
import type { Logger } from '../logger.js';
import { sanitizeHeaders } from '../pii/sanitize.js';
import type { SignatureFailureCode } from './signature.js';

export interface SignatureFailureLog {
	/**
	 * Counts one refused request (in memory: a refusal costs no write of its own). `rawBody` is
	 * null for a request refused on its headers alone, before its body was read.
	 */
	record(code: SignatureFailureCode, req: IncomingMessage, rawBody: Buffer | null): void;
	/** Writes what was counted: one row per reason and time bucket. */
	flush(): Promise<void>;
	close(): Promise<void>;
}

/**
 * Refused signatures (401/409) are kept for investigation as an alerting DLQ entry per reason
 * and time bucket, counting repeats, so a flood can neither fill the table nor turn every
 * refusal into a write on one hot row: refusals are counted in memory and written every few
 * seconds. The body is not kept (it is unauthenticated): only its size and hash.
 */
export function signatureFailureLog(
	sql: Sql,
	options: { bucketSeconds: number; flushSeconds: number; now: () => Date; logger: Logger },
): SignatureFailureLog {
	let pending = new Map<string, SignatureFailures>();
	const flush = async () => {
		if (pending.size === 0) return;
		const batch = pending;
		pending = new Map();
		try {
			await recordSignatureFailures(sql, [...batch.values()]);
		} catch (error) {
			// kept for the next flush; the refused callers already had their answers
			for (const [key, failure] of batch) {
				const later = pending.get(key);
				pending.set(key, later ? { ...failure, count: failure.count + later.count } : failure);
			}
			options.logger.warn({ err: error }, 'could not record refused signatures yet');
		}
	};
	const timer = setInterval(() => void flush(), options.flushSeconds * 1000);
	timer.unref();

	return {
		record(code, req, rawBody) {
			const bucketMs = options.bucketSeconds * 1000;
			const bucketStart = new Date(Math.floor(options.now().getTime() / bucketMs) * bucketMs);
			const bucketKey = `${code}:${bucketStart.toISOString()}`;
			const counted = pending.get(bucketKey);
			if (counted) {
				counted.count++;
				return;
			}
			pending.set(bucketKey, {
				reason: code,
				bucketKey,
				count: 1,
				payload: {
					bucket_start: bucketStart.toISOString(),
					first_request: {
						client: req.socket.remoteAddress ?? null,
						headers: sanitizeHeaders(req.headers),
						// null: refused on its headers, the body was never read
						body_bytes: rawBody?.length ?? null,
						body_sha256: rawBody ? createHash('sha256').update(rawBody).digest('hex') : null,
					},
				},
			});
		},
		flush,
		async close() {
			clearInterval(timer);
			await flush();
		},
	};
}
