import { clientKey } from './rate-limit.js';

/** Clients tracked in one minute at most: past them, every refusal is logged at debug level. */
const MAX_CLIENTS = 10_000;

/**
 * Whether a refused request from this address still gets its own warn line: at most `perMinute`
 * a minute per client address (REFUSED_PER_MINUTE), the rest at debug level, so a flood of any
 * refusal (a bad header, a wrong path, malformed HTTP) never becomes a flood of log lines; the
 * metrics still count every one. Windows are whole minutes of the processor's clock.
 */
export type RefusalLogBudget = (address: string | undefined) => boolean;

export function refusalLogBudget(perMinute: number, now: () => Date): RefusalLogBudget {
	let window = -1;
	const used = new Map<string, number>();
	return (address) => {
		const minute = Math.floor(now().getTime() / 60_000);
		if (minute !== window) {
			window = minute;
			used.clear();
		}
		const key = clientKey(address);
		const count = used.get(key);
		if (count === undefined && used.size >= MAX_CLIENTS) return false;
		used.set(key, (count ?? 0) + 1);
		return (count ?? 0) < perMinute;
	};
}
