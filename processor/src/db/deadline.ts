/** A statement that did not finish in time: treated like an unreachable database (503). */
export class DatabaseDeadlineError extends Error {
	readonly code = 'DB_DEADLINE';
	constructor(ms: number) {
		super(`the database did not answer within ${ms} ms`);
		this.name = 'DatabaseDeadlineError';
	}
}

/**
 * Runs a statement with a deadline. When it passes, the statement is cancelled: one still queued
 * for a connection never runs, one already sent gets a cancel request. The caller gets
 * DatabaseDeadlineError at once, so a request waiting for the database never hangs.
 */
export async function withDeadline<T>(
	query: Promise<T> & { cancel?: () => unknown },
	ms: number,
): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(() => {
			void Promise.resolve(query.cancel?.()).catch(() => undefined);
			reject(new DatabaseDeadlineError(ms));
		}, ms);
	});
	try {
		return await Promise.race([query, deadline]);
	} finally {
		clearTimeout(timer);
	}
}
