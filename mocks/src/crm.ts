import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

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
	/** Sent as Retry-After (seconds) with each injected failure. */
	retryAfter: number | null;
	/** Upserts that succeed, but only after latencyMs (a slow CRM). */
	slowNext: number;
	/** Only calls for this lead key are failed or slowed (null: any call). */
	key: string | null;
}

const NO_FAULTS: Faults = {
	remaining: 0,
	status: 503,
	latencyMs: 0,
	retryAfter: null,
	slowNext: 0,
	key: null,
};

/**
 * Mock CRM: `POST /leads/upsert` upserts by `key` behind a bearer token; `POST /leads/erase`
 * forgets one (`GET /erasures`: the keys erased).
 * Test controls: `POST /admin/faults {"fail_next", "status", "latency_ms", "key"}`, `GET /leads`,
 * `POST /admin/reset`. Plain node:http: it stands in for a fast CRM in the benchmarks, so it
 * must cost as little as possible per request.
 */
export function createMockCrm(token: string): RequestListener {
	const leads = new Map<string, CrmLead>();
	let faults: Faults = { ...NO_FAULTS };
	const aimedAt = (body: Record<string, unknown> | null) =>
		faults.key === null || body?.key === faults.key;
	let calls = 0;
	let nextId = 1;
	const expectedAuthorization = `Bearer ${token}`;

	const upsert = async (req: IncomingMessage, res: ServerResponse) => {
		if (req.headers.authorization !== expectedAuthorization) {
			return send(res, 401, { error: 'invalid or missing bearer token' });
		}
		const body = await readJson(req);
		calls += 1;
		if (faults.remaining > 0 && aimedAt(body)) {
			faults.remaining -= 1;
			if (faults.latencyMs > 0) await delay(faults.latencyMs, res);
			const headers: Record<string, string> =
				faults.retryAfter === null ? {} : { 'retry-after': String(faults.retryAfter) };
			return send(res, faults.status, { error: `injected fault (HTTP ${faults.status})` }, headers);
		}
		if (faults.slowNext > 0 && aimedAt(body)) {
			faults.slowNext -= 1;
			await delay(faults.latencyMs, res);
		}
		if (!body || typeof body.key !== 'string' || body.key === '') {
			return send(res, 400, { error: 'body must be a JSON object with a string "key"' });
		}
		const now = new Date().toISOString();
		const existing = leads.get(body.key);
		if (existing) {
			existing.upserts += 1;
			existing.last_upserted_at = now;
			existing.payload = body;
			return send(res, 200, { crm_id: existing.crm_id, action: 'updated' });
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
		send(res, 200, { crm_id: lead.crm_id, action: 'created' });
	};

	/** `POST /leads/erase {"key"}`: forgets the lead (404 when none); injected faults apply. */
	const erase = async (req: IncomingMessage, res: ServerResponse) => {
		if (req.headers.authorization !== expectedAuthorization) {
			return send(res, 401, { error: 'invalid or missing bearer token' });
		}
		const body = await readJson(req);
		calls += 1;
		if (faults.remaining > 0 && aimedAt(body)) {
			faults.remaining -= 1;
			return send(res, faults.status, { error: `injected fault (HTTP ${faults.status})` });
		}
		if (!body || typeof body.key !== 'string' || body.key === '') {
			return send(res, 400, { error: 'body must be a JSON object with a string "key"' });
		}
		const lead = leads.get(body.key);
		if (!lead) return send(res, 404, { error: 'no lead with this key' });
		leads.delete(body.key);
		erased.push(body.key);
		send(res, 200, { erased: true, crm_id: lead.crm_id });
	};
	const erased: string[] = [];

	const setFaults = async (req: IncomingMessage, res: ServerResponse) => {
		const body = (await readJson(req)) ?? {};
		const remaining = body.fail_next ?? 1;
		const status = body.status ?? 503;
		const latencyMs = body.latency_ms ?? 0;
		const retryAfter = body.retry_after ?? null;
		const slowNext = body.slow_next ?? 0;
		const key = body.key ?? null;
		if (
			!isCount(remaining) ||
			!isHttpStatus(status) ||
			!isCount(latencyMs) ||
			(retryAfter !== null && !isCount(retryAfter)) ||
			!isCount(slowNext) ||
			(key !== null && typeof key !== 'string')
		) {
			return send(res, 400, {
				error:
					'expected {"fail_next": N >= 0, "status": 100-599, "latency_ms": N >= 0, "retry_after": N >= 0, "slow_next": N >= 0, "key": "<lead key>"}',
			});
		}
		faults = { remaining, status, latencyMs, retryAfter, slowNext, key };
		send(res, 200, {
			key,
			fail_next: remaining,
			status,
			latency_ms: latencyMs,
			retry_after: retryAfter,
		});
	};

	const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => unknown> = {
		'POST /leads/upsert': upsert,
		'POST /leads/erase': erase,
		'GET /erasures': (_req, res) => send(res, 200, { keys: erased }),
		'POST /admin/faults': setFaults,
		'GET /leads': (_req, res) => send(res, 200, { leads: [...leads.values()] }),
		'POST /admin/reset': (_req, res) => {
			leads.clear();
			erased.length = 0;
			faults = { ...NO_FAULTS };
			calls = 0;
			send(res, 200, { reset: true });
		},
		'GET /health': (_req, res) =>
			send(res, 200, { status: 'ok', leads: leads.size, pending_faults: faults.remaining, calls }),
	};

	return (req, res) => {
		const route = routes[`${req.method} ${req.url?.split('?')[0]}`];
		if (!route) return send(res, 404, { error: 'not found' });
		Promise.resolve(route(req, res)).catch(() => send(res, 400, { error: 'body must be JSON' }));
	};
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | null> {
	const chunks: Buffer[] = [];
	for await (const chunk of req) chunks.push(chunk as Buffer);
	if (chunks.length === 0) return null;
	const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
	return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
		? (parsed as Record<string, unknown>)
		: null;
}

function send(
	res: ServerResponse,
	status: number,
	body: object,
	headers: Record<string, string> = {},
): void {
	if (res.headersSent) return;
	res
		.writeHead(status, { 'content-type': 'application/json', ...headers })
		.end(JSON.stringify(body));
}

/** Waits, but stops waiting when the caller hangs up (a timed-out client, a closing server). */
function delay(ms: number, res: ServerResponse): Promise<void> {
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
