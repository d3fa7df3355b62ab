import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { signingSecret, startLocalStack } from '@lead-intake-hub/stack';
import { runLoad, type LoadResult } from './load.js';

/*
 * `npm run bench`: the processor's intake path against the floor, on one throwaway database.
 * BENCH_SECONDS sets each phase's length (default 10); BENCH_WARMUP_SECONDS how long each target
 * is first driven at the highest concurrency (default 5), so both are measured in steady state:
 * hot path compiled by the JIT (a cold processor at concurrency 1 needs many seconds to get
 * there) and the database vacuumed and analyzed (see vacuumAnalyze);
 * BENCH_PROCESSOR_ENV (JSON) adds processor settings, e.g. '{"DB_POOL_SIZE":"8"}'.
 * The processor is measured twice in the same run: with the same-person check on (a rules version
 * with `duplicates.window_hours` 24; every lead is a person of its own, so each one pays the
 * check and is delivered) and off (window 0), saved through the operator API between phases.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const CONCURRENCIES = [1, 32];

const stack = await startLocalStack({
	throwaway: true,
	ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0 },
	processorEnv: {
		LOG_LEVEL: 'warn',
		RATE_LIMIT_PER_MINUTE: '100000000',
		SOURCE_RATE_LIMIT_PER_MINUTE: '100000000',
		FAULT_INJECTION: 'off',
		...(JSON.parse(process.env.BENCH_PROCESSOR_ENV ?? '{}') as Record<string, string>),
	},
});
const secret = signingSecret(stack.settings);
const floor = await startFloor(stack.databaseUrl, secret);
const processorUrl = stack.urls.processor;
const targets = [
	{ name: 'floor', baseUrl: floor.url, path: '/', windowHours: null },
	{ name: 'processor', baseUrl: processorUrl, path: '/webhook/lead', windowHours: 24 },
	{ name: 'no-dup-check', baseUrl: processorUrl, path: '/webhook/lead', windowHours: 0 },
] as const;
try {
	for (const { name, baseUrl, path, windowHours } of targets) {
		if (windowHours !== null) await setDuplicateWindow(windowHours);
		process.stderr.write(`warming up ${name} for ${warmupSeconds} s ...\n`);
		await runLoad({
			baseUrl,
			path,
			secret,
			concurrency: Math.max(...CONCURRENCIES),
			seconds: warmupSeconds,
		});
	}
	await vacuumAnalyze(stack.databaseUrl);
	const rows: { name: string; result: LoadResult }[] = [];
	for (const concurrency of CONCURRENCIES) {
		for (const { name, baseUrl, path, windowHours } of targets) {
			if (windowHours !== null) await setDuplicateWindow(windowHours);
			process.stderr.write(`${name} at concurrency ${concurrency} for ${seconds} s ...\n`);
			await runLoad({ baseUrl, path, secret, concurrency, seconds: 1 });
			rows.push({ name, result: await runLoad({ baseUrl, path, secret, concurrency, seconds }) });
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
		const of = (name: string) =>
			rows.find((row) => row.name === name && row.result.concurrency === concurrency)!.result;
		const ratio = of('processor').perSecond / of('floor').perSecond;
		console.log(
			`ratio processor/floor at concurrency ${concurrency}: ${(ratio * 100).toFixed(1)} %`,
		);
		const check = of('processor');
		const off = of('no-dup-check');
		console.log(
			`same-person check at concurrency ${concurrency}: leads/s on/off ${((check.perSecond / off.perSecond) * 100).toFixed(1)} %,` +
				` per lead ${((1000 / check.perSecond) * concurrency).toFixed(3)} ms on vs ${((1000 / off.perSecond) * concurrency).toFixed(3)} ms off`,
		);
	}
}

/** Saves a rules version with this duplicate window (the processor applies it to the next lead). */
async function setDuplicateWindow(windowHours: number): Promise<void> {
	const headers = {
		authorization: `Bearer ${stack.settings.SERVICE_TOKEN}`,
		'content-type': 'application/json',
	};
	const current = (await (await fetch(`${processorUrl}/internal/rules`, { headers })).json()) as {
		document: { duplicates: Record<string, unknown> };
	};
	const document = {
		...current.document,
		duplicates: { ...current.document.duplicates, window_hours: windowHours },
	};
	const saved = await fetch(`${processorUrl}/internal/rules`, {
		method: 'PUT',
		headers,
		body: JSON.stringify({ document, note: 'benchmark' }),
	});
	if (!saved.ok) throw new Error(`saving the rules failed: ${saved.status} ${await saved.text()}`);
}

/**
 * A new database has no planner statistics until autovacuum's first pass (about a minute in),
 * and statements planned while a table was nearly empty keep scanning it whole until then; that
 * first pass then vacuums the tables the warm-up filled, in the middle of a measurement. A live
 * database is past both, so the benchmark vacuums and analyzes after the warm-up.
 */
async function vacuumAnalyze(databaseUrl: string): Promise<void> {
	const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
	try {
		await sql.unsafe('VACUUM ANALYZE');
	} finally {
		await sql.end();
	}
}

async function startFloor(
	databaseUrl: string,
	secret: string,
): Promise<{ url: string; stop(): void }> {
	const child = fork(fileURLToPath(new URL('./floor-server.js', import.meta.url)), {
		env: { ...process.env, DATABASE_URL: databaseUrl, WEBHOOK_HMAC_SECRET: secret },
	});
	const port = await new Promise<number>((resolve, reject) => {
		child.once('message', (message: { port: number }) => resolve(message.port));
		child.once('exit', (code) => reject(new Error(`floor server exited (code ${code})`)));
	});
	return { url: `http://127.0.0.1:${port}`, stop: () => child.disconnect() };
}
