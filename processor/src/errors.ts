/** A long list of problems in an answer is cut here: the first ones say what to fix. */
export const MAX_ISSUES = 50;

/** An error with its HTTP answer. Thrown anywhere; turned into JSON in one place (http/errors). */
export class HttpError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly details: Record<string, unknown> = {},
		readonly headers: Record<string, string> = {},
	) {
		super(message);
		this.name = 'HttpError';
	}
}
