import express, { type Express } from 'express';

interface ReceivedEntry {
	kind: 'log' | 'alert';
	run_id: string | null;
	received_at: string;
	/** The alert as it arrived. */
	body: Record<string, unknown>;
}

/** What the mock keeps: the newest entries, so a long-running stack cannot grow without end. */
const MAX_ENTRIES = 1000;

/**
 * Mock Jira/Confluence: `POST /log` and `POST /alert` take an alert as JSON and keep it in
 * memory, as a real Jira would keep a ticket. A post with an `Idempotency-Key` it has seen on that
 * path keeps nothing and answers the first entry's key (200, `duplicate: true`), as a receiver of
 * at-least-once alerts should. It writes no file: the alert files in `alerts/` are the Alert
 * Router's and the processor's. `GET /entries` lists what arrived (tests ask it), `POST
 * /admin/reset` forgets it.
 */
export function createMockJiraConfluence(): Express {
	let entries: ReceivedEntry[] = [];
	let received = 0;
	// `<path> <idempotency key>` -> the ticket key answered the first time (oldest first)
	const ticketsByKey = new Map<string, string>();
	const app = express();
	app.disable('x-powered-by');
	app.use(express.json({ limit: '1mb' }));

	for (const kind of ['log', 'alert'] as const) {
		app.post(`/${kind}`, (req, res) => {
			const body = req.body as Record<string, unknown> | undefined;
			if (!body || typeof body !== 'object' || Array.isArray(body)) {
				res.status(400).json({ error: 'body must be a JSON object' });
				return;
			}
			const idempotencyKey = req.get('idempotency-key');
			const seen = idempotencyKey ? ticketsByKey.get(`${kind} ${idempotencyKey}`) : undefined;
			if (seen !== undefined) {
				res.status(200).json({ ok: true, key: seen, duplicate: true });
				return;
			}
			const entry: ReceivedEntry = {
				kind,
				run_id: typeof body.run_id === 'string' ? body.run_id : null,
				received_at: new Date().toISOString(),
				body,
			};
			entries.push(entry);
			if (entries.length > MAX_ENTRIES) entries = entries.slice(-MAX_ENTRIES);
			received += 1;
			const ticket = `LIH-${received}`;
			if (idempotencyKey) {
				ticketsByKey.set(`${kind} ${idempotencyKey}`, ticket);
				if (ticketsByKey.size > MAX_ENTRIES) {
					ticketsByKey.delete(ticketsByKey.keys().next().value!);
				}
			}
			res.status(201).json({ ok: true, key: ticket });
		});
	}

	app.get('/entries', (_req, res) => {
		res.json({ entries });
	});

	app.post('/admin/reset', (_req, res) => {
		entries = [];
		ticketsByKey.clear();
		res.json({ reset: true });
	});

	app.get('/health', (_req, res) => {
		res.json({ status: 'ok', entries: entries.length });
	});
	return app;
}
