import got, { RequestError } from 'got';

export type DeliveryResult =
	| { ok: true; statusCode: number; crmId: string | null; durationMs: number }
	| {
			ok: false;
			statusCode: number | null;
			/** Short, PII-free cause: `crm_http_503`, `crm_timeout`, `crm_network_error`. */
			reason: string;
			error: string;
			/** SPEC 3.5: 5xx, 429, timeouts and network errors are retried; other 4xx are not. */
			retryable: boolean;
			durationMs: number;
	  };

export interface CrmClient {
	upsert(payload: Record<string, unknown>): Promise<DeliveryResult>;
}

export interface CrmClientOptions {
	url: string;
	token: string;
	timeoutMs: number;
}

export function createCrmClient(options: CrmClientOptions): CrmClient {
	const client = got.extend({
		method: 'POST',
		headers: { authorization: `Bearer ${options.token}` },
		timeout: { request: options.timeoutMs },
		retry: { limit: 0 },
		throwHttpErrors: false,
		responseType: 'text',
	});

	return {
		async upsert(payload) {
			const started = performance.now();
			const elapsed = () => Math.round(performance.now() - started);
			try {
				const response = await client(options.url, { json: payload });
				if (response.statusCode >= 200 && response.statusCode < 300) {
					return { ok: true, statusCode: response.statusCode, crmId: readCrmId(response.body), durationMs: elapsed() };
				}
				return {
					ok: false,
					statusCode: response.statusCode,
					reason: `crm_http_${response.statusCode}`,
					error: `CRM answered HTTP ${response.statusCode}`,
					retryable: isRetryableStatus(response.statusCode),
					durationMs: elapsed(),
				};
			} catch (error) {
				const timedOut = error instanceof RequestError && error.code === 'ETIMEDOUT';
				return {
					ok: false,
					statusCode: null,
					reason: timedOut ? 'crm_timeout' : 'crm_network_error',
					error: timedOut
						? `CRM did not answer within ${options.timeoutMs} ms`
						: `CRM unreachable: ${(error as Error).message}`,
					retryable: true,
					durationMs: elapsed(),
				};
			}
		},
	};
}

export function isRetryableStatus(statusCode: number): boolean {
	return statusCode >= 500 || statusCode === 429;
}

function readCrmId(body: string): string | null {
	try {
		const parsed = JSON.parse(body) as { crm_id?: unknown };
		return typeof parsed.crm_id === 'string' ? parsed.crm_id : null;
	} catch {
		return null;
	}
}
