import { isConnectionError } from './connection.js';

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
	options: { maxBatch: number; maxInFlight: number },
): (item: T) => Promise<R> {
	const queue: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
	let inFlight = 0;

	const pump = () => {
		while (inFlight < options.maxInFlight && queue.length > 0) {
			const batch = queue.splice(0, options.maxBatch);
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

	return (item) =>
		new Promise<R>((resolve, reject) => {
			queue.push({ item, resolve, reject });
			pump();
		});
}
