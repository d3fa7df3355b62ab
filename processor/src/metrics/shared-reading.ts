/**
 * A reading that many callers share: one `read()` at a time, its value reused for `maxAgeMs`.
 * A failed read is not kept, so the next caller tries again.
 */
export function sharedReading<T>(
	read: () => Promise<T>,
	maxAgeMs: number,
	now: () => number = Date.now,
): () => Promise<T> {
	let last: { at: number; value: T } | null = null;
	let inFlight: Promise<T> | null = null;
	return () => {
		if (last && now() - last.at < maxAgeMs) return Promise.resolve(last.value);
		inFlight ??= read()
			.then((value) => {
				last = { at: now(), value };
				return value;
			})
			.finally(() => {
				inFlight = null;
			});
		return inFlight;
	};
}
