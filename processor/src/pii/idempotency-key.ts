import { createHash } from 'node:crypto';
import { maskEmailsIn } from './sanitize.js';

/**
 * An idempotency key as the processor stores it (and sends it to the CRM): a key holding an
 * e-mail address would put personal data into every table and log line, so it is replaced by
 * a salted hash, the same one every time (a repeat still finds its run; the CRM still upserts
 * one record). Any other key is kept as sent.
 */
export function storedIdempotencyKey(key: string, salt: string): string {
	if (maskEmailsIn(key) === key) return key;
	return `pii-${createHash('sha256').update(salt).update(key).digest('hex').slice(0, 40)}`;
}
