import type { Alert } from '../alert';

/** What POST /internal/alerts takes (16 KB at most, values nested 12 levels at most). */
const MAX_BYTES = 15 * 1024;
const MAX_DEPTH = 12;
const MAX_TEXT = 1000;

/**
 * The alert as the processor's strict schema takes it: ids it cannot name a file after are left
 * out, texts cut, and a payload or response too large or too deep for the call is replaced by a
 * note (the processor has the lead; the alert must not be lost for its size).
 */
export function processorAlert(alert: Alert, alertId: string): Record<string, unknown> {
	const body: Record<string, unknown> = {
		alert_id: alertId,
		severity: alert.severity,
		summary: storable(alert.summary, MAX_TEXT),
		run_id: alert.run_id && /^[A-Za-z0-9_-]{1,100}$/.test(alert.run_id) ? alert.run_id : null,
		statusCode: Number.isInteger(alert.statusCode)
			? Math.min(599, Math.max(0, alert.statusCode))
			: 0,
		reason: storable(alert.reason, MAX_TEXT),
		outcome: alert.outcome && /^[a-z_]{1,40}$/.test(alert.outcome) ? alert.outcome : null,
		created_at: alert.created_at,
		response: fits(alert.response),
		payload: fits(alert.payload),
	};
	for (const key of ['payload', 'response'] as const) {
		const size = Buffer.byteLength(JSON.stringify(body));
		if (size <= MAX_BYTES) break;
		body[key] = { withheld: `too large for an alert (${size} bytes); see the run's history` };
	}
	return body;
}

function fits(value: unknown): unknown {
	return depth(value, MAX_DEPTH) > MAX_DEPTH
		? { withheld: `nested deeper than ${MAX_DEPTH} levels; see the run's history` }
		: storableDeep(value ?? null);
}

/**
 * Text the processor can store: it refuses a body with a NUL, a half of a UTF-16 pair or a key
 * `__proto__` (Postgres cannot keep the first two), and a refused alert would be lost. A lead
 * refused for such text, or a cut made in the middle of an emoji, must still raise its alert: NULs
 * are dropped, lone halves become U+FFFD, and a cut never splits a pair.
 */
function storable(text: string, max = Infinity): string {
	let clean = text.includes('\u0000') ? text.split('\u0000').join('') : text;
	if (clean.length > max) {
		clean = clean.slice(0, max);
		const last = clean.charCodeAt(clean.length - 1);
		if (last >= 0xd800 && last <= 0xdbff) clean = clean.slice(0, -1);
	}
	return (clean as string & { toWellFormed(): string }).toWellFormed();
}

/** The value with every key and text storable; keys `__proto__` left out. Depth already bounded. */
function storableDeep(value: unknown): unknown {
	if (typeof value === 'string') return storable(value);
	if (value === null || typeof value !== 'object') return value;
	if (Array.isArray(value)) return value.map(storableDeep);
	const clean: Record<string, unknown> = {};
	for (const [key, item] of Object.entries(value)) {
		const name = storable(key);
		if (name === '__proto__') continue;
		Object.defineProperty(clean, name, {
			value: storableDeep(item),
			enumerable: true,
			writable: true,
			configurable: true,
		});
	}
	return clean;
}

function depth(value: unknown, limit: number): number {
	if (value === null || typeof value !== 'object') return 0;
	if (limit <= 0) return 1;
	let deepest = 0;
	for (const item of Object.values(value)) deepest = Math.max(deepest, depth(item, limit - 1));
	return deepest + 1;
}
