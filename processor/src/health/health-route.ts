import { Router } from 'express';
import { recordHealthCheck } from '../db/audit-events.js';
import type { Sql } from '../db/connection.js';
import { isConnectionError } from '../db/connection.js';

/** GET /health: audits a `health_check` (seed 000); 503 while the database cannot take it. */
export function healthRouter(sql: Sql): Router {
	const router = Router();
	router.get('/health', async (req, res) => {
		try {
			await recordHealthCheck(sql, String(req.id));
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
