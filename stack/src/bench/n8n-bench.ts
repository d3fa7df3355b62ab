import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signingSecret, stackSettings } from '../dev-settings.js';
import { DEFAULT_PORTS, startLocalStack } from '../local-stack.js';
import { freePort } from '../ports.js';
import { SEED_WEBHOOK_PATH, seedWorkflow } from './seed-workflow.js';

/*
 * `npm run bench:n8n`: leads through the n8n webhook with our workflow (Lead Intake node) and,
 * on the same n8n, with the seed's Code + HTTP Request approach. Unique leads, closed loop.
 * Each concurrency runs BENCH_ROUNDS (default 4) rounds of BENCH_SECONDS (default 5) per workflow,
 * alternating which goes first, so drift in n8n (a growing execution table, warm caches) cannot
 * favour either. BENCH_CONCURRENCY (default "1,8").
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map(Number);

interface Result {
	name: string;
	concurrency: number;
	requests: number;
	errors: number;
	perSecond: number;
	p50: number;
	p99: number;
}

const workDir = await mkdtemp(join(tmpdir(), 'lih-n8n-bench-'));
const processorPort = await freePort();
const seedFile = join(workDir, 'seed-workflow.json');
await writeFile(
	seedFile,
	JSON.stringify(seedWorkflow(`http://127.0.0.1:${processorPort}`, signingSecret(stackSettings()))),
);
const stack = await startLocalStack({
	throwaway: true,
	n8n: true,
	alertsDir: join(workDir, 'alerts'),
	ports: {
		...DEFAULT_PORTS,
		processor: processorPort,
		crm: 0,
		jiraConfluence: 0,
		postgres: 0,
		n8n: 0,
	},
	processorEnv: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '100000000' },
	n8nExtras: {
		env: { NODE_FUNCTION_ALLOW_BUILTIN: 'crypto', N8N_LOG_LEVEL: 'warn' },
		workflowFiles: [seedFile],
	},
	log: (line) => process.stderr.write(`${line}\n`),
});

try {
	const results: Result[] = [];
	let sequence = 0;
	const workflows = [
		['our workflow', 'lead-intake'],
		['seed approach', SEED_WEBHOOK_PATH],
	] as const;
	// warm-up: the first executions of a workflow are slower
	for (const [, path] of workflows)
		await load(`${stack.urls.n8n}/webhook/${path}`, 1, 3, () => sequence++);
	for (const concurrency of concurrencies) {
		const samples = new Map<string, Measurement[]>(workflows.map(([name]) => [name, []]));
		for (let round = 0; round < rounds; round++) {
			const order = round % 2 === 0 ? workflows : [...workflows].reverse();
			for (const [name, path] of order) {
				process.stderr.write(
					`${name} at concurrency ${concurrency}, round ${round + 1}/${rounds} ...\n`,
				);
				samples
					.get(name)!
					.push(
						await load(`${stack.urls.n8n}/webhook/${path}`, concurrency, seconds, () => sequence++),
					);
			}
		}
		for (const [name] of workflows)
			results.push({ name, concurrency, ...combine(samples.get(name)!) });
	}
	console.log('\nn8n benchmark: unique leads through the n8n webhook, same n8n, same processor\n');
	console.log('workflow          conc  requests  errors   leads/s    p50 ms    p99 ms');
	for (const row of results) {
		console.log(
			`${row.name.padEnd(16)} ${String(row.concurrency).padStart(5)} ${String(row.requests).padStart(9)} ${String(row.errors).padStart(7)}` +
				` ${row.perSecond.toFixed(1).padStart(9)} ${row.p50.toFixed(1).padStart(9)} ${row.p99.toFixed(1).padStart(9)}`,
		);
	}
	for (const concurrency of concurrencies) {
		const of = (name: string) =>
			results.find((row) => row.name === name && row.concurrency === concurrency)!;
		console.log(
			`ratio ours/seed at concurrency ${concurrency}: ${(of('our workflow').perSecond / of('seed approach').perSecond).toFixed(2)}`,
		);
	}
} finally {
	await stack.stop();
	await rm(workDir, { recursive: true, force: true });
}

interface Measurement {
	latencies: number[];
	errors: number;
	seconds: number;
}

function combine(samples: Measurement[]): Omit<Result, 'name' | 'concurrency'> {
	const latencies = samples.flatMap((sample) => sample.latencies).sort((a, b) => a - b);
	const seconds = samples.reduce((sum, sample) => sum + sample.seconds, 0);
	const at = (p: number) =>
		latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
	return {
		requests: latencies.length,
		errors: samples.reduce((sum, sample) => sum + sample.errors, 0),
		perSecond: latencies.length / seconds,
		p50: at(0.5),
		p99: at(0.99),
	};
}

async function load(
	url: string,
	concurrency: number,
	duration: number,
	next: () => number,
): Promise<Measurement> {
	const latencies: number[] = [];
	let errors = 0;
	const started = performance.now();
	const deadline = started + duration * 1000;
	const worker = async () => {
		while (performance.now() < deadline) {
			const lead = {
				email: `bench.${next()}@example.com`,
				name: 'Bench',
				address: { zip: '66123', street: 'Hauptstrasse 1' },
				house: { is_owner: true },
			};
			const sent = performance.now();
			const response = await fetch(url, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify(lead),
			});
			const answer = (await response.json()) as { status?: string };
			latencies.push(performance.now() - sent);
			if (response.status !== 200 || answer.status !== 'accepted') errors++;
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}
