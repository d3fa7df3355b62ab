export interface BackoffPolicy {
	/** Delay before retry n+1, by n; the last one repeats. */
	scheduleSeconds: readonly number[];
	/** Each delay is spread by up to ± this fraction, so a burst of failures does not retry in lockstep. */
	jitterRatio: number;
	maxRetries: number;
}

/**
 * Named retry schedules (DLQ_BACKOFF_SECONDS). `standard` outlasts a CRM outage of days, as the
 * webhook industry does (Standard Webhooks, Stripe, Svix: one to three days): 11 retries over
 * about 95 hours, so with ±10 % jitter the last one comes after at least 85 hours. `seed` is the
 * original 15-minute schedule, kept for those who relied on it.
 */
export const BACKOFF_PRESETS = {
	standard: [
		30,
		120,
		600,
		1800,
		3600,
		3 * 3600,
		6 * 3600,
		12 * 3600,
		24 * 3600,
		24 * 3600,
		24 * 3600,
	],
	seed: [30, 60, 120, 240, 480],
} as const satisfies Record<string, readonly number[]>;

export type BackoffPreset = keyof typeof BACKOFF_PRESETS;

/** No retry is scheduled further out than this, whatever a Retry-After asks for. */
const LONGEST_DELAY_SECONDS = 24 * 3600;

/**
 * When a DLQ item that has been retried `retryCount` times becomes due again: the schedule's
 * delay with jitter, but never before the CRM's Retry-After.
 */
export function nextRetryAt(
	now: Date,
	retryCount: number,
	policy: BackoffPolicy,
	retryAfterSeconds: number | null = null,
	random: () => number = Math.random,
): Date {
	const schedule = policy.scheduleSeconds;
	const base = schedule[Math.min(retryCount, schedule.length - 1)] ?? 30;
	const spread = base * policy.jitterRatio * (2 * random() - 1);
	const seconds = Math.max(base + spread, Math.min(retryAfterSeconds ?? 0, LONGEST_DELAY_SECONDS));
	return new Date(now.getTime() + Math.round(seconds * 1000));
}
