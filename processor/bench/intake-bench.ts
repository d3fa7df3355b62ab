import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { signingSecret, startLocalStack } from '@lead-intake-hub/stack';
import { runLoad, type LoadResult } from './load.js';

/*
 * `npm run bench`: the processor's intake path against the floor, on one throwaway database.
 * BENCH_SECONDS sets each phase's length (default 10); BENCH_PROCESSOR_ENV (JSON) adds processor
 * settings, e.g. '{"DB_POOL_SIZE":"8"}' or '{"NODE_OPTIONS":"--cpu-prof"}' to profile it.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCIES = [1, 32];

const stack = await startLocalStack({
	throwaway: true,
	ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0 },
	processorEnv: {
		LOG_LEVEL: 'warn',
		RATE_LIMIT_PER_MINUTE: '100000000',
		FAULT_INJECTION: 'off',
		...(JSON.parse(process.env.BENCH_PROCESSOR_ENV ?? '{}') as Record<string, string>),
	},
});
const floor = await startFloor(stack.databaseUrl, signingSecret(stack.settings));
try {
	const rows: { name: string; result: LoadResult }[] = [];
	for (const concurrency of CONCURRENCIES) {
		for (const [name, url, path] of [
			['floor', floor.url, '/'],
			['processor', stack.urls.processor, '/webhook/lead'],
		] as const) {
			process.stderr.write(`${name} at concurrency ${concurrency} for ${seconds} s ...\n`);
			await runLoad({ baseUrl: url, path, secret: signingSecret(stack.settings), concurrency, seconds: 1 });
			const result = await runLoad({ baseUrl: url, path, secret: signingSecret(stack.settings), concurrency, seconds });
			rows.push({ name, result });
		}
	}
	printTable(rows);
} finally {
	floor.stop();
	await stack.stop();
}

function printTable(rows: { name: string; result: LoadResult }[]): void {
	console.log('\nintake benchmark (signed leads, unique keys, mock CRM on this machine)\n');
	console.log('target       conc   requests  errors   leads/s    p50 ms    p99 ms');
	for (const { name, result } of rows) {
		console.log(
			`${name.padEnd(12)} ${String(result.concurrency).padStart(4)} ${String(result.requests).padStart(10)} ${String(result.errors).padStart(7)}` +
				` ${result.perSecond.toFixed(0).padStart(9)} ${result.p50Ms.toFixed(2).padStart(9)} ${result.p99Ms.toFixed(2).padStart(9)}`,
		);
	}
	for (const concurrency of CONCURRENCIES) {
		const of = (name: string) => rows.find((row) => row.name === name && row.result.concurrency === concurrency)!.result;
		const ratio = of('processor').perSecond / of('floor').perSecond;
		console.log(`ratio processor/floor at concurrency ${concurrency}: ${(ratio * 100).toFixed(1)} %`);
	}
}

async function startFloor(databaseUrl: string, secret: string): Promise<{ url: string; stop(): void }> {
	const child = fork(fileURLToPath(new URL('./floor-server.js', import.meta.url)), {
		env: { ...process.env, DATABASE_URL: databaseUrl, WEBHOOK_HMAC_SECRET: secret },
	});
	const port = await new Promise<number>((resolve, reject) => {
		child.once('message', (message: { port: number }) => resolve(message.port));
		child.once('exit', (code) => reject(new Error(`floor server exited (code ${code})`)));
	});
	return { url: `http://127.0.0.1:${port}`, stop: () => child.disconnect() };
}
