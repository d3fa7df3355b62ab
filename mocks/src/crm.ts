import express, { type Express } from 'express';

export interface CrmLead {
	key: string;
	run_id: string | null;
	crm_id: string;
	/** Upserts received for this key: a lead delivered twice shows 2. Injected failures do not count. */
	upserts: number;
	first_upserted_at: string;
	last_upserted_at: string;
	payload: Record<string, unknown>;
}

interface Faults {
	remaining: number;
	status: number;
	latencyMs: number;
}

/**
 * Mock CRM (SPEC 6): `POST /leads/upsert` upserts by `key` behind a bearer token.
 * Test controls: `POST /admin/faults {"fail_next", "status", "latency_ms"}`, `GET /leads`,
 * `POST /admin/reset`.
 */
export function createMockCrm(token: string): Express {
	const leads = new Map<string, CrmLead>();
	let faults: Faults = { remaining: 0, status: 503, latencyMs: 0 };
	let nextId = 1;

	const app = express();
	app.disable('x-powered-by');
	app.use(express.json({ limit: '1mb' }));

	app.post('/leads/upsert', async (req, res) => {
		if (req.get('authorization') !== `Bearer ${token}`) {
			res.status(401).json({ error: 'invalid or missing bearer token' });
			return;
		}
		if (faults.remaining > 0) {
			faults.remaining -= 1;
			if (faults.latencyMs > 0) await delay(faults.latencyMs, res);
			res.status(faults.status).json({ error: `injected fault (HTTP ${faults.status})` });
			return;
		}
		const body = req.body as Record<string, unknown> | undefined;
		if (!body || typeof body.key !== 'string' || body.key === '') {
			res.status(400).json({ error: 'body must be a JSON object with a string "key"' });
			return;
		}
		const now = new Date().toISOString();
		const existing = leads.get(body.key);
		if (existing) {
			existing.upserts += 1;
			existing.last_upserted_at = now;
			existing.payload = body;
			res.json({ crm_id: existing.crm_id, action: 'updated' });
			return;
		}
		const lead: CrmLead = {
			key: body.key,
			run_id: typeof body.run_id === 'string' ? body.run_id : null,
			crm_id: `crm_${nextId++}`,
			upserts: 1,
			first_upserted_at: now,
			last_upserted_at: now,
			payload: body,
		};
		leads.set(lead.key, lead);
		res.json({ crm_id: lead.crm_id, action: 'created' });
	});

	app.post('/admin/faults', (req, res) => {
		const body = (req.body ?? {}) as Record<string, unknown>;
		const remaining = body.fail_next ?? 1;
		const status = body.status ?? 503;
		const latencyMs = body.latency_ms ?? 0;
		if (!isCount(remaining) || !isHttpStatus(status) || !isCount(latencyMs)) {
			res.status(400).json({
				error: 'expected {"fail_next": N >= 0, "status": 100-599, "latency_ms": N >= 0}',
			});
			return;
		}
		faults = { remaining, status, latencyMs };
		res.json({ fail_next: remaining, status, latency_ms: latencyMs });
	});

	app.get('/leads', (_req, res) => {
		res.json({ leads: [...leads.values()] });
	});

	app.post('/admin/reset', (_req, res) => {
		leads.clear();
		faults = { remaining: 0, status: 503, latencyMs: 0 };
		res.json({ reset: true });
	});

	app.get('/health', (_req, res) => {
		res.json({ status: 'ok', leads: leads.size, pending_faults: faults.remaining });
	});
	return app;
}

/** Waits, but stops waiting when the caller hangs up (a timed-out client, a closing server). */
function delay(ms: number, res: express.Response): Promise<void> {
	return new Promise((resolve) => {
		const timer = setTimeout(resolve, ms);
		res.once('close', () => {
			clearTimeout(timer);
			resolve();
		});
	});
}

function isCount(value: unknown): value is number {
	return Number.isInteger(value) && (value as number) >= 0;
}

function isHttpStatus(value: unknown): value is number {
	return Number.isInteger(value) && (value as number) >= 100 && (value as number) <= 599;
}
