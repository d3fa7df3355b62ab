import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Sql } from '../db/connection.js';
import { recordSignatureFailure } from '../db/dlq.js';
import type { Logger } from '../logger.js';
import { sanitizeHeaders } from '../pii/sanitize.js';
import type { SignatureFailureCode } from './signature.js';

/**
 * Seed 000: refused signatures (401/409) are kept for investigation as an alerting DLQ entry.
 * One entry per reason and time bucket, counting repeats, so a flood cannot fill the table.
 * The body is not kept (it is unauthenticated): only its size and hash.
 */
export function signatureFailureRecorder(sql: Sql, bucketSeconds: number, now: () => Date) {
	return async (
		code: SignatureFailureCode,
		req: IncomingMessage,
		rawBody: Buffer,
		log: Logger,
	): Promise<void> => {
		const bucketMs = bucketSeconds * 1000;
		const bucketStart = new Date(Math.floor(now().getTime() / bucketMs) * bucketMs);
		try {
			await recordSignatureFailure(sql, {
				reason: code,
				bucketKey: `${code}:${bucketStart.toISOString()}`,
				payload: {
					bucket_start: bucketStart.toISOString(),
					first_request: {
						client: req.socket.remoteAddress ?? null,
						headers: sanitizeHeaders(req.headers),
						body_bytes: rawBody.length,
						body_sha256: createHash('sha256').update(rawBody).digest('hex'),
					},
				},
			});
		} catch (error) {
			// the caller still gets its 401/409; losing this record must not turn it into a 5xx
			log.warn({ err: error }, 'could not record signature failure');
		}
	};
}
