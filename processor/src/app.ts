import express, { type Express } from 'express';
import { healthRouter } from './health/health-route.js';
import { errorHandler, notFound } from './http/errors.js';
import { requestLogging } from './http/request-logging.js';
import { intakeRouter, type IntakeRouteOptions } from './intake/intake-route.js';
import type { Logger } from './logger.js';
import type { Sql } from './db/connection.js';

export interface AppDeps {
	sql: Sql;
	logger: Logger;
	intake: IntakeRouteOptions;
}

export function createApp(deps: AppDeps): Express {
	const app = express();
	app.disable('x-powered-by');
	app.use(requestLogging(deps.logger));
	app.use(healthRouter(deps.sql));
	app.use(intakeRouter(deps.intake));
	app.use(notFound);
	app.use(errorHandler);
	return app;
}
