import type { z } from 'zod';
import { HttpError } from '../errors.js';

/** A long list of problems is cut here: the first ones say what to fix. */
const MAX_ISSUES = 50;

/** Validates input at the edge: 400 naming each bad field (by its path in the input). */
export function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
	const result = schema.safeParse(value);
	if (result.success) return result.data;
	throw new HttpError(400, 'invalid_request', 'The request parameters are invalid', {
		issues: result.error.issues.slice(0, MAX_ISSUES).map((issue) => ({
			path: issue.path.join('.') || '(body)',
			message: issue.message,
		})),
	});
}
