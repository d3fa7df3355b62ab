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
		summary: alert.summary.slice(0, MAX_TEXT),
		run_id: alert.run_id && /^[A-Za-z0-9_-]{1,100}$/.test(alert.run_id) ? alert.run_id : null,
		statusCode: Number.isInteger(alert.statusCode)
			? Math.min(599, Math.max(0, alert.statusCode))
			: 0,
		reason: alert.reason.slice(0, MAX_TEXT),
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
		: (value ?? null);
}

function depth(value: unknown, limit: number): number {
	if (value === null || typeof value !== 'object') return 0;
	if (limit <= 0) return 1;
	let deepest = 0;
	for (const item of Object.values(value)) deepest = Math.max(deepest, depth(item, limit - 1));
	return deepest + 1;
}
