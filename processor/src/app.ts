import type { RequestListener } from 'node:http';
import express from 'express';
import type { Sql } from './db/connection.js';
import { healthRouter, type HealthOptions } from './health/health-route.js';
import { HttpError } from './errors.js';
import { errorHandler, notFound, sendError } from './http/errors.js';
import { readToTheEnd } from './http/read-to-the-end.js';
import type { RefusalLogBudget } from './http/log-budget.js';
import { observeRequests, pathOf } from './http/request-logging.js';
import { INTAKE_PATH, intakeHandler, type IntakeRouteOptions } from './intake/intake-route.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics/metrics.js';
import { openApiDocument } from './openapi/openapi.js';
import { operatorRouter, type OperatorDeps } from './operator/operator-routes.js';
import { ERR } from './error-codes.js';

export interface AppDeps {
	sql: Sql;
	logger: Logger;
	metrics: Metrics;
	health: HealthOptions;
	intake: IntakeRouteOptions;
	operator: OperatorDeps;
	/** Which refusals still get a warn line (per client address and minute). */
	loud: RefusalLogBudget;
}

/**
 * Every request is observed (correlation id, log line, metrics); `POST /webhook/lead` goes to
 * its plain handler, everything else to express.
 */
export function createApp(deps: AppDeps): RequestListener {
	const observe = observeRequests(deps.logger, deps.metrics.countRequest, deps.loud);
	const intake = intakeHandler(deps.intake);
	const app = express();
	app.disable('x-powered-by');
	app.disable('etag');
	app.use(healthRouter(deps.health));
	app.use(operatorRouter(deps.operator));
	app.get('/openapi.json', (_req, res) => void res.json(openApiDocument));
	app.get('/metrics', async (_req, res) => {
		res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
	});
	app.use(notFound);
	app.use(errorHandler);

	return (req, res) => {
		const path = pathOf(req);
		observe(req, res, path);
		// an answer sent before the body was read must still reach the client
		readToTheEnd(req, res);
		// node's own check (requireHostHeader, switched off in processor.ts) answers without a body
		if (req.headers.host === undefined && req.httpVersion === '1.1') {
			return sendError(
				req,
				res,
				new HttpError(400, ERR.host_missing, 'HTTP/1.1 needs a Host header'),
			);
		}
		if (req.method === 'POST' && path === INTAKE_PATH) intake(req, res);
		else app(req, res);
	};
}
