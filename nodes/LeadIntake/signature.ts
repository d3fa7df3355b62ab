import { createHash, createHmac } from 'crypto';

/**
 * The legacy scheme's signing half (docs/contract.md, "Signatures"): `sha256=` + hex HMAC-SHA256(secret, "<timestamp>.<raw body>").
 * The processor verifies the same bytes; both are held to test/contracts/signature-vectors.json.
 */
export function signLead(secret: string, timestamp: string, rawBody: string): string {
	return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

/** A key for a lead that came without one: the same lead always gets the same key. */
export function contentKey(rawBody: string): string {
	return `sha256-${createHash('sha256').update(rawBody).digest('hex')}`;
}
