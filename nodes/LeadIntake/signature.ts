import { createHash, createHmac } from 'crypto';

/*
 * The signing half of docs/contract.md, "Signatures". The processor verifies the same bytes; both
 * sides are held to test/contracts/signature-vectors.json.
 *
 * v2 (Standard Webhooks, the default): webhook-id = the idempotency key, webhook-timestamp,
 *   webhook-signature = space-separated `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
 *   one per secret (two during a rotation). The key is bound to the signature.
 * v1 (legacy, for processors that predate v2): X-Timestamp, X-Signature = `sha256=<hex
 *   HMAC-SHA256(key, "<timestamp>.<body>")>`, X-Idempotency-Key unsigned.
 *
 * Answer on store: a request that asks for it (`Prefer: respond-async`) is signed, under either
 * scheme, with the derived key HMAC-SHA256(key, "lead-intake answer-on-store") instead of the key,
 * so nobody on the way can add or strip the header: the processor would not recognise the signature.
 * The lead source is bound the same way: a request that sends `X-Source` is signed with
 * HMAC-SHA256(the answer mode's key, "lead-intake source:" + source), so nobody on the way can
 * file the lead under another source.
 */

export type SignatureScheme = 'v2' | 'legacy';

/** `whsec_<base64>` is the key's bytes (Standard Webhooks); any other secret is its UTF-8 bytes. */
export function keyBytes(secret: string): Buffer {
	return secret.startsWith('whsec_')
		? Buffer.from(secret.slice('whsec_'.length), 'base64')
		: Buffer.from(secret, 'utf8');
}

/** What the derived key of a request answered on store is made from (docs/contract.md). */
export const ANSWER_ON_STORE_LABEL = 'lead-intake answer-on-store';

/** When the processor answers the source: once the lead is stored, or once the CRM has it. */
export type AnswerMode = 'stored' | 'delivered';

/** The key a request answered on store is signed with: HMAC-SHA256(key bytes, the label), 32 bytes. */
export function answerOnStoreKey(secret: string): Buffer {
	return derivedKey(keyBytes(secret), ANSWER_ON_STORE_LABEL);
}

/** HMAC-SHA256(key, label), 32 bytes: a key whose signatures mean one thing (a mode, a source). */
function derivedKey(key: Buffer, label: string): Buffer {
	return createHmac('sha256', key).update(label).digest();
}

/** What the key of a request bound to its source (X-Source) is made from (docs/contract.md). */
export const SOURCE_LABEL = 'lead-intake source:';

/** The key bytes a request is signed with: its answer mode's, bound to its source if it sends one. */
function signingKey(secret: string, mode: AnswerMode, source: string | undefined): Buffer {
	const modeKey = mode === 'stored' ? answerOnStoreKey(secret) : keyBytes(secret);
	return source === undefined ? modeKey : derivedKey(modeKey, `${SOURCE_LABEL}${source}`);
}

/** One `v1,<base64>` entry per secret, space-separated. */
export function signV2(
	secrets: readonly string[],
	id: string,
	timestamp: string,
	rawBody: string,
	mode: AnswerMode = 'delivered',
	source?: string,
): string {
	return secrets
		.map(
			(secret) =>
				`v1,${createHmac('sha256', signingKey(secret, mode, source))
					.update(`${id}.${timestamp}.${rawBody}`)
					.digest('base64')}`,
		)
		.join(' ');
}

export function signV1(
	secret: string,
	timestamp: string,
	rawBody: string,
	mode: AnswerMode = 'delivered',
	source?: string,
): string {
	return `sha256=${createHmac('sha256', signingKey(secret, mode, source))
		.update(`${timestamp}.${rawBody}`)
		.digest('hex')}`;
}

/** The headers that prove a request to the processor under the chosen scheme, its source's too. */
export function signatureHeaders(
	scheme: SignatureScheme,
	secrets: readonly string[],
	idempotencyKey: string,
	timestamp: string,
	rawBody: string,
	mode: AnswerMode = 'delivered',
	source?: string,
): Record<string, string> {
	// the headers only ask and name; the derived key is what makes the request mean them
	const asked: Record<string, string> = {
		...(mode === 'stored' ? { prefer: 'respond-async' } : {}),
		...(source === undefined ? {} : { 'x-source': source }),
	};
	if (scheme === 'legacy') {
		// X-Signature carries one signature: the current secret's
		return {
			'x-timestamp': timestamp,
			'x-signature': signV1(secrets[0]!, timestamp, rawBody, mode, source),
			'x-idempotency-key': idempotencyKey,
			...asked,
		};
	}
	return {
		'webhook-id': idempotencyKey,
		'webhook-timestamp': timestamp,
		'webhook-signature': signV2(secrets, idempotencyKey, timestamp, rawBody, mode, source),
		...asked,
	};
}

/** A key for a lead that came without one: the same lead always gets the same key. */
export function contentKey(rawBody: string): string {
	return `sha256-${createHash('sha256').update(rawBody).digest('hex')}`;
}
