/**
 * Runs `work` over `items` with at most `concurrency` at once; results in the items' order. An
 * item that fails does not stop the others: every item is worked, and then the first failure is
 * thrown (a caller never goes on while work it started is still running).
 */
export async function mapConcurrently<T, R>(
	items: T[],
	concurrency: number,
	work: (item: T) => Promise<R>,
): Promise<R[]> {
	const results: R[] = new Array(items.length);
	const failures: unknown[] = [];
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			try {
				results[index] = await work(items[index]!);
			} catch (error) {
				failures.push(error);
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
	if (failures.length > 0) throw failures[0];
	return results;
}

/**
 * How long `items` calls of at most `callMs` each can take, `concurrency` at a time, each followed
 * by its own write of at most `writeMs`, with one call and write more for the claim and the
 * writes around them: the shortest lease a claim on them may carry.
 */
export function batchWorstCaseMs(
	items: number,
	concurrency: number,
	callMs: number,
	writeMs: number,
): number {
	return (Math.ceil(items / concurrency) + 1) * (callMs + writeMs);
}
