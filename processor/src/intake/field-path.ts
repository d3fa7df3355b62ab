import type { JsonObject, JsonValue } from '../json.js';

/** A dot path, or several tried in order (e.g. `["address.zip", "zipcode"]`). */
export type FieldPath = string | readonly string[];

/** The first present, non-empty value found under the given path(s). */
export function readPath(source: JsonObject, path: FieldPath): JsonValue | undefined {
	const candidates = typeof path === 'string' ? [path] : path;
	for (const candidate of candidates) {
		const value = readDotPath(source, candidate);
		if (value !== undefined && value !== null && value !== '') return value;
	}
	return undefined;
}

function readDotPath(source: JsonObject, path: string): JsonValue | undefined {
	let current: JsonValue | undefined = source;
	for (const segment of path.split('.')) {
		if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
		// own keys only: "constructor" or "__proto__" is no field of a lead
		if (!Object.hasOwn(current, segment)) return undefined;
		current = current[segment];
	}
	return current;
}
