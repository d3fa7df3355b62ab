import express, { type Express } from 'express';
import type { Sql } from './db/connection.js';
import { healthRouter } from './health/health-route.js';
import { errorHandler, notFound } from './http/errors.js';
import { requestLogging } from './http/request-logging.js';
import { intakeRouter, type IntakeRouteOptions } from './intake/intake-route.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics/metrics.js';
import { openApiDocument } from './openapi/openapi.js';
import { operatorRouter, type OperatorDeps } from './operator/operator-routes.js';

export interface AppDeps {
	sql: Sql;
	logger: Logger;
	metrics: Metrics;
	intake: IntakeRouteOptions;
	operator: OperatorDeps;
}

export function createApp(deps: AppDeps): Express {
	const app = express();
	app.disable('x-powered-by');
	app.disable('etag');
	app.use(requestLogging(deps.logger));
	app.use(deps.metrics.countRequests);
	app.use(healthRouter(deps.sql));
	app.use(intakeRouter(deps.intake));
	app.use(operatorRouter(deps.operator));
	app.get('/openapi.json', (_req, res) => void res.json(openApiDocument));
	app.get('/metrics', async (_req, res) => {
		res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
	});
	app.use(notFound);
	app.use(errorHandler);
	return app;
}
