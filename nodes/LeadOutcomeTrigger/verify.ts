import { createHmac, timingSafeEqual } from 'crypto';
import { keyBytes } from '../LeadIntake/signature';

/*
 * Standard Webhooks verification of an outcome event, before anything else runs:
 * webhook-signature holds space-separated `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`
 * entries (one per secret the processor signs with); the event is good when one of them is one this
 * receiver would make with one of its secrets. Every input is bounded before any HMAC is computed.
 */

export interface EventsCredentials {
	secret: string;
	previousSecret?: string;
}

export interface EventHeaders {
	id?: string;
	timestamp?: string;
	signature?: string;
}

export type Refusal = { status: number; code: string; detail: string };

/** Largest event body taken: events carry ids and codes, never leads. */
export const MAX_EVENT_BYTES = 64 * 1024;
/** At most this many `v1,…` entries are looked at (two during a rotation, room for more). */
const MAX_SIGNATURES = 8;
const ID_PATTERN = /^[\x21-\x7e]{1,200}$/;
const TIMESTAMP_PATTERN = /^\d{1,12}$/;
/** Canonical base64 of 32 bytes: 43 characters and one `=`, the last character's spare bits zero. */
const SHA256_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** What is wrong with the credential, or null. */
export function eventsCredentialProblem(credentials: Partial<EventsCredentials>): string | null {
	const secrets = [credentials.secret, credentials.previousSecret]
		.map((secret) => (secret ?? '').trim())
		.filter(Boolean);
	if (!(credentials.secret ?? '').trim()) return 'The Events Secret is empty';
	for (const secret of secrets) {
		if (keyBytes(secret).length < 16) {
			return 'An events secret is shorter than 16 bytes; generate one with "openssl rand -base64 32"';
		}
		if (secret.startsWith('whsec_') && !isCanonicalBase64(secret.slice('whsec_'.length))) {
			return 'A whsec_ secret must be followed by canonical base64';
		}
	}
	return null;
}

/** The secrets this receiver accepts: the current one and, during a rotation, the previous one. */
export function secretsOf(credentials: EventsCredentials): string[] {
	return [credentials.secret, credentials.previousSecret ?? '']
		.map((secret) => secret.trim())
		.filter(Boolean);
}

export function signEvent(secret: string, id: string, timestamp: string, rawBody: Buffer): Buffer {
	return createHmac('sha256', keyBytes(secret))
		.update(`${id}.${timestamp}.`)
		.update(rawBody)
		.digest();
}

/** Base64 that decodes and re-encodes to itself: no stray padding bits, no other spelling. */
export function isCanonicalBase64(text: string): boolean {
	return text.length > 0 && Buffer.from(text, 'base64').toString('base64') === text;
}

/**
 * null when the event is proven by one of the secrets and recent; else why it is refused (401).
 * The body is checked for size before any HMAC.
 */
export function verifyEvent(
	headers: EventHeaders,
	rawBody: Buffer,
	secrets: readonly string[],
	toleranceSeconds: number,
	nowSeconds: number,
): Refusal | null {
	const { id, timestamp, signature } = headers;
	if (!id || !timestamp || !signature) {
		return {
			status: 401,
			code: 'signature_missing',
			detail: 'Send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks)',
		};
	}
	if (!ID_PATTERN.test(id) || !TIMESTAMP_PATTERN.test(timestamp)) {
		return {
			status: 401,
			code: 'signature_invalid',
			detail: 'webhook-id or webhook-timestamp is malformed',
		};
	}
	if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) {
		return {
			status: 401,
			code: 'timestamp_out_of_tolerance',
			detail: `webhook-timestamp is more than ${toleranceSeconds} s from this server's clock`,
		};
	}
	if (rawBody.length > MAX_EVENT_BYTES) {
		return {
			status: 413,
			code: 'event_too_large',
			detail: `An event is at most ${MAX_EVENT_BYTES} bytes`,
		};
	}
	const offered = signature
		.split(' ')
		// a proxy that split the header in two: Node joins the parts with ", "
		.map((entry) => (entry.endsWith(',') ? entry.slice(0, -1) : entry))
		.filter(Boolean)
		.slice(0, MAX_SIGNATURES)
		.filter((entry) => entry.startsWith('v1,'))
		.map((entry) => entry.slice(3))
		// strict: only the one canonical spelling of 32 bytes (re-encoded and compared as well)
		.filter((text) => SHA256_BASE64.test(text) && isCanonicalBase64(text))
		.map((text) => Buffer.from(text, 'base64'));
	const expected = secrets.map((secret) => signEvent(secret, id, timestamp, rawBody));
	let matched = false;
	// every pair is compared, so the time taken says nothing about which one matched
	for (const candidate of offered) {
		for (const made of expected) {
			if (candidate.length === made.length && timingSafeEqual(candidate, made)) matched = true;
		}
	}
	return matched
		? null
		: {
				status: 401,
				code: 'signature_invalid',
				detail: 'No webhook-signature entry matches this receiver’s secret',
			};
}
