import { isUtf8 } from 'node:buffer';
import type { RequestHandler } from 'express';
import { ERR } from '../error-codes.js';
import { HttpError } from '../errors.js';
import { isStorableText } from '../text/storable.js';

/*
 * An operator's JSON body holds only what can be stored as sent: its bytes are UTF-8 (never
 * repaired with U+FFFD), and no key or text has a NUL or an unpaired surrogate, which Postgres
 * refuses halfway through a change (docs/hostile-input.md). Checked once for the whole body,
 * before any route reads it; the body is already bounded in size.
 */

/** For express.json's `verify`: the raw bytes must be UTF-8. */
export function requireUtf8(_req: unknown, _res: unknown, bytes: Buffer): void {
	if (!isUtf8(bytes)) throw new HttpError(400, ERR.invalid_utf8, 'The body is not valid UTF-8');
}

export const refuseUnstorableText: RequestHandler = (req, _res, next) => {
	const pending: unknown[] = [req.body];
	while (pending.length > 0) {
		const value = pending.pop();
		if (typeof value === 'string') {
			if (!isStorableText(value)) return next(unstorable());
		} else if (value !== null && typeof value === 'object') {
			for (const [key, item] of Object.entries(value)) {
				if (!isStorableText(key)) return next(unstorable());
				pending.push(item);
			}
		}
	}
	next();
};

const unstorable = () =>
	new HttpError(
		400,
		ERR.invalid_request,
		'The body may not contain NUL characters or unpaired UTF-16 surrogates (\\u0000, lone \\ud800-\\udfff)',
	);
