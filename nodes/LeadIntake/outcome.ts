/** The four ways a submitted lead can end, one output each (in this order). */
export const OUTCOMES = ['accepted', 'duplicate', 'rejected', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Statuses that mean the lead itself is unacceptable (bad JSON, wrong shape, too large, key reused). */
const LEAD_REFUSED = new Set([400, 413, 422]);

/**
 * Maps the processor's answer to an output. 200s say what happened in `status`; the lead's own
 * faults are `rejected`; anything else (signature, rate limit, DLQ 500, processor down) is `failed`,
 * so an alert follows and no lead disappears silently.
 */
export function outcomeOf(statusCode: number, answer: Record<string, unknown>): Outcome {
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
	return LEAD_REFUSED.has(statusCode) ? 'rejected' : 'failed';
}
