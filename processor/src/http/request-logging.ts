import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';

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

/**
 * One log line per request (method, path, status, time, correlation id, run id), at the level
 * the status deserves; handlers log through `req.log`, which carries the correlation id too.
 * Written here rather than with pino-http: the intake path is hot and this costs a fraction.
 */
export function requestLogging(logger: Logger): RequestHandler {
	return (req, res, next) => {
		const started = performance.now();
		req.id = correlationIdOf(req, res);
		let child: Logger | undefined;
		Object.defineProperty(req, 'log', { get: () => (child ??= logger.child({ correlation_id: req.id })) });
		res.once('finish', () => {
			const status = res.statusCode;
			const level = res.err || status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
			if (!logger.isLevelEnabled(level)) return;
			logger[level](
				{
					correlation_id: req.id,
					req: { method: req.method, path: req.path },
					res: { status },
					run_id: res.locals.runId as string | undefined,
					responseTime: Math.round(performance.now() - started),
					err: res.err,
				},
				'request completed',
			);
		});
		next();
	};
}
