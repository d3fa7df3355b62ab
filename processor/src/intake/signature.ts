import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ERR, type SignatureFailureCode } from '../error-codes.js';

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

/**
 * Answer on store (`Prefer: respond-async`): the request is signed with a key derived from the
 * secret's, so a signature made for one answer mode never verifies in the other and the mode
 * cannot be flipped on the way. HMAC-SHA256(secret key bytes, ANSWER_ON_STORE_LABEL), 32 bytes.
 */
export const ANSWER_ON_STORE_LABEL = 'lead-intake answer-on-store';

export function answerOnStoreKey(key: Buffer): Buffer {
	return derivedKey(key, ANSWER_ON_STORE_LABEL);
}

/** The same signers, each with its answer-on-store key (same id: it names the same secret). */
export function answerOnStoreKeys(keys: readonly SigningKey[]): SigningKey[] {
	return derivedKeys(keys, ANSWER_ON_STORE_LABEL);
}

/**
 * The lead source (`X-Source`) is signed the same way: a request is signed with a key bound to
 * its source, HMAC-SHA256(the key of its answer mode, SOURCE_LABEL + source), 32 bytes, so a
 * source changed on the way (which would file the lead, its rules' counts and its rate limit under
 * another source) makes the signature one the processor does not recognise. A request without
 * `X-Source` is signed with the answer mode's key itself.
 */
export const SOURCE_LABEL = 'lead-intake source:';

export function sourceBoundKey(key: Buffer, source: string): Buffer {
	return derivedKey(key, `${SOURCE_LABEL}${source}`);
}

/** The same signers, each with its key bound to this source (same id: the same secret). */
export function sourceBoundKeys(keys: readonly SigningKey[], source: string): SigningKey[] {
	return derivedKeys(keys, `${SOURCE_LABEL}${source}`);
}

/** HMAC-SHA256(key, label), 32 bytes: a key whose signatures mean one thing (a mode, a source). */
function derivedKey(key: Buffer, label: string): Buffer {
	return createHmac('sha256', key).update(label).digest();
}

function derivedKeys(keys: readonly SigningKey[], label: string): SigningKey[] {
	return keys.map(({ id, key }) => ({ id, key: derivedKey(key, label) }));
}

export function signV2(key: Buffer, id: string, timestamp: string, rawBody: Buffer): string {
	return `v1,${hmacV2(key, id, timestamp, rawBody).toString('base64')}`;
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

export type { SignatureFailureCode } from '../error-codes.js';

export type SignatureFailure = {
	ok: false;
	status: 400 | 401 | 409;
	code: SignatureFailureCode;
	message: string;
};

export type SignatureVerdict =
	| { ok: true; scheme: 'v2'; signer: string; webhookId: string }
	| { ok: true; scheme: 'v1'; signer: string; replayGuard: string }
	| SignatureFailure;

/** What the signature headers claim, read and checked before the body is. */
export type SignatureClaim =
	| { scheme: 'v2'; id: string; timestamp: string; signatures: Buffer[] }
	| { scheme: 'v1'; timestamp: string; signature: string };

const UNIX_SECONDS = /^\d{1,12}$/;
const V1_FORMAT = /^sha256=[0-9a-f]{64}$/;
/**
 * A v2 signature: `v1,` and the canonical base64 of an HMAC-SHA256 (32 bytes: 43 characters,
 * the last one carrying no stray bits, and one `=`). Nothing else is decoded: base64 decoders
 * skip junk after the padding, a missing padding and the URL-safe alphabet, and take stray
 * bits, so several spellings would verify as one signature.
 */
const V2_ENTRY = /^v1,[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
/**
 * 1-200 printable ASCII characters, not beginning `erased:`: an erasure replaces a run's key by
 * `erased:<run id>` (pii/personal-data.ts), which a lead sent under that key would block.
 */
export const IDEMPOTENCY_KEY_FORMAT = /^(?!erased:)[\x20-\x7E]{1,200}$/;
export const IDEMPOTENCY_KEY_RULE = '1-200 printable ASCII characters, not beginning "erased:"';
/** A sender signs with one secret, two during a rotation; more than this is not a sender of ours. */
const MAX_V2_SIGNATURES = 8;

/** Both steps at once: the headers, then the signature over the body. */
export function verifySignature(
	headers: SignatureHeaders,
	rawBody: Buffer,
	policy: SignaturePolicy,
): SignatureVerdict {
	const claim = readSignatureHeaders(headers, policy.legacyEnabled);
	return 'ok' in claim ? claim : verifyClaim(claim, rawBody, policy);
}

/**
 * The signature headers, checked without the body: present, well-formed, a scheme that is on.
 * A request that fails here is refused before its body is read.
 */
export function readSignatureHeaders(
	headers: SignatureHeaders,
	legacyEnabled: boolean,
): SignatureClaim | SignatureFailure {
	if (headers.webhookId !== undefined || headers.webhookSignature !== undefined) {
		return readV2(headers);
	}
	if (headers.legacySignature !== undefined || headers.legacyTimestamp !== undefined) {
		if (!legacyEnabled) {
			return fail(
				401,
				ERR.signature_scheme_disabled,
				'X-Signature is no longer accepted; sign with webhook-id, webhook-timestamp and webhook-signature',
			);
		}
		return readV1(headers);
	}
	return fail(
		401,
		ERR.signature_missing,
		'Sign the request: webhook-id, webhook-timestamp and webhook-signature headers are required',
	);
}

function readV2(headers: SignatureHeaders): SignatureClaim | SignatureFailure {
	const { webhookId: id, webhookTimestamp: timestamp, webhookSignature: signature } = headers;
	if (!id || !timestamp || !signature) {
		return fail(
			401,
			ERR.signature_missing,
			'webhook-id, webhook-timestamp and webhook-signature headers are all required',
		);
	}
	if (!IDEMPOTENCY_KEY_FORMAT.test(id)) {
		return fail(400, ERR.webhook_id_invalid, `webhook-id must be ${IDEMPOTENCY_KEY_RULE}`);
	}
	if (!UNIX_SECONDS.test(timestamp)) {
		return fail(400, ERR.timestamp_invalid, 'webhook-timestamp must be an integer (Unix seconds)');
	}
	const signatures = signature
		.split(' ')
		.slice(0, MAX_V2_SIGNATURES)
		.filter((entry) => V2_ENTRY.test(entry))
		.map((entry) => Buffer.from(entry.slice(3), 'base64'));
	if (signatures.length === 0) return invalidV2();
	return { scheme: 'v2', id, timestamp, signatures };
}

function readV1(headers: SignatureHeaders): SignatureClaim | SignatureFailure {
	const { legacyTimestamp: timestamp, legacySignature: signature } = headers;
	if (!timestamp || !signature) {
		return fail(401, ERR.signature_missing, 'X-Timestamp and X-Signature headers are required');
	}
	if (!UNIX_SECONDS.test(timestamp)) {
		return fail(400, ERR.timestamp_invalid, 'X-Timestamp must be an integer (Unix seconds)');
	}
	if (!V1_FORMAT.test(signature)) return invalidV1();
	return { scheme: 'v1', timestamp, signature };
}

/** The signature over the body, then the timestamp's window (only for a signature that matches). */
export function verifyClaim(
	claim: SignatureClaim,
	rawBody: Buffer,
	policy: SignaturePolicy,
): SignatureVerdict {
	let signer: string | null = null;
	if (claim.scheme === 'v2') {
		// every pair is compared, so the time taken does not tell which secret matched
		for (const { id: keyId, key } of policy.keys) {
			const expected = hmacV2(key, claim.id, claim.timestamp, rawBody);
			for (const candidate of claim.signatures) {
				if (timingSafeEqual(candidate, expected)) signer ??= keyId;
			}
		}
		if (!signer) return invalidV2();
		return (
			outsideWindow(claim.timestamp, policy) ?? {
				ok: true,
				scheme: 'v2',
				signer,
				webhookId: claim.id,
			}
		);
	}
	const received = Buffer.from(claim.signature);
	for (const { id: keyId, key } of policy.keys) {
		const expected = Buffer.from(signV1(key, claim.timestamp, rawBody));
		if (timingSafeEqual(expected, received)) signer ??= keyId;
	}
	if (!signer) return invalidV1();
	return (
		outsideWindow(claim.timestamp, policy) ?? {
			ok: true,
			scheme: 'v1',
			signer,
			replayGuard: createHash('sha256').update(claim.signature).digest('hex'),
		}
	);
}

function hmacV2(key: Buffer, id: string, timestamp: string, rawBody: Buffer): Buffer {
	return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(rawBody).digest();
}

const invalidV2 = () =>
	fail(
		401,
		ERR.signature_invalid,
		'webhook-signature does not match the request (id, timestamp, body and X-Source)',
	);
const invalidV1 = () =>
	fail(
		401,
		ERR.signature_invalid,
		'X-Signature does not match the request (timestamp, body and X-Source)',
	);

function outsideWindow(timestamp: string, policy: SignaturePolicy): SignatureVerdict | null {
	if (Math.abs(policy.nowSeconds - Number(timestamp)) <= policy.toleranceSeconds) return null;
	return fail(
		409,
		ERR.timestamp_out_of_window,
		'The signature timestamp is outside the allowed clock skew',
	);
}

function fail(
	status: 400 | 401 | 409,
	code: SignatureFailureCode,
	message: string,
): SignatureFailure {
	return { ok: false, status, code, message };
}
