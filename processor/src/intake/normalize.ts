import type { JsonObject, JsonValue } from '../json.js';
import { normalizeEmail } from '../pii/email.js';

/**
 * Normalisation before the rules: strings trimmed, email in NFC and lower-cased, "true"/"false"
 * strings turned into booleans, numeric zip codes and phone numbers turned into strings.
 * Null values are dropped so that "missing" has one meaning.
 */
export function normalizeLead(lead: JsonObject): JsonObject {
	const normalized = normalizeObject(lead);
	if (typeof normalized.email === 'string') normalized.email = normalizeEmail(normalized.email);
	for (const path of NUMBERS_AS_TEXT) stringifyAt(normalized, path);
	return normalized;
}

/** Where a number in a lead is read as text (the rules can only compare them as text). */
export const NUMBERS_AS_TEXT: readonly (readonly string[])[] = [
	['phone'],
	['zipcode'],
	['address', 'zip'],
];

function normalizeValue(value: JsonValue): JsonValue {
	if (typeof value === 'string') return normalizeString(value);
	if (Array.isArray(value)) return value.map(normalizeValue);
	if (value !== null && typeof value === 'object') return normalizeObject(value);
	return value;
}

function normalizeObject(value: JsonObject): JsonObject {
	const result: JsonObject = {};
	for (const [key, item] of Object.entries(value)) {
		if (item !== null) result[key] = normalizeValue(item);
	}
	return result;
}

/** What a lead's text reads as once normalised: trimmed, "true"/"false" (any case) booleans. */
export function normalizeString(value: string): string | boolean {
	const trimmed = value.trim();
	const lower = trimmed.toLowerCase();
	if (lower === 'true') return true;
	if (lower === 'false') return false;
	return trimmed;
}

function stringifyAt(target: JsonObject, path: readonly string[]): void {
	const [head, ...rest] = path;
	if (head === undefined) return;
	const value = target[head];
	if (rest.length === 0) {
		if (typeof value === 'number') target[head] = String(value);
		return;
	}
	if (value !== null && typeof value === 'object' && !Array.isArray(value))
		stringifyAt(value, rest);
}
