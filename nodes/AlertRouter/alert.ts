import { object } from './from-result';
import { maskEmailsIn, sanitize } from './sanitize';

/*
 * The opening alert a stakeholder reads when a lead is rejected or fails (docs/contract.md,
 * "Alert files"): pure functions, so the node's logic is tested without n8n. Everything in it
 * passes the project's masking rule: no plain e-mail, name, phone or street.
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
	/** An Error Trigger item's workflow and the node it stopped at (n8n's names, not a lead's). */
	workflowError?: { workflow: string; node: string } | null;
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
		reason: maskEmailsIn(input.reason),
		outcome: input.outcome,
		created_at: now.toISOString(),
		response: sanitize(input.response),
		payload: sanitize(input.payload),
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
function summarize(
	{ runId, statusCode, reason, outcome, response, workflowError }: AlertInput,
	severity: Severity,
): string {
	const lead = runId ? `Lead ${runId}` : 'A lead';
	const http = statusCode ? ` (HTTP ${statusCode})` : '';
	const why = maskEmailsIn(reason);
	if (workflowError && !outcome) {
		const where = workflowError.node ? ` at its node “${maskEmailsIn(workflowError.node)}”` : '';
		return `The workflow “${maskEmailsIn(workflowError.workflow)}” failed${where}: ${why}.`;
	}
	switch (outcome) {
		case 'rejected':
			return `${lead} was refused by the intake rules: ${why}${http}.`;
		case 'failed':
			return 'dlq_id' in object(response)
				? `${lead} could not be delivered to the CRM and waits in the retry queue: ${why}${http}.`
				: `${lead} was not taken by the processor: ${why}${http}. The source may send it again.`;
		case 'dead':
			return `${lead} could not be delivered after all retries and needs a person: ${why}${http}.`;
		case 'delivered':
			return `${lead} was delivered to the CRM.`;
		case 'resolved':
			return `${lead} ${RESOLVED_BY.get(String(object(response).by)) ?? 'left the retry queue'}.`;
		default:
			return `${severity === 'info' ? 'Notice' : 'Problem'}: ${why}${http}.`;
	}
}

/** How a `lead.resolved` event's `by` reads (its vocabulary; anything else is not quoted). */
export const RESOLVED_BY = new Map([
	['retry', 'was delivered to the CRM by a retry and left the retry queue'],
	['operator', 'was closed by hand by an operator and left the retry queue'],
	['erasure', "left the retry queue undelivered: its person's data was erased"],
	[
		'superseded',
		'left the retry queue unsent: newer details of the same person had reached the CRM first',
	],
]);

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
