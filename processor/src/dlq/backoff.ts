export interface BackoffPolicy {
	/** Delay before retry n+1, by n (SPEC 3.5: 30, 60, 120, 240, 480 s); the last repeats. */
	scheduleSeconds: readonly number[];
	/** Each delay is spread by up to ± this fraction, so a burst of failures does not retry in lockstep. */
	jitterRatio: number;
	maxRetries: number;
}

/** When a DLQ item that has been retried `retryCount` times becomes due again. */
export function nextRetryAt(
	now: Date,
	retryCount: number,
	policy: BackoffPolicy,
	random: () => number = Math.random,
): Date {
	const schedule = policy.scheduleSeconds;
	const base = schedule[Math.min(retryCount, schedule.length - 1)] ?? 30;
	const spread = base * policy.jitterRatio * (2 * random() - 1);
	return new Date(now.getTime() + Math.round((base + spread) * 1000));
}
