import { Router } from 'express';
import { recordHealthCheck } from '../db/audit-events.js';
import { isConnectionError, type Sql } from '../db/connection.js';

const HEALTH_DEADLINE_MS = 2500;

/** GET /health: audits a `health_check` (seed 000); 503 while the database cannot take it. */
export function healthRouter(sql: Sql): Router {
	const router = Router();
	router.get('/health', async (req, res) => {
		try {
			await withDeadline(recordHealthCheck(sql, String(req.id)), HEALTH_DEADLINE_MS);
			res.json({ status: 'ok', database: 'up' });
		} catch (error) {
			res.err = error as Error; // logged once, by the request log line
			res.status(503).json({
				status: 'unavailable',
				database: isConnectionError(error) ? 'down' : 'error',
				detail: 'The database cannot be reached or written',
				correlation_id: req.id,
			});
		}
	});
	return router;
}

/** A probe must answer even when a connection hangs instead of failing. */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() =>
				reject(Object.assign(new Error('database did not answer in time'), { code: 'ETIMEDOUT' })),
			ms,
		);
	});
	return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
