import { isConnectionError } from './connection.js';
import { DatabaseDeadlineError } from './deadline.js';

/**
 * Group commit for the intake path: calls made while a flush is in flight wait and go to the
 * database together, one statement for the whole batch. Under load this replaces dozens of round
 * trips (each waking a Postgres backend) with one; with a single caller it adds no wait at all.
 *
 * A batch is never everyone's failure: when the database refuses a batch's statement (one item it
 * cannot take, say), each item is tried again alone, so only the item whose write cannot be made
 * fails. An unreachable database fails the whole batch at once (trying each alone cannot help).
 */
export function createBatcher<T, R>(
	flush: (items: T[]) => Promise<R[]>,
	options: {
		maxBatch: number;
		maxInFlight: number;
		/**
		 * The longest a call waits for its flush to start: a stalled database (every flush
		 * running into its deadline) must not grow the queue and everyone's wait without bound.
		 * The call fails as a deadline (503); it was never written.
		 */
		maxWaitMs?: number;
	},
): (item: T) => Promise<R> {
	interface Entry {
		item: T;
		resolve: (result: R) => void;
		reject: (error: unknown) => void;
		timer?: NodeJS.Timeout;
		expired?: true;
	}
	const queue: Entry[] = [];
	let inFlight = 0;

	const pump = () => {
		while (inFlight < options.maxInFlight && queue.length > 0) {
			const batch = queue.splice(0, options.maxBatch).filter((entry) => !entry.expired);
			if (batch.length === 0) continue;
			for (const entry of batch) clearTimeout(entry.timer);
			inFlight++;
			flush(batch.map((entry) => entry.item))
				.then(
					(results) => batch.forEach((entry, index) => entry.resolve(results[index]!)),
					(error: unknown) => {
						if (batch.length === 1 || isConnectionError(error)) {
							batch.forEach((entry) => entry.reject(error));
							return;
						}
						return Promise.all(
							batch.map((entry) =>
								flush([entry.item]).then(([result]) => entry.resolve(result!), entry.reject),
							),
						);
					},
				)
				.finally(() => {
					inFlight--;
					pump();
				});
		}
	};

	const { maxWaitMs } = options;
	return (item) =>
		new Promise<R>((resolve, reject) => {
			const entry: Entry = { item, resolve, reject };
			if (maxWaitMs !== undefined) {
				// cleared when its flush starts (in pump, right below if a slot is free)
				entry.timer = setTimeout(() => {
					entry.expired = true;
					reject(new DatabaseDeadlineError(maxWaitMs));
				}, maxWaitMs);
			}
			queue.push(entry);
			pump();
		});
}
