import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signingSecret, stackSettings } from '../dev-settings.js';
import { leadSource, sampleLead, type LeadSource } from '../lead-source.js';
import { startN8nDeployment, type N8nDeployment } from '../n8n/deployment.js';
import { ensureN8n } from '../n8n/install.js';
import { createDatabase, dropDatabase } from '../postgres.js';
import { deleteRedisKeys, redisReachable } from '../redis.js';
import { startBenchStack } from './bench-stack.js';
import { FLOOR_WEBHOOK_PATH, HAND_OFF_WEBHOOK_PATH } from './floor-workflow.js';
import { BENCH_LEAD_WEBHOOK_PATH } from './lead-workflow.js';

/*
 * `npm run bench:n8n`: what n8n costs per lead, and what our workflow adds, in one run on one
 * machine. One processor and its mocks serve three n8n deployments side by side:
 *   - n8n with its default settings, running the bare Webhook → Respond floor and our workflow;
 *   - n8n with our production settings (N8N_PRODUCTION_SETTINGS), running the floor, the floor
 *     with one HTTP Request node calling the mock CRM (about the most a workflow that hands its
 *     lead on over HTTP can reach) and our lead intake workflow;
 *   - the same settings in queue mode (main, webhook process, BENCH_WORKERS=2 workers on
 *     REDIS_URL), running the floor and our workflow.
 * Our workflow is the shipped one with the source's rate limit out of reach (lead-workflow.ts).
 * Unique leads, closed loop, BENCH_CONCURRENCY (default "1,8"); BENCH_ROUNDS (default 4) rounds of
 * BENCH_SECONDS (default 5) per target, every other round in reverse order, so drift (a growing
 * table, a busy neighbour) favours no target. Prints leads/s, p50, p99 and the ratios.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map(Number);
const workers = Number(process.env.BENCH_WORKERS ?? 2);
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
// the development lead source's key (the floors' bare webhooks ignore it)
const sourceHeaders: Record<string, string> = {
	authorization: `Bearer ${stackSettings().LEAD_SOURCE_API_KEY}`,
};

interface Target {
	name: string;
	source: LeadSource;
}

interface Measurement {
	latencies: number[];
	errors: number;
	seconds: number;
}

interface Result {
	target: string;
	concurrency: number;
	requests: number;
	errors: number;
	perSecond: number;
	p50: number;
	p99: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
if (!(await redisReachable(redisUrl))) {
	log(`The queue-mode rows need Redis at ${redisUrl}: start one, or set REDIS_URL.`);
	process.exit(1);
}
const runId = randomBytes(4).toString('hex');
const workDir = await mkdtemp(join(tmpdir(), 'lih-n8n-bench-'));
const { stack, workflowFiles } = await startBenchStack({ workDir, log });
const extraDatabases: string[] = [];
const extraDeployments: N8nDeployment[] = [];
const queuePrefix = `lih-bench-${runId}`;

/** Another n8n deployment beside the stack's, on the same processor and database server. */
async function deployment(
	name: string,
	tuning: 'production' | 'n8n-defaults',
	queue: boolean,
): Promise<N8nDeployment> {
	const database = `lih_bench_${runId}_${name.replace(/\W/g, '_')}`;
	await createDatabase(stack.serverUrl, database);
	extraDatabases.push(database);
	const started = await startN8nDeployment({
		install: await ensureN8n(log),
		name,
		userFolder: join(workDir, name),
		serverUrl: stack.serverUrl,
		database,
		ports: { main: 0 },
		alertsDir: stack.alertsDir,
		encryptionKey: stack.settings.N8N_ENCRYPTION_KEY,
		tuning,
		queue: queue ? { redisUrl, prefix: queuePrefix, workers } : undefined,
		extraWorkflowFiles: workflowFiles,
		processorUrl: stack.urls.processor,
		jiraConfluenceUrl: stack.urls.jiraConfluence,
		hmacSecret: signingSecret(stack.settings),
		eventsSecret: stack.settings.EVENTS_SECRET,
		serviceToken: stack.settings.SERVICE_TOKEN,
		owner: { email: stack.settings.N8N_OWNER_EMAIL, password: stack.settings.N8N_OWNER_PASSWORD },
		log,
		onLine: () => undefined,
	});
	extraDeployments.push(started);
	return started;
}

const source = (baseUrl: string, path: string) =>
	leadSource({ baseUrl, path, headers: sourceHeaders, timeoutMs: 60_000 });

try {
	log('Starting n8n with its default settings ...');
	const untuned = await deployment('n8n-untuned', 'n8n-defaults', false);
	log(`Starting n8n in queue mode (${workers} workers) ...`);
	const queued = await deployment('n8n-queue', 'production', true);
	const floorPath = `/webhook/${FLOOR_WEBHOOK_PATH}`;
	const oursPath = `/webhook/${BENCH_LEAD_WEBHOOK_PATH}`;
	const handOffPath = `/webhook/${HAND_OFF_WEBHOOK_PATH}`;
	const targets: Target[] = [
		{ name: 'floor, n8n defaults', source: source(untuned.webhookUrl, floorPath) },
		{ name: 'ours, n8n defaults', source: source(untuned.webhookUrl, oursPath) },
		{ name: 'floor, tuned', source: source(stack.urls.n8nWebhook!, floorPath) },
		{ name: 'floor + HTTP, tuned', source: source(stack.urls.n8nWebhook!, handOffPath) },
		{ name: 'ours, tuned', source: source(stack.urls.n8nWebhook!, oursPath) },
		{ name: 'floor, queue mode', source: source(queued.webhookUrl, floorPath) },
		{ name: 'ours, queue mode', source: source(queued.webhookUrl, oursPath) },
	];
	let sequence = 0;
	const next = () => `bench-${runId}-${sequence++}`;
	log('Warming up ...');
	for (const target of targets) await load(target.source, 2, 3, next);

	const results: Result[] = [];
	for (const concurrency of concurrencies) {
		const samples = new Map<string, Measurement[]>(targets.map(({ name }) => [name, []]));
		for (let round = 0; round < rounds; round++) {
			const order = round % 2 === 0 ? targets : [...targets].reverse();
			for (const target of order) {
				log(`${target.name} at concurrency ${concurrency}, round ${round + 1}/${rounds} ...`);
				samples.get(target.name)!.push(await load(target.source, concurrency, seconds, next));
			}
		}
		for (const { name } of targets)
			results.push({ target: name, concurrency, ...combine(samples.get(name)!) });
	}
	console.log(report(results));
} finally {
	for (const started of extraDeployments)
		for (const service of started.services.reverse()) await service.stop();
	if (process.env.DATABASE_URL)
		for (const database of extraDatabases) await dropDatabase(stack.serverUrl, database);
	await deleteRedisKeys(redisUrl, queuePrefix).catch(() => 0);
	await stack.stop();
	await rm(workDir, { recursive: true, force: true });
}

function report(results: Result[]): string {
	const of = (target: string, concurrency: number) =>
		results.find((row) => row.target === target && row.concurrency === concurrency)!;
	const floorOf: Record<string, string> = {
		'ours, n8n defaults': 'floor, n8n defaults',
		'ours, tuned': 'floor, tuned',
		'floor + HTTP, tuned': 'floor, tuned',
		'ours, queue mode': 'floor, queue mode',
		'floor, tuned': 'floor, n8n defaults',
	};
	const lines = [
		'',
		`n8n benchmark: unique leads, closed loop, ${rounds} alternating rounds of ${seconds} s per target; one processor`,
		'',
		'target                conc  accepted  errors   leads/s    p50 ms    p99 ms   ratio',
	];
	for (const row of results) {
		const base = floorOf[row.target];
		const ratio = base
			? `${(row.perSecond / of(base, row.concurrency).perSecond).toFixed(2)} × ${base}`
			: '';
		lines.push(
			`${row.target.padEnd(20)} ${String(row.concurrency).padStart(5)} ${String(row.requests).padStart(9)} ${String(row.errors).padStart(7)}` +
				` ${row.perSecond.toFixed(1).padStart(9)} ${row.p50.toFixed(1).padStart(9)} ${row.p99.toFixed(1).padStart(9)}   ${ratio}`,
		);
	}
	lines.push('');
	for (const concurrency of concurrencies) {
		const ratio = (target: string, base: string) =>
			of(target, concurrency).perSecond / of(base, concurrency).perSecond;
		const ours = ratio('ours, tuned', 'floor, tuned');
		const tuning = ratio('floor, tuned', 'floor, n8n defaults');
		lines.push(
			`concurrency ${concurrency}: ours/tuned floor ${ours.toFixed(2)} (bar 0.9: ${ours >= 0.9 ? 'met' : 'NOT met'}; ` +
				`one HTTP call alone ${ratio('floor + HTTP, tuned', 'floor, tuned').toFixed(2)}), ` +
				`tuned/untuned floor ${tuning.toFixed(2)} (bar 2: ${tuning >= 2 ? 'met' : 'NOT met'}), ` +
				`ours/floor on n8n defaults ${ratio('ours, n8n defaults', 'floor, n8n defaults').toFixed(2)}`,
		);
	}
	return lines.join('\n');
}

function combine(samples: Measurement[]): Omit<Result, 'target' | 'concurrency'> {
	const latencies = samples.flatMap((sample) => sample.latencies).sort((a, b) => a - b);
	const total = samples.reduce((sum, sample) => sum + sample.seconds, 0);
	const at = (p: number) =>
		latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
	return {
		requests: latencies.length,
		errors: samples.reduce((sum, sample) => sum + sample.errors, 0),
		perSecond: latencies.length / total,
		p50: at(0.5),
		p99: at(0.99),
	};
}

async function load(
	target: LeadSource,
	concurrency: number,
	duration: number,
	next: () => string,
): Promise<Measurement> {
	const latencies: number[] = [];
	let errors = 0;
	const started = performance.now();
	const deadline = started + duration * 1000;
	const client = async () => {
		while (performance.now() < deadline) {
			const sent = performance.now();
			const answer = await target.post(sampleLead(next()));
			// only an accepted lead counts: a quick refusal is not throughput
			if (answer.status === 200 && answer.body.status === 'accepted')
				latencies.push(performance.now() - sent);
			else errors++;
		}
	};
	await Promise.all(Array.from({ length: concurrency }, client));
	return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}
