/*
 * The alert a stakeholder reads (docs/contract.md, "Alert files"): pure functions, so the node's logic is tested
 * without n8n. Nothing in an alert may carry a plain e-mail address.
 */

export type Severity = 'info' | 'warning' | 'high' | 'critical';

export interface AlertInput {
	runId: string;
	statusCode: number;
	reason: string;
	/** `auto` decides from the outcome and status code. */
	severity: Severity | 'auto';
	outcome: string | null;
	response: unknown;
	payload: unknown;
}

export interface Alert {
	alert: true;
	severity: Severity;
	summary: string;
	run_id: string | null;
	statusCode: number;
	reason: string;
	outcome: string | null;
	created_at: string;
	response: unknown;
	payload: unknown;
}

export function buildAlert(input: AlertInput, now: Date): Alert {
	const severity = input.severity === 'auto' ? severityOf(input) : input.severity;
	return {
		alert: true,
		severity,
		summary: summarize(input, severity),
		run_id: input.runId || null,
		statusCode: input.statusCode,
		reason: maskEmails(input.reason) as string,
		outcome: input.outcome,
		created_at: now.toISOString(),
		response: maskEmails(input.response),
		payload: maskEmails(input.payload),
	};
}

function severityOf({ outcome, statusCode }: AlertInput): Severity {
	if (outcome === 'dead') return 'critical';
	if (outcome === 'rejected' || outcome === 'duplicate') return 'info';
	if (statusCode === 401 || statusCode === 409 || statusCode >= 500 || outcome === 'failed')
		return 'high';
	return 'warning';
}

/** One line a non-technical reader understands. */
function summarize({ runId, statusCode, reason, outcome }: AlertInput, severity: Severity): string {
	const lead = runId ? `Lead ${runId}` : 'A lead';
	const http = statusCode ? ` (HTTP ${statusCode})` : '';
	const why = maskEmails(reason) as string;
	switch (outcome) {
		case 'rejected':
			return `${lead} was refused by the intake rules: ${why}${http}.`;
		case 'failed':
			return `${lead} could not be delivered to the CRM and waits for a retry: ${why}${http}.`;
		case 'dead':
			return `${lead} could not be delivered after all retries and needs a person: ${why}${http}.`;
		default:
			return `${severity === 'info' ? 'Notice' : 'Problem'}: ${why}${http}.`;
	}
}

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;

/** Every e-mail address anywhere in the value becomes `j***@example.com`. */
export function maskEmails(value: unknown): unknown {
	if (typeof value === 'string') return value.replace(EMAIL, '$1***@$2');
	if (Array.isArray(value)) return value.map(maskEmails);
	if (value !== null && typeof value === 'object') {
		return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskEmails(item)]));
	}
	return value;
}

/** `20261123T061502Z`: UTC, to the second. */
export function alertTimestamp(date: Date): string {
	return date
		.toISOString()
		.replace(/[-:]/g, '')
		.replace(/\.\d{3}Z$/, 'Z');
}

/** `<UTC yyyymmddTHHMMSSZ>_<run id or id>.json`, then `-2`, `-3` ... for a second alert in that second. */
export function alertFileName(date: Date, id: string, copy = 1): string {
	const safeId = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100) || 'alert';
	return `${alertTimestamp(date)}_${safeId}${copy > 1 ? `-${copy}` : ''}.json`;
}
