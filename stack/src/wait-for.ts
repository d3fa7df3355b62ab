import { inspect } from 'node:util';

interface WaitForOptions<T> {
	/** What is awaited, as the failure message names it: "run crash-1 to be processed". */
	what: string;
	/** Give up after this long; keep it under the test's own timeout so this message is the one seen. */
	deadlineMs?: number;
	/** Pause between two probes. */
	intervalMs?: number;
	/** Whether a probed value is the awaited one (default: anything but null, undefined and false). */
	until?: (value: T) => boolean;
}

const PENDING = Symbol('pending');

/**
 * Probes until it gives the awaited value, and resolves with that value. A probe that throws
 * counts as "not yet" (a server that is still down). At the deadline, even while a probe hangs,
 * it rejects with an error naming what was awaited and the last value (or error) the probe gave.
 * The tests poll with this and nothing else, and only where no event can be awaited.
 */
export async function waitFor<T>(
	probe: () => T | Promise<T>,
	options: WaitForOptions<T>,
): Promise<T> {
	const { what, deadlineMs = 10_000, intervalMs = 50 } = options;
	const until =
		options.until ?? ((value: T) => value !== null && value !== undefined && value !== false);
	const started = Date.now();
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<typeof PENDING>((resolve) => {
		timer = setTimeout(() => resolve(PENDING), deadlineMs);
	});
	let last = 'no probe had finished';
	try {
		for (;;) {
			const outcome = await Promise.race([
				Promise.resolve()
					.then(probe)
					.then(
						(value) => ({ value }),
						(error: unknown) => ({ error }),
					),
				deadline,
			]);
			if (outcome === PENDING) {
				last += ' (a probe was still running)';
				break;
			}
			if ('error' in outcome) {
				const { error } = outcome;
				last = `last error: ${error instanceof Error ? error.message : String(error)}`;
			} else if (until(outcome.value)) {
				return outcome.value;
			} else {
				last = `last value: ${inspect(outcome.value, { depth: 4, breakLength: Infinity })}`;
			}
			if (Date.now() - started >= deadlineMs) break;
			if ((await Promise.race([pause(intervalMs), deadline])) === PENDING) break;
		}
	} finally {
		clearTimeout(timer);
	}
	throw new Error(`Timed out after ${deadlineMs} ms waiting for ${what}; ${last.slice(0, 2000)}`);
}

function pause(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}
