import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * SPEC 3.1: `X-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Timestamp>.<raw body>")>`.
 * The n8n Lead Intake node signs the same way; both sides are held to
 * test/contracts/signature-vectors.json.
 */
export function computeSignature(secret: string, timestamp: string, rawBody: Buffer): string {
	const hmac = createHmac('sha256', secret);
	hmac.update(`${timestamp}.`);
	hmac.update(rawBody);
	return `sha256=${hmac.digest('hex')}`;
}

export type SignatureVerdict =
	| { ok: true }
	| { ok: false; status: 400 | 401 | 409; code: SignatureFailureCode; message: string };

export type SignatureFailureCode =
	| 'signature_missing'
	| 'signature_invalid'
	| 'timestamp_invalid'
	| 'timestamp_out_of_window';

export interface SignedRequest {
	timestamp: string | undefined;
	signature: string | undefined;
	rawBody: Buffer;
}

export interface SignaturePolicy {
	/** Every secret is accepted, so a new one can be rolled out before the old one is retired. */
	secrets: readonly string[];
	maxSkewSeconds: number;
	nowSeconds: number;
}

const SIGNATURE_FORMAT = /^sha256=[0-9a-f]{64}$/;
const UNIX_SECONDS = /^\d{1,12}$/;

export function verifySignature(request: SignedRequest, policy: SignaturePolicy): SignatureVerdict {
	const { timestamp, signature, rawBody } = request;
	if (!timestamp || !signature) {
		return fail(401, 'signature_missing', 'X-Timestamp and X-Signature headers are required');
	}
	if (!UNIX_SECONDS.test(timestamp)) {
		return fail(400, 'timestamp_invalid', 'X-Timestamp must be an integer (Unix seconds)');
	}
	if (
		!SIGNATURE_FORMAT.test(signature) ||
		!matchesAnySecret(signature, timestamp, rawBody, policy.secrets)
	) {
		return fail(401, 'signature_invalid', 'X-Signature does not match the request body');
	}
	if (Math.abs(policy.nowSeconds - Number(timestamp)) > policy.maxSkewSeconds) {
		return fail(409, 'timestamp_out_of_window', 'X-Timestamp is outside the allowed clock skew');
	}
	return { ok: true };
}

function matchesAnySecret(
	signature: string,
	timestamp: string,
	rawBody: Buffer,
	secrets: readonly string[],
): boolean {
	const received = Buffer.from(signature);
	let matched = false;
	// Every secret is checked, so the time taken does not tell which one matched.
	for (const secret of secrets) {
		const expected = Buffer.from(computeSignature(secret, timestamp, rawBody));
		matched = timingSafeEqual(expected, received) || matched;
	}
	return matched;
}

function fail(
	status: 400 | 401 | 409,
	code: SignatureFailureCode,
	message: string,
): SignatureVerdict {
	return { ok: false, status, code, message };
}
