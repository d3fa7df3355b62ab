import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { signingKeys, signV2, sourceBoundKey } from '../src/intake/signature.js';

export interface LoadResult {
	concurrency: number;
	requests: number;
	errors: number;
	seconds: number;
	perSecond: number;
	p50Ms: number;
	p99Ms: number;
}

export interface LoadOptions {
	baseUrl: string;
	path: string;
	secret: string;
	concurrency: number;
	seconds: number;
}

/** Each lead is a person of its own (e-mail and phone), so no lead is a same-person duplicate. */
function leadOf(person: string, sequence: number): Buffer {
	return Buffer.from(
		JSON.stringify({
			email: `bench.${person}.${sequence}@example.com`,
			name: 'Bench Lead',
			phone: `+49 170 ${String(sequence % 10_000_000).padStart(7, '0')}`,
			address: { zip: '66123', street: 'Hauptstrasse 1' },
			house: { is_owner: true },
		}),
	);
}

/**
 * A closed loop: `concurrency` workers each send a signed lead with a unique key, wait for
 * the answer and send the next, for `seconds`. Any answer but 200 counts as an error.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
	const pool = new Pool(options.baseUrl, { connections: options.concurrency, pipelining: 1 });
	const prefix = randomBytes(4).toString('hex');
	const latencies: number[] = [];
	let errors = 0;
	let sequence = 0;
	const started = performance.now();
	const deadline = started + options.seconds * 1000;

	// signed as the Lead Intake node signs: bound to the source it sends
	const source = 'bench';
	const key = sourceBoundKey(signingKeys([options.secret])[0]!.key, source);
	const worker = async () => {
		while (performance.now() < deadline) {
			const timestamp = String(Math.floor(Date.now() / 1000));
			const id = `bench-${prefix}-${sequence}`;
			const body = leadOf(prefix, sequence++);
			const sent = performance.now();
			const response = await pool.request({
				method: 'POST',
				path: options.path,
				headers: {
					'content-type': 'application/json',
					'webhook-id': id,
					'webhook-timestamp': timestamp,
					'webhook-signature': signV2(key, id, timestamp, body),
					'x-source': source,
				},
				body,
			});
			await response.body.dump();
			latencies.push(performance.now() - sent);
			if (response.statusCode !== 200) errors++;
		}
	};
	await Promise.all(Array.from({ length: options.concurrency }, worker));
	const seconds = (performance.now() - started) / 1000;
	await pool.close();

	latencies.sort((a, b) => a - b);
	return {
		concurrency: options.concurrency,
		requests: latencies.length,
		errors,
		seconds,
		perSecond: latencies.length / seconds,
		p50Ms: percentile(latencies, 0.5),
		p99Ms: percentile(latencies, 0.99),
	};
}

function percentile(sorted: number[], p: number): number {
	return sorted.length === 0
		? NaN
		: sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}
