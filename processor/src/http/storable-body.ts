import { isUtf8 } from 'node:buffer';
import type { RequestHandler } from 'express';
import { ERR } from '../error-codes.js';
import { HttpError } from '../errors.js';
import { isStorableText } from '../text/storable.js';

/*
 * An operator's JSON body holds only what can be stored as sent: its bytes are UTF-8 (never
 * repaired with U+FFFD), no key or text has a NUL or an unpaired surrogate, which Postgres
 * refuses halfway through a change, and no key is `__proto__`, which a JavaScript object cannot
 * hold as data: a copy of the body (a schema's record, a sanitized payload) would silently lose
 * it (docs/hostile-input.md). Checked once for the whole body, before any route reads it; the body
 * is already bounded in size.
 */

/** For express.json's `verify`: the raw bytes must be UTF-8. */
export function requireUtf8(_req: unknown, _res: unknown, bytes: Buffer): void {
	if (!isUtf8(bytes)) throw new HttpError(400, ERR.invalid_utf8, 'The body is not valid UTF-8');
}

export const refuseUnstorableBody: RequestHandler = (req, _res, next) => {
	const pending: unknown[] = [req.body];
	while (pending.length > 0) {
		const value = pending.pop();
		if (typeof value === 'string') {
			if (!isStorableText(value)) return next(unstorable());
		} else if (value !== null && typeof value === 'object') {
			for (const [key, item] of Object.entries(value)) {
				if (!isStorableText(key)) return next(unstorable());
				if (key === '__proto__') return next(lostKey());
				pending.push(item);
			}
		}
	}
	next();
};

const lostKey = () =>
	new HttpError(
		400,
		ERR.invalid_request,
		'The body may not use the key __proto__: it cannot be kept as data; rename it',
	);

const unstorable = () =>
	new HttpError(
		400,
		ERR.invalid_request,
		'The body may not contain NUL characters or unpaired UTF-16 surrogates (\\u0000, lone \\ud800-\\udfff)',
	);
