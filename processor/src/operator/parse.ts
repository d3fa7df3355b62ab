import type { Request } from 'express';
import type { z } from 'zod';
import * as request from '../api/requests.js';
import { HttpError, MAX_ISSUES } from '../errors.js';
import { ERR } from '../error-codes.js';
import { headerText } from '../text/header-text.js';
import { maskEmailsWithin } from '../pii/sanitize.js';

/** Validates one value at the edge: 400 naming each bad field (by its path in the input). */
export function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
	const result = schema.safeParse(value);
	if (result.success) return result.data;
	throw new HttpError(400, ERR.invalid_request, 'The request parameters are invalid', {
		issues: result.error.issues.slice(0, MAX_ISSUES).map((issue) => ({
			path: issue.path.join('.') || '(body)',
			message: issue.message,
		})),
	});
}
type Shape = z.ZodObject;

type Parsed<T extends Shape | undefined> = T extends Shape ? z.infer<T> : object;

/**
 * Validates a request's path parameters, query and body at the edge, each against its strict
 * schema (a part without one must be empty): 400 naming each bad or unknown parameter.
 */
export function input<
	P extends Shape | undefined,
	Q extends Shape | undefined,
	B extends Shape | undefined,
>(
	req: Request,
	schemas: { params?: P; query?: Q; body?: B },
	/** What of the body is validated (the body as parsed, by default). */
	bodyOf: (body: unknown) => unknown = (body) => body,
): Parsed<P> & Parsed<Q> & Parsed<B> {
	const issues: { path: string; message: string }[] = [];
	const unknown: { what: string; names: string[] }[] = [];
	const parsed: Record<string, unknown> = {};
	const parts = [
		['path parameter', schemas.params, req.params],
		['query parameter', schemas.query ?? request.NoQuery, req.query],
		['body field', schemas.body ?? request.NoBody, bodyOf(req.body ?? {})],
	] as const;
	for (const [what, schema, value] of parts) {
		if (!schema) continue;
		const result = schema.safeParse(value);
		if (result.success) {
			Object.assign(parsed, result.data);
			continue;
		}
		for (const issue of result.error.issues.slice(0, MAX_ISSUES)) {
			if (issue.code === 'unrecognized_keys' && issue.path.length === 0) {
				const known = Object.keys(schema.shape);
				unknown.push({ what, names: issue.keys });
				for (const key of issue.keys) {
					issues.push({
						path: key,
						message: `unknown ${what}; ${known.length ? `the ${what}s are ${known.join(', ')}` : `this endpoint takes no ${what}s`}`,
					});
				}
			} else {
				issues.push({ path: issue.path.join('.') || `(${what}s)`, message: issue.message });
			}
		}
	}
	if (issues.length === 0) return parsed as Parsed<P> & Parsed<Q> & Parsed<B>;
	const unknownCount = unknown.reduce((sum, part) => sum + part.names.length, 0);
	const listed = issues.slice(0, 3).map((issue) => `${issue.path}: ${issue.message}`);
	if (issues.length > 3) {
		const shown = issues.length > MAX_ISSUES ? `the first ${MAX_ISSUES}` : 'all';
		listed.push(`${issues.length - 3} more (${shown} in "issues")`);
	}
	const detail =
		unknownCount === issues.length
			? `Unknown ${unknown.map((part) => `${part.what} ${request.nameSome(part.names)}`).join(', ')}: nothing was done`
			: `The request parameters are invalid (${listed.join('; ')}): nothing was done`;
	throw new HttpError(400, ERR.invalid_request, detail, { issues: issues.slice(0, MAX_ISSUES) });
}

/**
 * Who asks for a change: the body's `actor`, else the X-Operator header (read as UTF-8 when its
 * bytes are UTF-8, and checked even when `actor` is given), else "operator".
 */
export function whoAsks(req: Request, actor: string | undefined): string {
	const header = headerText(req.get('x-operator'));
	const headers = parse(request.OperatorHeaders, { 'x-operator': header });
	// kept in the record (an erasure's requested_by, its event): an e-mail address in it is masked
	return maskEmailsWithin(actor ?? headers['x-operator'] ?? 'operator', 100);
}
