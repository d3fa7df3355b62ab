import { Router } from 'express';
import { recordHealthCheck } from '../db/audit-events.js';
import { isConnectionError, type Sql } from '../db/connection.js';
import { withDeadline } from '../db/deadline.js';

const HEALTH_DEADLINE_MS = 1500;

export interface HealthOptions {
	sql: Sql;
	/** The audited check (a health_check event) runs at most this often; between, a plain read. */
	auditIntervalSeconds: number;
}

/**
 * GET /livez: the process answers (no database; for liveness probes, as often as they like).
 * GET /health: readiness, 503 while the database cannot be reached. It audits a `health_check`
 * event at most once per interval; concurrent callers share one check, so no client can turn
 * probes into database load.
 */
export function healthRouter(options: HealthOptions): Router {
	const router = Router();
	let lastAudit = 0;
	let inFlight: Promise<void> | null = null;
	const check = (correlationId: string) => {
		inFlight ??= (async () => {
			try {
				if (Date.now() - lastAudit >= options.auditIntervalSeconds * 1000) {
					await withDeadline(recordHealthCheck(options.sql, correlationId), HEALTH_DEADLINE_MS);
					lastAudit = Date.now();
				} else {
					await withDeadline(options.sql`SELECT 1`, HEALTH_DEADLINE_MS);
				}
			} finally {
				inFlight = null;
			}
		})();
		return inFlight;
	};

	router.get('/livez', (_req, res) => void res.json({ status: 'alive' }));
	router.get('/health', async (req, res) => {
		try {
			await check(String(req.id));
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
