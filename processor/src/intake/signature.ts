import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/*
 * How n8n's Lead Intake node proves a request (docs/contract.md, "Signatures"). Two schemes:
 *
 * v2 (Standard Webhooks): `webhook-id` (the idempotency key), `webhook-timestamp` (Unix seconds),
 *   `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
 *   one per secret the sender signs with (two during a rotation).
 * v1 (legacy): `X-Timestamp`, `X-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`.
 *   It does not cover the idempotency key, so each v1 signature is good for one key only (the
 *   caller enforces that with `replayGuard`); it can be switched off.
 *
 * Both sides are held to test/contracts/signature-vectors.json.
 */

export interface SigningKey {
	/** A short fingerprint of the secret: names the signer in logs and rate limits, reveals nothing. */
	id: string;
	key: Buffer;
}

/** `whsec_<base64>` is the key's bytes (Standard Webhooks); any other secret is its UTF-8 bytes. */
export function signingKeys(secrets: readonly string[]): SigningKey[] {
	return secrets.map((secret) => ({
		id: createHash('sha256').update(secret).digest('hex').slice(0, 12),
		key: secret.startsWith('whsec_')
			? Buffer.from(secret.slice('whsec_'.length), 'base64')
			: Buffer.from(secret, 'utf8'),
	}));
}

export function signV2(key: Buffer, id: string, timestamp: string, rawBody: Buffer): string {
	return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.`).update(rawBody).digest('base64')}`;
}

export function signV1(key: Buffer, timestamp: string, rawBody: Buffer): string {
	return `sha256=${createHmac('sha256', key).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

export interface SignatureHeaders {
	webhookId?: string;
	webhookTimestamp?: string;
	webhookSignature?: string;
	legacyTimestamp?: string;
	legacySignature?: string;
}

export interface SignaturePolicy {
	/** Every key is accepted, so a new secret can be rolled out before the old one is retired. */
	keys: readonly SigningKey[];
	legacyEnabled: boolean;
	/** How far a timestamp may be from the processor's clock, either way. */
	toleranceSeconds: number;
	nowSeconds: number;
}

export type SignatureFailureCode =
	| 'signature_missing'
	| 'signature_invalid'
	| 'signature_scheme_disabled'
	| 'timestamp_invalid'
	| 'timestamp_out_of_window'
	| 'webhook_id_invalid';

export type SignatureVerdict =
	| { ok: true; scheme: 'v2'; signer: string; webhookId: string }
	| { ok: true; scheme: 'v1'; signer: string; replayGuard: string }
	| { ok: false; status: 400 | 401 | 409; code: SignatureFailureCode; message: string };

const UNIX_SECONDS = /^\d{1,12}$/;
const V1_FORMAT = /^sha256=[0-9a-f]{64}$/;
export const IDEMPOTENCY_KEY_FORMAT = /^[\x20-\x7E]{1,200}$/;
/** A sender signs with one secret, two during a rotation; more than this is not a sender of ours. */
const MAX_V2_SIGNATURES = 8;

export function verifySignature(
	headers: SignatureHeaders,
	rawBody: Buffer,
	policy: SignaturePolicy,
): SignatureVerdict {
	if (headers.webhookId !== undefined || headers.webhookSignature !== undefined) {
		return verifyV2(headers, rawBody, policy);
	}
	if (headers.legacySignature !== undefined || headers.legacyTimestamp !== undefined) {
		if (!policy.legacyEnabled) {
			return fail(
				401,
				'signature_scheme_disabled',
				'X-Signature is no longer accepted; sign with webhook-id, webhook-timestamp and webhook-signature',
			);
		}
		return verifyV1(headers, rawBody, policy);
	}
	return fail(
		401,
		'signature_missing',
		'Sign the request: webhook-id, webhook-timestamp and webhook-signature headers are required',
	);
}

function verifyV2(
	headers: SignatureHeaders,
	rawBody: Buffer,
	policy: SignaturePolicy,
): SignatureVerdict {
	const { webhookId: id, webhookTimestamp: timestamp, webhookSignature: signature } = headers;
	if (!id || !timestamp || !signature) {
		return fail(
			401,
			'signature_missing',
			'webhook-id, webhook-timestamp and webhook-signature headers are all required',
		);
	}
	if (!IDEMPOTENCY_KEY_FORMAT.test(id)) {
		return fail(400, 'webhook_id_invalid', 'webhook-id must be 1-200 printable ASCII characters');
	}
	if (!UNIX_SECONDS.test(timestamp)) {
		return fail(400, 'timestamp_invalid', 'webhook-timestamp must be an integer (Unix seconds)');
	}
	const offered = signature
		.split(' ')
		.slice(0, MAX_V2_SIGNATURES)
		.filter((entry) => entry.startsWith('v1,'))
		.map((entry) => Buffer.from(entry.slice(3), 'base64'));
	let signer: string | null = null;
	// every pair is compared, so the time taken does not tell which secret matched
	for (const { id: keyId, key } of policy.keys) {
		const expected = Buffer.from(signV2(key, id, timestamp, rawBody).slice(3), 'base64');
		for (const candidate of offered) {
			if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
				signer ??= keyId;
			}
		}
	}
	if (!signer) {
		return fail(
			401,
			'signature_invalid',
			'webhook-signature does not match the request (id, timestamp and body)',
		);
	}
	return outsideWindow(timestamp, policy) ?? { ok: true, scheme: 'v2', signer, webhookId: id };
}

function verifyV1(
	headers: SignatureHeaders,
	rawBody: Buffer,
	policy: SignaturePolicy,
): SignatureVerdict {
	const { legacyTimestamp: timestamp, legacySignature: signature } = headers;
	if (!timestamp || !signature) {
		return fail(401, 'signature_missing', 'X-Timestamp and X-Signature headers are required');
	}
	if (!UNIX_SECONDS.test(timestamp)) {
		return fail(400, 'timestamp_invalid', 'X-Timestamp must be an integer (Unix seconds)');
	}
	const received = Buffer.from(signature);
	let signer: string | null = null;
	if (V1_FORMAT.test(signature)) {
		for (const { id: keyId, key } of policy.keys) {
			const expected = Buffer.from(signV1(key, timestamp, rawBody));
			if (timingSafeEqual(expected, received)) signer ??= keyId;
		}
	}
	if (!signer) {
		return fail(401, 'signature_invalid', 'X-Signature does not match the request body');
	}
	return (
		outsideWindow(timestamp, policy) ?? {
			ok: true,
			scheme: 'v1',
			signer,
			replayGuard: createHash('sha256').update(signature).digest('hex'),
		}
	);
}

function outsideWindow(timestamp: string, policy: SignaturePolicy): SignatureVerdict | null {
	if (Math.abs(policy.nowSeconds - Number(timestamp)) <= policy.toleranceSeconds) return null;
	return fail(
		409,
		'timestamp_out_of_window',
		'The signature timestamp is outside the allowed clock skew',
	);
}

function fail(
	status: 400 | 401 | 409,
	code: SignatureFailureCode,
	message: string,
): SignatureVerdict {
	return { ok: false, status, code, message };
}
