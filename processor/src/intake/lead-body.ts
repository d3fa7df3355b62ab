import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { HttpError } from '../errors.js';
import type { JsonObject, JsonValue } from '../json.js';
import { LeadSchema } from './lead-schema.js';
import { ERR } from '../error-codes.js';
import { isStorableText } from '../text/storable.js';

export interface LeadLimits {
	/** Deepest nesting of objects and arrays. */
	maxDepth: number;
	/** Most values in one lead: objects, arrays, strings (keys too), numbers, booleans, nulls. */
	maxNodes: number;
}

export const DEFAULT_LEAD_LIMITS: LeadLimits = { maxDepth: 32, maxNodes: 10_000 };

/** Keys that would reach an object's prototype if copied naively. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The request body as a lead, checked in an order that keeps every step's cost bounded: valid
 * UTF-8, then nesting and size in one pass over the bytes (before anything recursive walks the
 * data), then JSON, then keys and text, then the lead's shape.
 * Invalid UTF-8 or JSON -> 400; anything else -> 422.
 */
export function parseLeadBody(
	rawBody: Buffer,
	limits: LeadLimits = DEFAULT_LEAD_LIMITS,
): JsonObject {
	if (!isUtf8(rawBody))
		throw new HttpError(400, ERR.invalid_utf8, 'Request body is not valid UTF-8');
	checkStructure(rawBody, limits);
	let parsed: unknown;
	try {
		parsed = JSON.parse(rawBody.toString('utf8'));
	} catch {
		throw new HttpError(400, ERR.invalid_json, 'Request body is not valid JSON');
	}
	checkText(parsed as JsonValue);
	const result = LeadSchema.safeParse(parsed);
	if (!result.success) {
		throw new HttpError(422, ERR.invalid_lead, 'Lead payload does not have the expected shape', {
			issues: result.error.issues.map(describeIssue),
		});
	}
	return parsed as JsonObject;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x7b, 0x5b]);
const CLOSERS = new Set([0x7d, 0x5d]);
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
/** Where a value may begin: after `:`, `,` or `[`, or at the very start. */
const BEFORE_VALUE = new Set([0x3a, 0x2c, 0x5b, -1]);
/** The first byte of a number, `true`, `false` or `null`. */
const SCALAR_STARTS = new Set([...'-0123456789tfn'].map((char) => char.charCodeAt(0)));

/**
 * Depth and node count from the raw bytes: linear, no recursion, nothing parsed yet. A node is a
 * string (a key or a text), an object or array, or a number, `true`, `false` or `null`.
 */
function checkStructure(bytes: Buffer, limits: LeadLimits): void {
	let depth = 0;
	let nodes = 0;
	let inString = false;
	let escaped = false;
	/** The last byte outside strings and whitespace (-1: none yet). */
	let last = -1;
	for (let index = 0; index < bytes.length; index++) {
		const byte = bytes[index]!;
		if (inString) {
			if (escaped) escaped = false;
			else if (byte === BACKSLASH) escaped = true;
			else if (byte === QUOTE) {
				inString = false;
				last = QUOTE;
			}
			continue;
		}
		if (WHITESPACE.has(byte)) continue;
		if (byte === QUOTE) {
			inString = true;
			nodes++;
		} else if (OPENERS.has(byte)) {
			nodes++;
			if (++depth > limits.maxDepth) {
				throw new HttpError(
					422,
					ERR.lead_too_deep,
					`A lead may nest objects and arrays ${limits.maxDepth} levels deep at most`,
				);
			}
		} else if (CLOSERS.has(byte)) {
			depth--;
		} else if (SCALAR_STARTS.has(byte) && BEFORE_VALUE.has(last)) {
			nodes++;
		}
		last = byte;
		if (nodes > limits.maxNodes) {
			throw new HttpError(
				422,
				ERR.lead_too_large,
				`A lead may hold ${limits.maxNodes} values at most`,
			);
		}
	}
}

/** No key that reaches a prototype; no NUL or lone surrogate in any key or text (Postgres refuses them). */
function checkText(value: JsonValue): void {
	if (typeof value === 'string') {
		if (!isStorableText(value)) throw invalidText();
		return;
	}
	if (Array.isArray(value)) {
		for (const item of value) checkText(item);
		return;
	}
	if (value === null || typeof value !== 'object') return;
	for (const [key, item] of Object.entries(value)) {
		if (FORBIDDEN_KEYS.has(key)) {
			throw new HttpError(422, ERR.lead_forbidden_key, `A lead may not use "${key}" as a key`);
		}
		if (!isStorableText(key)) throw invalidText();
		checkText(item);
	}
}

function invalidText(): HttpError {
	return new HttpError(
		422,
		ERR.lead_invalid_text,
		'A lead may not contain NUL characters or unpaired UTF-16 surrogates (\\u0000, lone \\ud800-\\udfff)',
	);
}

function describeIssue(issue: z.core.$ZodIssue) {
	return { path: issue.path.join('.') || '(body)', code: issue.code, message: issue.message };
}
