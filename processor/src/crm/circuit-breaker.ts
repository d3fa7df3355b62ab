import type { CrmClient, DeliveryResult } from './crm-client.js';

export interface BreakerPolicy {
	/** Consecutive retryable failures that pause calls. */
	failureThreshold: number;
	/** How long calls stay paused before one probe is let through. */
	cooldownSeconds: number;
	/** The longest pause a CRM's Retry-After can ask for. */
	maxPauseSeconds: number;
}

type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitStatus {
	state: CircuitState;
	/** While open: when the next probe may go. */
	until: string | null;
}

export interface GuardedCrm extends CrmClient {
	status(): CircuitStatus;
}

/**
 * Stops hammering a CRM that keeps failing: after `failureThreshold` consecutive retryable
 * failures (or a Retry-After on 429/503) calls are paused for a cool-down and answered at once
 * as `crm_unavailable` (the lead goes to the DLQ, no attempt is counted); then one call goes
 * through as a probe, and its success closes the circuit again (a call sent before the circuit
 * opened and answered after cannot). Per processor process.
 */
export function withCircuitBreaker(
	crm: CrmClient,
	policy: BreakerPolicy,
	now: () => Date,
	onChange: (status: CircuitStatus) => void = () => undefined,
): GuardedCrm {
	let failures = 0;
	let openUntil: number | null = null;
	let probing = false;
	/** Counts the openings: a call sent before the latest one says nothing about the CRM since. */
	let openings = 0;

	const status = (): CircuitStatus => {
		if (openUntil === null) return { state: 'closed', until: null };
		const until = new Date(openUntil).toISOString();
		return { state: now().getTime() < openUntil ? 'open' : 'half-open', until };
	};
	const pause = (seconds: number) => {
		const until = now().getTime() + Math.min(seconds, policy.maxPauseSeconds) * 1000;
		const wasClosed = openUntil === null;
		openUntil = Math.max(openUntil ?? 0, until);
		if (!wasClosed) return;
		openings++;
		onChange(status());
	};
	const close = () => {
		failures = 0;
		if (openUntil === null) return;
		openUntil = null;
		onChange(status());
	};
	const skipped = (): DeliveryResult => ({
		ok: false,
		statusCode: null,
		reason: 'crm_unavailable',
		error: `CRM calls are paused after repeated failures until ${status().until}`,
		retryable: true,
		retryAfterSeconds: null,
		durationMs: 0,
		skipped: true,
	});

	return {
		status,
		async upsert(payload) {
			const state = status().state;
			if (state === 'open' || (state === 'half-open' && probing)) return skipped();
			const probe = state === 'half-open';
			if (probe) probing = true;
			const sentAfter = openings;
			try {
				const result = await crm.upsert(payload);
				// a success of a call sent before the circuit opened (a 429's Retry-After, say) does
				// not close it: only the probe, or a call sent since, speaks for the CRM now
				if (result.ok || !result.retryable) {
					if (probe || sentAfter === openings) close();
				} else if (probe) pause(Math.max(policy.cooldownSeconds, result.retryAfterSeconds ?? 0));
				else if (result.retryAfterSeconds !== null) pause(result.retryAfterSeconds);
				else if (++failures >= policy.failureThreshold) pause(policy.cooldownSeconds);
				return result;
			} finally {
				if (probe) probing = false;
			}
		},
		close: () => crm.close(),
	};
}
