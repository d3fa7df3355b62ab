import type { JsonObject, JsonValue } from '../intake/lead-schema.js';
import { maskEmail } from './email.js';

const EMAIL_ANYWHERE = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[^\s@"'<>(),;:]+/g;

/** Fields that identify a person: shown masked, never in full. */
const PERSONAL_FIELDS = new Map<string, (value: string) => string>([
	['email', maskEmail],
	['name', (value) => `${value.slice(0, 1)}***`],
	['phone', (value) => (value.length > 4 ? `***${value.slice(-2)}` : '***')],
	['street', () => '***'],
	['note', (value) => `[${value.length} characters withheld]`],
]);

/**
 * A copy of a lead (or any JSON) fit for audit rows, DLQ rows, logs and alert files: personal
 * fields masked, and any email address anywhere else (free attributes, notes) masked too.
 */
export function sanitize(value: JsonValue): JsonValue {
	if (typeof value === 'string') return value.replace(EMAIL_ANYWHERE, maskEmail);
	if (Array.isArray(value)) return value.map(sanitize);
	if (value === null || typeof value !== 'object') return value;
	const result: JsonObject = {};
	for (const [key, item] of Object.entries(value)) {
		const mask = PERSONAL_FIELDS.get(key);
		result[key] =
			mask && (typeof item === 'string' || typeof item === 'number')
				? mask(String(item))
				: sanitize(item);
	}
	return result;
}

const SECRET_HEADERS = new Set(['authorization', 'x-signature', 'cookie', 'proxy-authorization']);

/** Request headers worth keeping for investigation, with credentials and signatures withheld. */
export function sanitizeHeaders(
	headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
	const result: Record<string, string> = {};
	for (const [name, value] of Object.entries(headers)) {
		if (value === undefined) continue;
		const text = Array.isArray(value) ? value.join(', ') : value;
		result[name] = SECRET_HEADERS.has(name.toLowerCase())
			? '[withheld]'
			: (sanitize(text) as string);
	}
	return result;
}
