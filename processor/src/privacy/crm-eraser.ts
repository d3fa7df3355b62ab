import { Pool } from 'undici';

/** The CRM's erasure endpoint: `POST <CRM origin>/leads/erase {"key"}` (docs/privacy.md). */
export interface CrmEraser {
	erase(key: string): Promise<{ ok: true } | { ok: false; error: string }>;
	close(): Promise<void>;
}

/**
 * Next to the upsert URL: `/leads/upsert` -> `/leads/erase`. A 404 is success (the CRM holds no
 * record by that key: nothing to erase); any other non-2xx, a timeout or a network error is
 * retried later.
 */
export function createCrmEraser(options: {
	url: string;
	token: string;
	timeoutMs: number;
}): CrmEraser {
	const target = new URL(options.url);
	const path = target.pathname.replace(/\/[^/]*$/, '/erase');
	const pool = new Pool(target.origin, { connections: 2 });
	return {
		async erase(key) {
			try {
				const response = await pool.request({
					method: 'POST',
					path,
					headers: {
						authorization: `Bearer ${options.token}`,
						'content-type': 'application/json',
					},
					body: JSON.stringify({ key }),
					signal: AbortSignal.timeout(options.timeoutMs),
				});
				await response.body.dump();
				const { statusCode } = response;
				if ((statusCode >= 200 && statusCode < 300) || statusCode === 404) return { ok: true };
				return { ok: false, error: `CRM answered HTTP ${statusCode}` };
			} catch (error) {
				return { ok: false, error: `CRM unreachable: ${(error as Error).name}` };
			}
		},
		close: () => pool.close(),
	};
}
