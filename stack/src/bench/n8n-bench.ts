import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signingSecret, stackSettings } from '../dev-settings.js';
import { leadSource, type LeadSource } from '../lead-source.js';
import { startN8nDeployment, type N8nDeployment } from '../n8n/deployment.js';
import { ensureN8n } from '../n8n/install.js';
import { createDatabase, databaseUrl, dropDatabase } from '../postgres.js';
import { deleteRedisKeys, redisReachable } from '../redis.js';
import { startBenchStack, vacuumAnalyze } from './bench-stack.js';
import { FLOOR_WEBHOOK_PATH, HAND_OFF_WEBHOOK_PATH } from './floor-workflow.js';
import { waitFor } from '../wait-for.js';
import { load, type LoadResult } from './load.js';
import { BENCH_LEAD_ON_DELIVERY_WEBHOOK_PATH, BENCH_LEAD_WEBHOOK_PATH } from './lead-workflow.js';

/*
 * `npm run bench:n8n`: what n8n costs per lead, and what our workflow adds, in one run on one
 * machine. One processor and its mocks serve three n8n deployments side by side:
 *   - n8n with its default settings, running the bare Webhook → Respond floor and our workflow;
 *   - n8n with our production settings (N8N_PRODUCTION_SETTINGS), running the floor, the floor
 *     with one HTTP Request node calling the mock CRM (the hand-off: about the most a workflow that
 *     hands its lead on over HTTP can reach) and our lead intake workflow in both answer modes
 *     (when the lead is stored, as shipped; when the CRM has it);
 *   - the same settings in queue mode (main, webhook process, BENCH_WORKERS=2 workers on
 *     REDIS_URL), running the floor and our workflow.
 * Our workflow is the shipped one with the source's rate limit out of reach (lead-workflow.ts).
 * Unique leads, closed loop, BENCH_CONCURRENCY (default "1,8"); BENCH_ROUNDS (default 4) rounds of
 * BENCH_SECONDS (default 5) per target, every other round in reverse order, so drift (a growing
 * table, a busy neighbour) favours no target. A 200 or 202 `accepted` answer counts; after each
 * round of a target that reaches the processor, its queue is drained (every accepted lead in the
 * mock CRM) before the next round starts, and the time that took is reported. Then both answer
 * modes once more with the mock CRM answering after BENCH_SLOW_CRM_MS (default 2000).
 * Prints leads/s, p50, p99 and the same-run ratios.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map(Number);
const workers = Number(process.env.BENCH_WORKERS ?? 2);
const slowCrmMs = Number(process.env.BENCH_SLOW_CRM_MS ?? 2000);
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
// the development lead source's key (the floors' bare webhooks ignore it)
const sourceHeaders: Record<string, string> = {
	authorization: `Bearer ${stackSettings().LEAD_SOURCE_API_KEY}`,
};

interface Target {
	name: string;
	source: LeadSource;
	/** Its accepted leads go to the CRM (through the processor): drained after each round. */
	reachesCrm: boolean;
}

interface Measurement extends LoadResult {
	/** How long the processor took afterwards to deliver what this round left queued. */
	drainSeconds: number;
}

interface Result {
	target: string;
	concurrency: number;
	requests: number;
	errors: number;
	perSecond: number;
	p50: number;
	p99: number;
	drainSeconds: number;
}

/** Leads answered accepted by targets that reach the CRM: the mock CRM holds them all once drained. */
let acceptedForCrm = 0;

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
	const onDeliveryPath = `/webhook/${BENCH_LEAD_ON_DELIVERY_WEBHOOK_PATH}`;
	const tuned = stack.urls.n8nWebhook!;
	const onStore: Target = {
		name: 'ours on store, tuned',
		source: source(tuned, oursPath),
		reachesCrm: true,
	};
	const onDelivery: Target = {
		name: 'ours on CRM, tuned',
		source: source(tuned, onDeliveryPath),
		reachesCrm: true,
	};
	const targets: Target[] = [
		{
			name: 'floor, n8n defaults',
			source: source(untuned.webhookUrl, floorPath),
			reachesCrm: false,
		},
		{ name: 'ours, n8n defaults', source: source(untuned.webhookUrl, oursPath), reachesCrm: true },
		{ name: 'floor, tuned', source: source(tuned, floorPath), reachesCrm: false },
		{ name: 'floor + HTTP, tuned', source: source(tuned, handOffPath), reachesCrm: false },
		onStore,
		onDelivery,
		{ name: 'floor, queue mode', source: source(queued.webhookUrl, floorPath), reachesCrm: false },
		{ name: 'ours, queue mode', source: source(queued.webhookUrl, oursPath), reachesCrm: true },
	];
	let sequence = 0;
	const next = () => `bench-${runId}-${sequence++}`;
	log('Warming up ...');
	for (const target of targets) await measure(target, 2, 3, next);
	await vacuumAnalyze([
		stack.databaseUrl,
		stack.n8nDatabaseUrl!,
		...extraDatabases.map((database) => databaseUrl(stack.serverUrl, database)),
	]);

	const results: Result[] = [];
	const slowResults: Result[] = [];
	for (const concurrency of concurrencies) {
		const samples = new Map<string, Measurement[]>(targets.map(({ name }) => [name, []]));
		for (let round = 0; round < rounds; round++) {
			const order = round % 2 === 0 ? targets : [...targets].reverse();
			for (const target of order) {
				log(`${target.name} at concurrency ${concurrency}, round ${round + 1}/${rounds} ...`);
				samples.get(target.name)!.push(await measure(target, concurrency, seconds, next));
			}
		}
		for (const { name } of targets)
			results.push({ target: name, concurrency, ...combine(samples.get(name)!) });
	}
	// both answer modes with a CRM that answers after slowCrmMs; fast again while the queue drains
	const slowTargets = [onStore, onDelivery];
	for (const concurrency of concurrencies) {
		const samples = new Map<string, Measurement[]>(slowTargets.map(({ name }) => [name, []]));
		for (let round = 0; round < rounds; round++) {
			const order = round % 2 === 0 ? slowTargets : [...slowTargets].reverse();
			for (const target of order) {
				log(`${target.name} with a ${slowCrmMs} ms CRM at concurrency ${concurrency} ...`);
				samples.get(target.name)!.push(await measure(target, concurrency, seconds, next, true));
			}
		}
		for (const { name } of slowTargets)
			slowResults.push({ target: name, concurrency, ...combine(samples.get(name)!) });
	}
	console.log(report(results, slowResults));
} finally {
	for (const started of extraDeployments)
		for (const service of started.services.reverse()) await service.stop();
	if (process.env.DATABASE_URL)
		for (const database of extraDatabases) await dropDatabase(stack.serverUrl, database);
	await deleteRedisKeys(redisUrl, queuePrefix).catch(() => 0);
	await stack.stop();
	await rm(workDir, { recursive: true, force: true });
}

function report(results: Result[], slowResults: Result[]): string {
	const of = (target: string, concurrency: number, rows = results) =>
		rows.find((row) => row.target === target && row.concurrency === concurrency)!;
	const floorOf: Record<string, string> = {
		'ours, n8n defaults': 'floor, n8n defaults',
		'ours on store, tuned': 'floor + HTTP, tuned',
		'ours on CRM, tuned': 'floor + HTTP, tuned',
		'floor + HTTP, tuned': 'floor, tuned',
		'ours, queue mode': 'floor, queue mode',
		'floor, tuned': 'floor, n8n defaults',
	};
	const header =
		'target                conc  accepted  errors   leads/s    p50 ms    p99 ms  drain s   ratio';
	const row = (line: Result, ratio: string) =>
		`${line.target.padEnd(20)} ${String(line.concurrency).padStart(5)} ${String(line.requests).padStart(9)} ${String(line.errors).padStart(7)}` +
		` ${line.perSecond.toFixed(1).padStart(9)} ${line.p50.toFixed(1).padStart(9)} ${line.p99.toFixed(1).padStart(9)} ${line.drainSeconds.toFixed(1).padStart(8)}   ${ratio}`;
	const lines = [
		'',
		`n8n benchmark: unique leads, closed loop, ${rounds} alternating rounds of ${seconds} s per target; one processor`,
		'("ours" answers the source when the lead is stored, as shipped; "ours on CRM" when the CRM has it;',
		' drain s: mean time per round until the CRM held every accepted lead, not counted in leads/s)',
		'',
		header,
	];
	for (const line of results) {
		const base = floorOf[line.target];
		const ratio = base
			? `${(line.perSecond / of(base, line.concurrency).perSecond).toFixed(2)} × ${base}`
			: '';
		lines.push(row(line, ratio));
	}
	lines.push('', `the mock CRM answering after ${slowCrmMs} ms:`, header);
	for (const line of slowResults) {
		const fast = of(line.target, line.concurrency);
		lines.push(
			row(
				line,
				`${(line.perSecond / fast.perSecond).toFixed(2)} × its leads/s, p99 ${(line.p99 / fast.p99).toFixed(2)} × its p99 with the fast CRM`,
			),
		);
	}
	lines.push('');
	for (const concurrency of concurrencies) {
		const ratio = (target: string, base: string) =>
			of(target, concurrency).perSecond / of(base, concurrency).perSecond;
		const onStore = ratio('ours on store, tuned', 'floor + HTTP, tuned');
		const slowP99 =
			of('ours on store, tuned', concurrency, slowResults).p99 /
			of('ours on store, tuned', concurrency).p99;
		lines.push(
			`concurrency ${concurrency}: on store/hand-off ${onStore.toFixed(2)} (bar 0.9 at c=8: ${onStore >= 0.9 ? 'met' : 'NOT met'}), ` +
				`on CRM/hand-off ${ratio('ours on CRM, tuned', 'floor + HTTP, tuned').toFixed(2)}, ` +
				`on store/floor ${ratio('ours on store, tuned', 'floor, tuned').toFixed(2)}, ` +
				`on CRM/floor ${ratio('ours on CRM, tuned', 'floor, tuned').toFixed(2)}; ` +
				`on store p99 with the slow CRM ${slowP99.toFixed(2)} × fast (bar 1.5: ${slowP99 <= 1.5 ? 'met' : 'NOT met'})`,
		);
	}
	for (const concurrency of concurrencies) {
		const ratio = (target: string, base: string) =>
			of(target, concurrency).perSecond / of(base, concurrency).perSecond;
		const ours = ratio('ours on store, tuned', 'floor, tuned');
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

/**
 * One round against a target; for a target that reaches the CRM, then waits until the mock CRM
 * holds every lead accepted so far (the processor's queue drained), so the next round starts on an
 * idle processor. With `slowCrm` the mock CRM answers after slowCrmMs during the round, and fast
 * again while the queue drains.
 */
async function measure(
	target: Target,
	concurrency: number,
	duration: number,
	next: () => string,
	slowCrm = false,
): Promise<Measurement> {
	if (slowCrm) await crmFaults({ latency_ms: slowCrmMs, slow_next: 1_000_000_000 });
	const measured = await load(target.source, concurrency, duration, next);
	if (slowCrm) await crmFaults({ latency_ms: 0, slow_next: 0 });
	if (target.reachesCrm) acceptedForCrm += measured.latencies.length;
	const drainStarted = performance.now();
	if (target.reachesCrm) {
		await waitFor(
			async () =>
				((await (await fetch(`${stack.urls.crm}/health`)).json()) as { leads: number }).leads,
			{
				what: `the mock CRM to hold all ${acceptedForCrm} accepted leads`,
				deadlineMs: 600_000,
				intervalMs: 100,
				until: (leads) => leads >= acceptedForCrm,
			},
		);
	}
	return { ...measured, drainSeconds: (performance.now() - drainStarted) / 1000 };
}

async function crmFaults(faults: Record<string, number>): Promise<void> {
	const response = await fetch(`${stack.urls.crm}/admin/faults`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ fail_next: 0, status: 503, ...faults }),
	});
	if (!response.ok) throw new Error(`the mock CRM refused its faults: HTTP ${response.status}`);
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
		drainSeconds: samples.reduce((sum, sample) => sum + sample.drainSeconds, 0) / samples.length,
	};
}
