import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';
import { maskEmailsIn } from '../pii/sanitize.js';
import type { RefusalLogBudget } from './log-budget.js';

declare module 'node:http' {
	interface IncomingMessage {
		/** The correlation id: the caller's X-Correlation-ID when sane, else a new one. */
		id: string;
		/** A logger whose lines carry the correlation id. */
		log: Logger;
	}
	interface ServerResponse {
		/** An unexpected error behind this response; the request log line records it. */
		err?: Error;
		/** The run this request created or found, for the request log line. */
		runId?: string;
		/** The route that answered, for metrics (express routes are read from `req.route`). */
		route?: string;
		/**
		 * A refusal past a per-client limit: logged at debug level, not on a line of its own at
		 * warn (a flood must not become a flood of log lines; the metrics still count it).
		 */
		quiet?: boolean;
	}
}

const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Correlation-ID when it is sane, else a new one; echoed on the response. */
export function correlationIdOf(req: IncomingMessage, res: ServerResponse): string {
	const offered = req.headers['x-correlation-id'];
	const id = typeof offered === 'string' && ACCEPTABLE_ID.test(offered) ? offered : randomUUID();
	res.setHeader('X-Correlation-ID', id);
	return id;
}

export function pathOf(req: IncomingMessage): string {
	const url = req.url ?? '/';
	const query = url.indexOf('?');
	return query === -1 ? url : url.slice(0, query);
}

export type CountRequest = (method: string, route: string, status: number) => void;

/**
 * Runs first on every request: correlation id, a `req.log` carrying it, and when the answer is
 * sent one log line (method, path, status, time, run id) at the level the status deserves (a
 * refusal past its client's log budget at debug: log-budget.ts) and one count for the metrics. Written here rather than with pino-http: the intake path is hot
 * and this costs a fraction.
 */
export function observeRequests(
	logger: Logger,
	countRequest: CountRequest,
	loud: RefusalLogBudget,
) {
	return (req: IncomingMessage, res: ServerResponse, path: string): void => {
		const started = performance.now();
		req.id = correlationIdOf(req, res);
		let child: Logger | undefined;
		Object.defineProperty(req, 'log', {
			get: () => (child ??= logger.child({ correlation_id: req.id })),
		});
		res.once('finish', () => {
			const status = res.statusCode;
			countRequest(req.method ?? 'GET', res.route ?? expressRoute(req) ?? 'unmatched', status);
			const refused = status >= 400 && status < 500;
			const level =
				res.err || status >= 500
					? 'error'
					: refused && (res.quiet || !loud(req.socket.remoteAddress))
						? 'debug'
						: refused
							? 'warn'
							: 'info';
			if (!logger.isLevelEnabled(level)) return;
			logger[level](
				{
					correlation_id: req.id,
					req: { method: req.method, path: loggedPath(path) },
					res: { status },
					run_id: res.runId,
					responseTime: Math.round(performance.now() - started),
					err: res.err,
				},
				'request completed',
			);
		});
	};
}

/** Paths are shown this long at most, in log lines and answers: a request line may be 16 KB. */
const SHOWN_PATH_LENGTH = 200;

/** The path as an answer or a log line shows it: at most SHOWN_PATH_LENGTH characters. */
export function shownPath(path: string): string {
	return path.length <= SHOWN_PATH_LENGTH
		? path
		: `${path.slice(0, SHOWN_PATH_LENGTH)}… (${path.length} characters)`;
}

/**
 * The path as logged: an e-mail in a segment (a run looked up by a key that holds one), sent
 * plain or percent-encoded, is masked like everywhere else.
 */
function loggedPath(path: string): string {
	if (!/@|%40/i.test(path)) return shownPath(path);
	// masked whole, then cut: a cut could leave the start of an address unmasked
	return shownPath(
		path
			.split('/')
			.map((segment) => {
				const decoded = decodeSegment(segment);
				const masked = maskEmailsIn(decoded);
				return masked === decoded ? segment : masked;
			})
			.join('/'),
	);
}

function decodeSegment(segment: string): string {
	try {
		return decodeURIComponent(segment);
	} catch {
		return segment;
	}
}

function expressRoute(req: IncomingMessage): string | undefined {
	const { route, baseUrl } = req as IncomingMessage & {
		route?: { path: unknown };
		baseUrl?: string;
	};
	return route ? `${baseUrl ?? ''}${String(route.path)}` : undefined;
}
