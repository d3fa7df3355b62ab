import { createHash } from 'node:crypto';
import type { JsonObject, JsonValue } from '../json.js';

/**
 * SHA-256 of the body as canonical JSON (keys sorted, whitespace ignored), so a re-sent lead
 * matches its first delivery whatever the serializer did. The body's own `idempotency_key` is
 * left out: the header decides.
 */
export function fingerprintLead(lead: JsonObject): string {
	const { idempotency_key: _ignored, ...rest } = lead;
	return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** JSON with every object's keys sorted: equal values, equal text. */
export function canonicalJson(value: JsonValue): string {
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
	if (value !== null && typeof value === 'object') {
		const keys = Object.keys(value).sort();
		return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as JsonValue)}`).join(',')}}`;
	}
	return JSON.stringify(value);
}
