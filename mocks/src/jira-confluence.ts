import express, { type Express } from 'express';
import { writeAlertFile } from './alert-files.js';

export interface ReceivedEntry {
	kind: 'log' | 'alert';
	file: string;
	run_id: string | null;
	received_at: string;
}

/**
 * Mock Jira/Confluence (SPEC 1, seed 000): `POST /log` and `POST /alert` take an alert as JSON
 * and write it to ALERTS_DIR for stakeholders. `GET /entries` lists what arrived (tests ask
 * it), `POST /admin/reset` forgets it.
 */
export function createMockJiraConfluence(alertsDir: string): Express {
	let entries: ReceivedEntry[] = [];
	const app = express();
	app.disable('x-powered-by');
	app.use(express.json({ limit: '1mb' }));

	for (const kind of ['log', 'alert'] as const) {
		app.post(`/${kind}`, async (req, res) => {
			const body = req.body as Record<string, unknown> | undefined;
			if (!body || typeof body !== 'object' || Array.isArray(body)) {
				res.status(400).json({ error: 'body must be a JSON object' });
				return;
			}
			const receivedAt = new Date();
			const runId = typeof body.run_id === 'string' ? body.run_id : null;
			const id =
				runId ??
				(typeof body.id === 'string' || typeof body.id === 'number' ? String(body.id) : kind);
			const file = await writeAlertFile(alertsDir, receivedAt, id, {
				kind,
				received_at: receivedAt.toISOString(),
				...body,
			});
			entries.push({ kind, file, run_id: runId, received_at: receivedAt.toISOString() });
			res.status(201).json({ ok: true, file });
		});
	}

	app.get('/entries', (_req, res) => {
		res.json({ entries });
	});

	app.post('/admin/reset', (_req, res) => {
		entries = [];
		res.json({ reset: true });
	});

	app.get('/health', (_req, res) => {
		res.json({ status: 'ok', entries: entries.length });
	});
	return app;
}
