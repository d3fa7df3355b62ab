import { createHash, timingSafeEqual } from 'crypto';

/*
 * How a lead source proves who it is (docs/lead-sources.md): the key of its Lead Source credential,
 * sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Pure functions, so every branch is
 * tested without n8n.
 */

export interface LeadSourceCredentials {
	sourceName: string;
	apiKey: string;
	/** Still accepted during a key rotation; empty otherwise. */
	previousApiKey?: string;
}

/** `erased:` begins the keys an erasure leaves; the processor takes no lead key that begins so. */
export const SOURCE_NAME_FORMAT = /^(?!erased:)[A-Za-z0-9._:-]{1,64}$/;
export const MIN_KEY_LENGTH = 16;
/** A key longer than this is not one of ours; it is refused without hashing it. */
const MAX_KEY_LENGTH = 512;

/** What is wrong with a Lead Source credential, in words for the person who set it up; null if nothing. */
export function credentialProblem(credentials: Partial<LeadSourceCredentials>): string | null {
	const { sourceName = '', apiKey = '', previousApiKey = '' } = credentials;
	if (!SOURCE_NAME_FORMAT.test(sourceName)) {
		return "Source Name must be 1-64 characters: letters, digits, '.', '_', ':' or '-', not beginning 'erased:'";
	}
	if (apiKey.length < MIN_KEY_LENGTH)
		return `API Key must be at least ${MIN_KEY_LENGTH} characters`;
	if (apiKey.length > MAX_KEY_LENGTH) return `API Key must be at most ${MAX_KEY_LENGTH} characters`;
	if (previousApiKey && previousApiKey.length < MIN_KEY_LENGTH) {
		return `Previous API Key must be empty or at least ${MIN_KEY_LENGTH} characters`;
	}
	if (previousApiKey === apiKey) return 'Previous API Key must differ from API Key';
	return null;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
	const value = headers[name];
	return Array.isArray(value) ? value[0] : value;
}

/** The key the caller presented, or null when it presented none. */
export function presentedKey(headers: Headers): string | null {
	const authorization = header(headers, 'authorization')?.trim();
	if (authorization) {
		const space = authorization.indexOf(' ');
		if (space > 0 && authorization.slice(0, space).toLowerCase() === 'bearer') {
			const key = authorization.slice(space + 1).trim();
			if (key) return key;
		}
	}
	const apiKey = header(headers, 'x-api-key')?.trim();
	return apiKey ? apiKey : null;
}

/**
 * Whether the key is the source's current or previous key. Both are always compared, as digests
 * of equal length, so neither the time taken nor an early exit tells anything about either key.
 */
export function keyMatches(presented: string, credentials: LeadSourceCredentials): boolean {
	if (presented.length > MAX_KEY_LENGTH) return false;
	const offered = digest(presented);
	const current = timingSafeEqual(offered, digest(credentials.apiKey));
	const previous = credentials.previousApiKey
		? timingSafeEqual(offered, digest(credentials.previousApiKey))
		: false;
	return current || previous;
}

function digest(value: string): Buffer {
	return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * The processor takes 1-200 printable ASCII characters as an idempotency key (webhook-id), not
 * beginning `erased:` (the keys an erasure leaves).
 */
const IDEMPOTENCY_KEY_FORMAT = /^(?!erased:)[\x20-\x7E]{1,200}$/;
const IDEMPOTENCY_HEADERS = ['webhook-id', 'idempotency-key', 'x-idempotency-key'];
const CORRELATION_ID_FORMAT = /^[A-Za-z0-9._:-]{1,100}$/;

/** The source's own key for the lead (first of the idempotency headers), null without one. */
export function idempotencyKeyOf(headers: Headers): { key: string | null } | { invalid: string } {
	for (const name of IDEMPOTENCY_HEADERS) {
		const value = header(headers, name)?.trim();
		if (!value) continue;
		return IDEMPOTENCY_KEY_FORMAT.test(value) ? { key: value } : { invalid: name };
	}
	return { key: null };
}

/**
 * The key the lead goes on with: the source's own key in its source's space, `<source>/<key>`
 * (a source name holds no `/`), so two sources that both number their leads 1, 2, 3 never meet.
 * Past the processor's 200 characters the key is replaced by its SHA-256: `<source>/~<hex>`.
 */
export function sourceScopedKey(source: string, key: string): string {
	const scoped = `${source}/${key}`;
	return scoped.length <= 200 ? scoped : `${source}/~${digest(key).toString('hex')}`;
}

/** The caller's correlation id when it is sane, else null (the trigger then makes one). */
export function correlationIdOf(headers: Headers): string | null {
	const value = header(headers, 'x-correlation-id')?.trim();
	return value && CORRELATION_ID_FORMAT.test(value) ? value : null;
}

/**
 * `application/json`; with `plusJson` also any `application/…+json` type (n8n parses such bodies
 * only for a version 1 trigger, so only version 1 takes them).
 */
export function isJsonContentType(contentType: string | undefined, plusJson: boolean): boolean {
	const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
	if (type === 'application/json') return true;
	return plusJson && type.startsWith('application/') && type.endsWith('+json');
}
