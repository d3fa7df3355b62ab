import { createHash } from 'node:crypto';

/**
 * An e-mail address as the processor compares and hashes it: trimmed, in Unicode NFC (`é` typed
 * as one character or as `e` and an accent is one address), lower-cased.
 */
export function normalizeEmail(email: string): string {
	return email.trim().normalize('NFC').toLowerCase();
}

/** `email_hash`: SHA-256 of the normalised e-mail followed by EMAIL_HASH_SALT, hex. */
export function hashEmail(normalizedEmail: string, salt: string): string {
	return createHash('sha256')
		.update(normalizedEmail + salt)
		.digest('hex');
}

/** `max@example.com` -> `m***@example.com`; anything that is not an address -> `***`. */
export function maskEmail(email: string): string {
	const at = email.lastIndexOf('@');
	if (at < 1) return '***';
	return `${email[0]}***${email.slice(at)}`;
}
