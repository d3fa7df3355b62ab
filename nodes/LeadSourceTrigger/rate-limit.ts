/**
 * Requests per minute per lead source, as a token bucket: a source may burst up to its limit and
 * then gets one request per 60/limit seconds. Kept in memory by each n8n process (with several
 * webhook processes each allows the limit): a first line that refuses a flood before an execution
 * starts. The limit that holds over all processes is the processor's per-source limit
 * (SOURCE_RATE_LIMIT_PER_MINUTE, counted in Postgres), whose 429 the Lead Intake node passes on.
 */
export class SourceRateLimiter {
	private readonly buckets = new Map<string, { tokens: number; updatedMs: number }>();

	/** Takes one request from the source's budget; when there is none, says when to come back. */
	take(
		source: string,
		perMinute: number,
		nowMs: number,
	): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
		const capacity = Math.max(1, Math.floor(perMinute));
		const perMs = capacity / 60_000;
		const bucket = this.buckets.get(source) ?? { tokens: capacity, updatedMs: nowMs };
		bucket.tokens = Math.min(
			capacity,
			bucket.tokens + Math.max(0, nowMs - bucket.updatedMs) * perMs,
		);
		bucket.updatedMs = nowMs;
		this.buckets.set(source, bucket);
		if (bucket.tokens >= 1) {
			bucket.tokens -= 1;
			return { allowed: true };
		}
		return {
			allowed: false,
			retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)),
		};
	}
}
