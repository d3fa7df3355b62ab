import type { HttpStub } from './http-stub';

/**
 * Runs `start` while `stub` holds its request unanswered, on a fake clock for n8n's HTTP client
 * (which times requests out with setTimeout): checks it is still running 1 ms before `timeoutMs`
 * and returns what it ends with at `timeoutMs`.
 */
export async function runPastTimeout<T>(
	timeoutMs: number,
	stub: HttpStub,
	start: () => Promise<T>,
): Promise<T> {
	stub.answer(() => ({ status: 0, hold: true }));
	jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date'] });
	try {
		const held = stub.requests.length + 1;
		let finished = false;
		const running = start().finally(() => (finished = true));
		await stub.received(held);
		jest.advanceTimersByTime(timeoutMs - 1);
		await new Promise((resolve) => setImmediate(resolve));
		expect(finished).toBe(false);
		jest.advanceTimersByTime(1);
		return await running;
	} finally {
		jest.useRealTimers();
	}
}
