/**
 * Posts leads to the n8n webhook the way a lead source does (benchmarks, tests). What a source
 * must add to authenticate (a bearer key) goes in `headers`.
 */
const LEAD_WEBHOOK_PATH = '/webhook/lead-intake';

export interface LeadSourceOptions {
	/** n8n's base URL for webhooks (the webhook process in queue mode). */
	baseUrl: string;
	/** Default: the lead intake workflow's path. */
	path?: string;
	/** Sent with every lead, e.g. `{ authorization: 'Bearer <key>' }`. */
	headers?: Record<string, string>;
	/** One attempt's limit (default 30 s). */
	timeoutMs?: number;
}

export interface LeadAnswer {
	/** HTTP status; 0 when no answer came (connection failed, timed out). */
	status: number;
	body: Record<string, unknown>;
	/** When a refusal said when to come back (Retry-After on 429 or 503). */
	retryAfterSeconds?: number;
}

export interface LeadSource {
	post(lead: unknown, idempotencyKey?: string): Promise<LeadAnswer>;
}

export function leadSource(options: LeadSourceOptions): LeadSource {
	const url = `${options.baseUrl}${options.path ?? LEAD_WEBHOOK_PATH}`;
	return {
		async post(lead, idempotencyKey) {
			try {
				const response = await fetch(url, {
					method: 'POST',
					headers: {
						'content-type': 'application/json',
						...(idempotencyKey ? { 'x-idempotency-key': idempotencyKey } : {}),
						...options.headers,
					},
					body: JSON.stringify(lead),
					signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
				});
				const text = await response.text();
				const retryAfter = Number(response.headers.get('retry-after') ?? NaN);
				return {
					status: response.status,
					body: parseObject(text),
					...(Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}),
				};
			} catch (error) {
				return { status: 0, body: { error: (error as Error).message } };
			}
		},
	};
}

/** A lead the default rules accept; `n` makes its e-mail (and so its content) unique. */
export function sampleLead(n: number | string): Record<string, unknown> {
	return {
		email: `lead.${n}@example.com`,
		name: 'Sample Lead',
		address: { zip: '66123', street: 'Hauptstrasse 1' },
		house: { is_owner: true },
	};
}

function parseObject(text: string): Record<string, unknown> {
	try {
		const parsed = JSON.parse(text) as unknown;
		return parsed !== null && typeof parsed === 'object'
			? (parsed as Record<string, unknown>)
			: { value: parsed };
	} catch {
		return { text: text.slice(0, 200) };
	}
}
