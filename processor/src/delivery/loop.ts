import type { Logger } from '../logger.js';

export interface Loop {
	/** Runs a pass soon (something new is waiting), without waiting for the next poll. */
	wake(): void;
	/** Stops after the pass in progress, if any. */
	stop(): Promise<void>;
}

/**
 * A background pass run again and again: right away while a pass says there is more to do,
 * else after `pollMs` or when woken. A pass that throws is logged and retried at the next poll.
 * One pass at a time.
 */
export function startLoop(
	pass: () => Promise<boolean>,
	options: { pollMs: number; logger: Logger; name: string },
): Loop {
	let stopped = false;
	let timer: NodeJS.Timeout | null = null;
	let woken: (() => void) | null = null;
	let again = false;
	const sleep = () =>
		new Promise<void>((resolve) => {
			woken = resolve;
			timer = setTimeout(resolve, options.pollMs);
			timer.unref();
		}).finally(() => {
			if (timer) clearTimeout(timer);
			timer = null;
			woken = null;
		});
	const running = (async () => {
		while (!stopped) {
			again = false;
			let more = false;
			try {
				more = await pass();
			} catch (error) {
				options.logger.error({ err: error, loop: options.name }, 'background pass failed');
			}
			if (!more && !again && !stopped) await sleep();
		}
	})();
	return {
		wake() {
			again = true;
			woken?.();
		},
		async stop() {
			stopped = true;
			woken?.();
			await running;
		},
	};
}
