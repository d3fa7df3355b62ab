import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { signingSecret } from '../src/dev-settings.js';
import { waitFor } from '../src/wait-for.js';
import { signedLeadHeaders } from './support/standard-webhooks.js';
import {
	DEVELOPMENT_SOURCE,
	leadSource,
	redisReachable,
	sampleLead,
	startLocalStack,
	type LeadAnswer,
	type LeadSource,
	type LocalStack,
	workflowsDir,
} from '../src/index.js';

/**
 * The scaled topology for real (`npm start -- --scale`): n8n in queue mode on the local Redis
 * (a prefix of its own) with a main, two webhook processes and two workers, and two processor
 * processes behind one port, on a throwaway database. Leads go through the (first) webhook process.
 */
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const CONCURRENCY = 16;

let stack: LocalStack;
let alertsDir: string;
let sql: postgres.Sql;
let source: LeadSource;
const lines = new Map<string, string[]>();
const lineListeners = new Set<(service: string, line: string) => void>();

beforeAll(async () => {
	if (!(await redisReachable(redisUrl))) {
		throw new Error(`This test needs Redis at ${redisUrl} (set REDIS_URL).`);
	}
	alertsDir = await mkdtemp(join(tmpdir(), 'lih-queue-alerts-'));
	stack = await startLocalStack({
		throwaway: true,
		n8n: true,
		scale: { redisUrl, workers: 2, processors: 2, webhooks: 2 },
		alertsDir,
		ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0, n8n: 0, n8nWebhook: 0 },
		// workers say at info level which execution of which workflow each one runs
		n8nExtras: { env: { N8N_LOG_LEVEL: 'info', N8N_LOG_FORMAT: 'json' } },
		processorEnv: { LOG_LEVEL: 'info' },
		onLine: (service, line) => {
			if (!lines.has(service)) lines.set(service, []);
			lines.get(service)!.push(line);
			for (const listener of lineListeners) listener(service, line);
		},
	});
	sql = postgres(stack.databaseUrl, { onnotice: () => undefined });
	source = leadSource({
		baseUrl: stack.urls.n8nWebhook!,
		headers: { authorization: `Bearer ${stack.settings.LEAD_SOURCE_API_KEY}` },
		timeoutMs: 15_000,
	});
}, 600_000);

afterAll(async () => {
	await sql?.end();
	await stack?.stop();
	await rm(alertsDir, { recursive: true, force: true });
}, 120_000);

/** How many lead intake executions each worker started ("Worker started execution N"). */
async function executionsPerWorker(): Promise<Record<string, number>> {
	const { id } = JSON.parse(await readFile(join(workflowsDir, 'lead-intake.json'), 'utf8')) as {
		id: string;
	};
	const counts: Record<string, number> = {};
	for (const [service, output] of lines) {
		if (!service.includes('worker')) continue;
		counts[service] = output.filter(
			(line) => line.includes('Worker started execution') && line.includes(`"workflowId":"${id}"`),
		).length;
	}
	return counts;
}

/** Leads each processor process answered, by its cluster worker id. */
function leadsPerProcessor(): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const line of lines.get('processor') ?? []) {
		if (!line.includes('"path":"/webhook/lead"')) continue;
		const worker = String((JSON.parse(line) as { worker?: number }).worker);
		counts[worker] = (counts[worker] ?? 0) + 1;
	}
	return counts;
}

/** Sends `count` jobs with at most CONCURRENCY in flight; `job(i)` sends the i-th lead. */
async function inParallel<T>(count: number, job: (index: number) => Promise<T>): Promise<T[]> {
	const results: T[] = new Array<T>(count);
	let next = 0;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			while (next < count) {
				const index = next++;
				results[index] = await job(index);
			}
		}),
	);
	return results;
}

/**
 * A lead source retries with the same key until it gets a final answer, and comes back when a
 * rate limit tells it to (the source's 600 requests a minute are less than these batches).
 */
async function postUntilAnswered(
	lead: unknown,
	key: string,
): Promise<LeadAnswer & { attempts: number }> {
	let attempts = 0;
	let throttled = 0;
	for (;;) {
		const answer = await source.post(lead, key);
		// a rate limit's refusal is not an attempt: the source waits as told and sends it again
		if (answer.status === 429 && answer.retryAfterSeconds && throttled++ < 300) {
			await new Promise((resolve) => setTimeout(resolve, answer.retryAfterSeconds! * 1000));
			continue;
		}
		attempts++;
		const final =
			(answer.status === 200 || answer.status === 202) &&
			(answer.body.status === 'accepted' || answer.body.status === 'duplicate');
		if (final || attempts === 8) return { ...answer, attempts };
		// 409: the first request with this key is still being delivered; a source backs off
		if (answer.status === 409) await new Promise((resolve) => setTimeout(resolve, 200 * attempts));
	}
}

/**
 * Every key of a batch (all of them start with `prefix`) once in runs and the CRM, and no other,
 * once the processors have delivered what they answered on store.
 */
async function expectEachKeyOnceInRunsAndCrm(sent: string, sentKeys: string[]): Promise<void> {
	// the trigger puts the source's keys in its own space
	const prefix = `${DEVELOPMENT_SOURCE}/${sent}`;
	const keys = sentKeys.map((key) => `${DEVELOPMENT_SOURCE}/${key}`);
	const runs = await waitFor(
		() => sql<{ idempotency_key: string; status: string }[]>`
			SELECT idempotency_key, status FROM runs WHERE starts_with(idempotency_key, ${prefix})`,
		{
			what: `every run of ${prefix}* delivered`,
			until: (rows) =>
				rows.length >= keys.length && rows.every((run) => run.status === 'processed'),
			deadlineMs: 120_000,
		},
	);
	expect(runs.map((run) => run.idempotency_key).sort()).toEqual([...keys].sort());
	expect(new Set(runs.map((run) => run.status))).toEqual(new Set(['processed']));
	const crm = (await (await fetch(`${stack.urls.crm}/leads`)).json()) as {
		leads: { key: string; upserts: number }[];
	};
	const ours = crm.leads.filter((lead) => lead.key.startsWith(prefix));
	expect(ours.map((lead) => lead.key).sort()).toEqual([...keys].sort());
	expect(ours.filter((lead) => lead.upserts !== 1)).toEqual([]);
}

/** How far each count went up since `before` (the counts of earlier tests are not this one's). */
function since(
	before: Record<string, number>,
	now: Record<string, number>,
): Record<string, number> {
	return Object.fromEntries(
		Object.entries(now).map(([name, count]) => [name, count - (before[name] ?? 0)]),
	);
}

const runId = Date.now().toString(36);

test('500 leads (10 % repeated keys) through the webhook process: each lead once in runs and the CRM, every repeat a duplicate, both workers and both processors busy', async () => {
	const [workersBefore, processorsBefore] = [await executionsPerWorker(), leadsPerProcessor()];
	const firstKeys = Array.from({ length: 450 }, (_, index) => `queue-${runId}-a${index}`);
	const originals = await inParallel(firstKeys.length, (index) =>
		source.post(sampleLead(`${runId}-a${index}`), firstKeys[index]),
	);
	// the shipped workflow answers once the lead is stored
	expect(originals.filter((answer) => answer.status !== 202)).toEqual([]);
	expect(new Set(originals.map((answer) => answer.body.status))).toEqual(new Set(['accepted']));
	await expectEachKeyOnceInRunsAndCrm(`queue-${runId}-a`, firstKeys);

	// 50 of the originals are sent again, with the same key and the same lead
	const repeated = firstKeys.filter((_, index) => index % 9 === 0).slice(0, 50);
	expect(repeated).toHaveLength(50);
	const repeats = await inParallel(repeated.length, (index) => {
		const original = firstKeys.indexOf(repeated[index]!);
		return source.post(sampleLead(`${runId}-a${original}`), repeated[index]);
	});
	for (const [index, answer] of repeats.entries()) {
		const original = originals[firstKeys.indexOf(repeated[index]!)]!;
		expect(answer).toEqual({
			status: 200,
			body: { status: 'duplicate', run_id: original.body.run_id, existing_status: 'processed' },
		});
	}

	await expectEachKeyOnceInRunsAndCrm(`queue-${runId}-a`, firstKeys);
	const workers = since(workersBefore, await executionsPerWorker());
	expect(Object.keys(workers).sort()).toEqual(['n8n-worker-1', 'n8n-worker-2']);
	expect(workers['n8n-worker-1']).toBeGreaterThan(0);
	expect(workers['n8n-worker-2']).toBeGreaterThan(0);
	expect(workers['n8n-worker-1']! + workers['n8n-worker-2']!).toBe(500);
	const processors = since(processorsBefore, leadsPerProcessor());
	expect(Object.keys(processors).sort()).toEqual(['1', '2']);
	expect(processors['1']! + processors['2']!).toBe(500);
}, 300_000);

test('SIGKILL of a worker during a batch loses no lead and delivers none twice (sources retry with the same key)', async () => {
	const victim = stack.services.find((service) => service.name === 'n8n-worker-1')!;
	const secondKeys = Array.from({ length: 300 }, (_, index) => `queue-${runId}-b${index}`);
	const survivorBefore = (await executionsPerWorker())['n8n-worker-2'] ?? 0;
	let done = 0;
	let killed = false;
	// a third of the way in, kill the worker the moment it starts an execution: one is in flight
	const kill = (service: string, line: string) => {
		if (killed || done < 100 || service !== victim.name) return;
		if (!line.includes('Worker started execution')) return;
		process.kill(victim.pid, 'SIGKILL');
		killed = true;
	};
	lineListeners.add(kill);

	const batch = inParallel(secondKeys.length, async (index) => {
		const answer = await postUntilAnswered(sampleLead(`${runId}-b${index}`), secondKeys[index]!);
		done++;
		return answer;
	});
	const answers = await batch;
	lineListeners.delete(kill);

	expect(killed).toBe(true);
	expect(await victim.exited).not.toBe(0);
	expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 202)).toEqual([]);
	for (const answer of answers) expect(['accepted', 'duplicate']).toContain(answer.body.status);
	await expectEachKeyOnceInRunsAndCrm(`queue-${runId}-b`, secondKeys);
	// the surviving worker carried on
	expect((await executionsPerWorker())['n8n-worker-2']).toBeGreaterThan(survivorBefore);
	const retried = answers.filter((answer) => answer.attempts > 1);
	const late = retried.filter((answer) => answer.body.status === 'duplicate').length;
	console.log(
		`worker killed: ${retried.length} of 300 leads were retried, ${late} of them answered duplicate (the processor had them before the worker died)`,
	);
}, 300_000);

/** A lead signed as the Lead Intake node signs it, sent straight to the processor port. */
async function postSigned(id: string, xSource: string): Promise<number> {
	const body = JSON.stringify(sampleLead(id));
	const response = await fetch(`${stack.urls.processor}/webhook/lead`, {
		method: 'POST',
		headers: signedLeadHeaders(signingSecret(stack.settings), xSource, id, body),
		body,
	});
	await response.arrayBuffer();
	return response.status;
}

/** The windows are whole minutes: a batch started early in one is counted in one window. */
async function earlyInAMinute(): Promise<void> {
	await waitFor(() => Date.now() % 60_000 < 20_000, {
		what: 'the first 20 seconds of a minute',
		deadlineMs: 65_000,
		intervalMs: 500,
	});
}

/**
 * The start of the next minute: a window no lead of an earlier test is counted in (the processor
 * counts per wall-clock minute; the tests before send leads of the development source too), with
 * the whole minute ahead.
 */
async function aFreshMinute(): Promise<void> {
	const current = Math.floor(Date.now() / 60_000);
	await waitFor(() => Math.floor(Date.now() / 60_000) > current, {
		what: 'the next minute to start',
		deadlineMs: 65_000,
		intervalMs: 100,
	});
}

/** The processor's SOURCE_RATE_LIMIT_PER_MINUTE (its default), counted in Postgres. */
const SOURCE_LIMIT = 600;

test('a per-source limit holds over both processor processes: the limit once, not once per process', async () => {
	const xSource = `scale-limit-${runId}`;
	await earlyInAMinute();
	const processorsBefore = leadsPerProcessor();
	const statuses = await inParallel(SOURCE_LIMIT + 40, (index) =>
		postSigned(`${xSource}-${index}`, xSource),
	);
	expect(statuses.filter((status) => status === 200)).toHaveLength(SOURCE_LIMIT);
	expect(statuses.filter((status) => status === 429)).toHaveLength(40);
	// both processes answered some of them: each alone would have allowed the whole limit
	const processors = since(processorsBefore, leadsPerProcessor());
	expect(processors['1']).toBeGreaterThan(0);
	expect(processors['2']).toBeGreaterThan(0);
}, 300_000);

test('the per-source limit holds over every n8n webhook process: leads through either count in the one window', async () => {
	expect(stack.urls.n8nWebhooks).toHaveLength(2);
	const webhooks = stack.urls.n8nWebhooks.map((baseUrl) =>
		leadSource({
			baseUrl,
			headers: { authorization: `Bearer ${stack.settings.LEAD_SOURCE_API_KEY}` },
			timeoutMs: 15_000,
		}),
	);
	await aFreshMinute();
	// the development source's window filled to 5 below the limit by leads signed as n8n signs them
	const direct = await inParallel(SOURCE_LIMIT - 5, (index) =>
		postSigned(`webhooks-${runId}-d${index}`, 'development'),
	);
	expect(direct.filter((status) => status !== 200)).toEqual([]);
	// then 10 leads through each webhook process (each trigger's own bucket would take them all)
	const answers = await inParallel(20, (index) =>
		webhooks[index % 2]!.post(
			sampleLead(`webhooks-${runId}-w${index}`),
			`webhooks-${runId}-w${index}`,
		),
	);
	const accepted = answers.filter(
		(answer) => answer.status === 202 && answer.body.status === 'accepted',
	);
	const limited = answers
		.map((answer, index) => ({ answer, webhook: index % 2 }))
		.filter(
			({ answer }) =>
				answer.status === 429 &&
				String(answer.body.detail).includes('leads from one lead source') &&
				answer.retryAfterSeconds! > 0,
		);
	expect(accepted).toHaveLength(5);
	expect(limited).toHaveLength(15);
	// with 10 leads each and 5 accepted in all, both webhook processes had leads refused
	expect(new Set(limited.map(({ webhook }) => webhook))).toEqual(new Set([0, 1]));
}, 300_000);
