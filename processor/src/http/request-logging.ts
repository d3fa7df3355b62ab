import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../logger.js';

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
 */
export function requestLogging(logger: Logger) {
	return pinoHttp({
		logger,
		genReqId: correlationIdOf,
		quietReqLogger: true,
		customAttributeKeys: { reqId: 'correlation_id' },
		serializers: {
			req: (req: IncomingMessage) => ({ method: req.method, path: req.url?.split('?')[0] }),
			res: (res: ServerResponse) => ({ status: res.statusCode }),
		},
		customProps: (_req, res) => {
			const runId = (res as ServerResponse & { locals?: { runId?: string } }).locals?.runId;
			return runId ? { run_id: runId } : {};
		},
		customLogLevel: (_req, res, error) => {
			if (error || res.statusCode >= 500) return 'error';
			return res.statusCode >= 400 ? 'warn' : 'info';
		},
	});
}
