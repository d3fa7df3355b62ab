import type { INodeOutputConfiguration, NodeHint } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

/**
 * The ways a submitted lead can end: one output each, in this order. The node's outputs, its
 * hints, execute() and the test of the workflow files' wiring all read this one list.
 */
export const OUTCOMES = [
	{
		name: 'accepted',
		displayName: 'Accepted',
		meaning:
			'the processor took the lead: delivered it to the CRM (response.run_status processed), or, answering when the lead is stored, stored it for delivery in the background (HTTP 202, run_status queued; a Lead Outcome Trigger hears how it ends).',
		action: 'Nothing to do.',
		hintType: 'info',
	},
	{
		name: 'duplicate',
		displayName: 'Duplicate',
		meaning:
			'the processor already had this lead: the same idempotency key again (response.existing_status says how the first one ended), or the same person within the duplicate window under another key (duplicate_of names the first run, match says what matched: email, phone or payload). Nothing was sent to the CRM.',
		action: 'Nothing to do: the lead was sent twice.',
		hintType: 'info',
	},
	{
		name: 'rejected',
		displayName: 'Rejected',
		meaning:
			'the lead broke an intake rule, or the processor refused it as malformed, too large or with a reused key (HTTP 413, 422, or a 400 about its body: invalid_json, invalid_utf8, idempotency_key_invalid).',
		action:
			'The reasons are in response.reasons or response.detail; ask the source to fix the lead.',
		hintType: 'warning',
	},
	{
		name: 'failed',
		displayName: 'Failed',
		meaning:
			'the lead is not in the CRM: delivery failed and the lead waits in the DLQ (HTTP 500), or the processor refused the request (signature, clock, rate limit, a repeat still in progress) or could not be reached.',
		action:
			'A DLQ item (response.dlq_id) is retried by the DLQ retry workflow; for the others, the source may send the lead again (response.code says why).',
		hintType: 'warning',
	},
] as const;

export type Outcome = (typeof OUTCOMES)[number]['name'];

export const OUTCOME_NAMES: readonly Outcome[] = OUTCOMES.map((outcome) => outcome.name);

export const OUTCOME_OUTPUTS: INodeOutputConfiguration[] = OUTCOMES.map(({ displayName }) => ({
	type: NodeConnectionTypes.Main,
	displayName,
}));

/** Shown in the output pane before the node has run: what each output means. */
export const OUTCOME_HINTS: NodeHint[] = OUTCOMES.map(({ displayName, meaning, action }) => ({
	message: `<b>${displayName}</b>: ${meaning} ${action}`,
	type: 'info',
	location: 'outputPane',
	whenToDisplay: 'beforeExecution',
	displayCondition: '={{ ($parameter["operation"] ?? "submitLead") === "submitLead" }}',
	group: { key: 'lead-intake-outputs', summary: 'What the four outputs mean', label: displayName },
}));

/** Statuses that mean the lead itself is unacceptable (too large, wrong shape, key reused). */
const LEAD_REFUSED = new Set([413, 422]);
/** The 400s that are about the source's request, not about how n8n handed it on. */
const SOURCE_BAD_REQUESTS = new Set([
	'invalid_json',
	'invalid_utf8',
	'idempotency_key_invalid',
	// the source's key as the Standard Webhooks id: too long, or `erased:` (an erasure's)
	'webhook_id_invalid',
]);

/**
 * Whether the processor's answer is about the source's lead or its pace (the source should hear
 * it as it is), rather than about the hand-off from n8n: a signature the processor does not
 * take (a rotated secret), a wrong base URL (whatever answers there), n8n's clock out of the
 * window. Those are n8n's to fix; the lead was not stored, so the source is told to send it
 * again later.
 */
export function concernsTheSource(statusCode: number, answer: Record<string, unknown>): boolean {
	// a success that is not the processor's (a catch-all proxy or a maintenance page at the base
	// URL): the lead was not stored, and the source must not hear that it was
	if (statusCode < 400) return outcomeOf(statusCode, answer) !== 'failed';
	if (statusCode >= 500) return true;
	// past the limit of refused signatures from n8n's address: n8n's signature, not the source's pace
	if (statusCode === 429) return answer.limit !== 'refused-signature';
	if (LEAD_REFUSED.has(statusCode)) return true;
	if (statusCode === 409) return answer.code === 'request_in_progress';
	return statusCode === 400 && SOURCE_BAD_REQUESTS.has(String(answer.code));
}

/**
 * Maps the processor's answer to an output. 200s say what happened in `status`; a 202 (answered on
 * store: the lead is stored, delivery follows in the background) is `accepted` with run_status
 * `queued`; the lead's own faults are `rejected`; anything else (signature, rate limit, DLQ 500,
 * processor down) is `failed`, so an alert follows and no lead disappears silently.
 */
export function outcomeOf(statusCode: number, answer: Record<string, unknown>): Outcome {
	if (statusCode === 202) {
		return answer.status === 'accepted' && answer.run_status === 'queued' ? 'accepted' : 'failed';
	}
	if (statusCode === 200) {
		if (
			answer.status === 'accepted' ||
			answer.status === 'duplicate' ||
			answer.status === 'rejected'
		) {
			return answer.status;
		}
		return 'failed';
	}
	const refused =
		LEAD_REFUSED.has(statusCode) ||
		(statusCode === 400 && SOURCE_BAD_REQUESTS.has(String(answer.code)));
	return refused ? 'rejected' : 'failed';
}
