import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leadSource, sampleLead } from '../lead-source.js';
import { startBenchStack } from './bench-stack.js';
import { FLOOR_WEBHOOK_PATH, HAND_OFF_WEBHOOK_PATH } from './floor-workflow.js';
import { BENCH_LEAD_WEBHOOK_PATH } from './lead-workflow.js';
import { load } from './load.js';

/*
 * `npm run profile:n8n`: where n8n spends a webhook execution. Runs the stack's n8n under V8's
 * CPU profiler, sends PROFILE_SECONDS (default 20) of unique leads at PROFILE_CONCURRENCY
 * (default 8) to PROFILE_TARGET (`ours`, the lead intake workflow; `floor`, the bare
 * Webhook → Respond; `hand-off`, the floor with one HTTP Request node), and prints the CPU time
 * per execution by package and by function.
 * PROFILE_TUNING=n8n-defaults profiles n8n with its own settings instead of ours; PROFILE_ENV
 * (JSON) adds n8n settings to try, e.g. '{"N8N_EXPRESSION_ENGINE":"legacy"}'; PROFILE_TOP
 * (default 20) is how many functions to list.
 */
const seconds = Number(process.env.PROFILE_SECONDS ?? 20);
const concurrency = Number(process.env.PROFILE_CONCURRENCY ?? 8);
const targets = {
	ours: { path: BENCH_LEAD_WEBHOOK_PATH, title: 'our lead intake workflow' },
	floor: { path: FLOOR_WEBHOOK_PATH, title: 'bare Webhook → Respond' },
	'hand-off': { path: HAND_OFF_WEBHOOK_PATH, title: 'Webhook → HTTP Request → Respond' },
};
const target = targets[process.env.PROFILE_TARGET as keyof typeof targets] ?? targets.ours;
const untuned = process.env.PROFILE_TUNING === 'n8n-defaults';

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
interface Profile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const workDir = await mkdtemp(join(tmpdir(), 'lih-n8n-profile-'));
const profileDir = join(workDir, 'profiles');
const { stack } = await startBenchStack({
	workDir,
	log,
	n8nEnv: {
		NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}`,
		...(untuned ? n8nDefaultsOverride() : {}),
		...(JSON.parse(process.env.PROFILE_ENV ?? '{}') as Record<string, string>),
	},
});

let requests = 0;
let loadStarted = 0;
let loadEnded = 0;
let stopped = 0;
const n8nPid = stack.services.find((service) => service.name === 'n8n')!.pid;
try {
	const source = leadSource({
		baseUrl: stack.urls.n8nWebhook!,
		path: `/webhook/${target.path}`,
		headers: { authorization: `Bearer ${stack.settings.LEAD_SOURCE_API_KEY}` },
	});
	let sequence = 0;
	for (let warm = 0; warm < 20; warm++) await source.post(sampleLead(`warm-${sequence++}`));
	log(`Profiling ${target.title} at concurrency ${concurrency} for ${seconds} s ...`);
	loadStarted = performance.now();
	const { latencies, errors } = await load(
		source,
		concurrency,
		seconds,
		() => `profile-${sequence++}`,
	);
	if (errors > 0) throw new Error(`${errors} leads were not accepted`);
	requests = latencies.length;
	loadEnded = performance.now();
} finally {
	await stack.stop();
	stopped = performance.now();
}

// n8n writes its profile when it exits; the CLI commands the stack ran wrote theirs too
const file = (await readdir(profileDir)).find((name) => name.includes(`.${n8nPid}.0.`));
if (!file) throw new Error(`n8n (pid ${n8nPid}) wrote no profile into ${profileDir}`);
const profile = JSON.parse(await readFile(join(profileDir, file), 'utf8')) as Profile;
console.log(summarize(profile));
await rm(workDir, { recursive: true, force: true });

/** The settings of N8N_PRODUCTION_SETTINGS back at n8n's defaults. */
function n8nDefaultsOverride(): Record<string, string> {
	return {
		N8N_EXPRESSION_ENGINE: 'vm',
		N8N_EXPRESSION_ENGINE_LAZY_ACQUIRE: 'false',
		EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all',
		EXECUTIONS_DATA_MAX_AGE: '336',
		N8N_LOG_LEVEL: 'info',
		DB_POSTGRESDB_POOL_SIZE: '2',
	};
}

/** CPU time per execution during the load, by package and by function (self time). */
function summarize(profile: Profile): string {
	const byId = new Map(profile.nodes.map((node) => [node.id, node]));
	// the profile ends when n8n exits; the load is the window before the stop
	const total = profile.timeDeltas.reduce((sum, delta) => sum + delta, 0);
	const windowEnd = total - (stopped - loadEnded) * 1000;
	const windowStart = windowEnd - (loadEnded - loadStarted) * 1000;
	const selfTime = new Map<number, number>();
	let clock = 0;
	for (let index = 0; index < profile.samples.length; index++) {
		clock += profile.timeDeltas[index] ?? 0;
		if (clock < windowStart || clock > windowEnd) continue;
		const id = profile.samples[index]!;
		selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
	}
	const byPackage = new Map<string, number>();
	const byFunction = new Map<string, number>();
	for (const [id, micros] of selfTime) {
		const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
		const packages = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
		const owner = packages
			? packages[packages.length - 1]!.replace('node_modules/', '')
			: url.startsWith('node:')
				? 'node (built-in)'
				: `(${functionName || 'native'})`;
		byPackage.set(owner, (byPackage.get(owner) ?? 0) + micros);
		const where = `${functionName || '(anonymous)'} ${url.split('node_modules/').pop()}:${lineNumber}`;
		byFunction.set(where, (byFunction.get(where) ?? 0) + micros);
	}
	const perExecution = (micros: number) => (micros / 1000 / requests).toFixed(2).padStart(7);
	const top = (map: Map<string, number>, count: number) =>
		[...map]
			.sort((a, b) => b[1] - a[1])
			.slice(0, count)
			.map(([name, micros]) => `${perExecution(micros)} ms  ${name}`)
			.join('\n');
	const busy = [...selfTime.values()].reduce((sum, micros) => sum + micros, 0);
	return [
		'',
		`n8n ${untuned ? 'with its default settings' : 'with the production settings'}, ${target.title}: ${requests} executions in ${((loadEnded - loadStarted) / 1000).toFixed(1)} s at concurrency ${concurrency}`,
		`n8n's main thread per execution: ${perExecution(busy)} ms sampled (including idle)`,
		'',
		'by package (self time per execution)',
		top(byPackage, 15),
		'',
		'by function (self time per execution)',
		top(byFunction, Number(process.env.PROFILE_TOP ?? 20)),
	].join('\n');
}
