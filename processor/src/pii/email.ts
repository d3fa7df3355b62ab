import { createHash } from 'node:crypto';

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
