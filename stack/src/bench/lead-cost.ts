import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { leadSource, sampleLead } from '../lead-source.js';
import { waitFor } from '../wait-for.js';
import { startBenchStack, vacuumAnalyze } from './bench-stack.js';
import { HAND_OFF_WEBHOOK_PATH } from './floor-workflow.js';
import { BENCH_LEAD_WEBHOOK_PATH } from './lead-workflow.js';
import { load } from './load.js';

/*
 * `npm run bench:lead-cost`: where the CPU of a lead goes, and what it costs the processor's
 * database. The stack's n8n takes leads at LEAD_COST_CONCURRENCY (default 8) for
 * LEAD_COST_SECONDS (default 10) per round, LEAD_COST_ROUNDS (default 3) rounds alternating the
 * hand-off (Webhook → HTTP Request → Respond, see floor-workflow.ts) and our workflow answering on
 * store. After a round of ours the queue is drained before the CPU is read, so background delivery
 * is counted with the leads it delivered. Prints, per target, the CPU time per lead of every
 * process on the machine by role (read from /proc, so Postgres backends count for the database
 * they serve) and the processor database's transactions and rows written per lead.
 * The CPU time in the kernel (socket writes and wake-ups, fsync) is shown beside each.
 * LEAD_COST_STATEMENTS=1 adds the processor database's costliest statements per lead.
 * Only on Linux; clock ticks are taken as 100 per second (the kernel's USER_HZ).
 */
const seconds = Number(process.env.LEAD_COST_SECONDS ?? 10);
const rounds = Number(process.env.LEAD_COST_ROUNDS ?? 3);
const concurrency = Number(process.env.LEAD_COST_CONCURRENCY ?? 8);
const TICK_MS = 10;
const statementsWanted = process.env.LEAD_COST_STATEMENTS === '1';
if (statementsWanted && process.env.DATABASE_URL) {
	process.stderr.write('LEAD_COST_STATEMENTS needs the embedded Postgres: unset DATABASE_URL\n');
	process.exit(2);
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const workDir = await mkdtemp(join(tmpdir(), 'lih-lead-cost-'));
const { stack } = await startBenchStack({
	workDir,
	log,
	...(statementsWanted && {
		postgresSettings: {
			shared_preload_libraries: 'pg_stat_statements',
			'pg_stat_statements.track_planning': 'on',
		},
	}),
});
const processorDatabase = new URL(stack.databaseUrl).pathname.slice(1);
const sql = postgres(stack.databaseUrl, { max: 1, onnotice: () => undefined });

/** A process's role, from its command line. */
function roleOf(command: string): string {
	if (command.startsWith('postgres:')) {
		// a backend is `postgres: <user> <database> <client> <state>`
		const database = command.split(' ')[2] ?? '';
		if (database === processorDatabase) return "processor's Postgres";
		return database.includes('n8n') ? "n8n's Postgres" : 'Postgres (server processes)';
	}
	if (command.includes('lead-cost')) return 'load generator (this script)';
	if (command.includes('processor/dist')) return 'processor';
	if (command.includes('mocks/')) return 'mock CRM and Jira';
	if (command.includes('n8n')) return 'n8n';
	return 'everything else on the machine';
}

interface ProcessTicks {
	role: string;
	ticks: number;
	/** Of them, in the kernel (system calls: socket writes, wake-ups, fsync). */
	kernelTicks: number;
}

async function cpuTicksByPid(): Promise<Map<string, ProcessTicks>> {
	const found = new Map<string, ProcessTicks>();
	for (const pid of await readdir('/proc')) {
		if (!/^\d+$/.test(pid)) continue;
		try {
			const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
			const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
			found.set(pid, {
				role: roleOf(command),
				ticks: Number(fields[11]) + Number(fields[12]),
				kernelTicks: Number(fields[12]),
			});
		} catch {
			// the process ended meanwhile
		}
	}
	return found;
}

async function databaseCounters() {
	const [row] = await sql<{ xact: string; written: string }[]>`
		SELECT xact_commit + xact_rollback AS xact, tup_inserted + tup_updated + tup_deleted AS written
		FROM pg_stat_database WHERE datname = current_database()`;
	return { xact: Number(row!.xact), written: Number(row!.written) };
}

/** CPU time of a role, and of it in the kernel. */
interface CpuMs {
	total: number;
	kernel: number;
}

function addCpu(byRole: Map<string, CpuMs>, role: string, total: number, kernel: number): void {
	const sum = byRole.get(role) ?? { total: 0, kernel: 0 };
	byRole.set(role, { total: sum.total + total, kernel: sum.kernel + kernel });
}

interface Sample {
	leads: number;
	seconds: number;
	cpuMs: Map<string, CpuMs>;
	xact: number;
	written: number;
}

let sequence = 0;
async function round(path: string, reachesProcessor: boolean): Promise<Sample> {
	const source = leadSource({
		baseUrl: stack.urls.n8nWebhook!,
		path,
		headers: { authorization: `Bearer ${stack.settings.LEAD_SOURCE_API_KEY}` },
		timeoutMs: 60_000,
	});
	const cpuBefore = await cpuTicksByPid();
	const dbBefore = await databaseCounters();
	const {
		latencies,
		errors,
		seconds: elapsed,
	} = await load(source, concurrency, seconds, () => `lead-cost-${sequence++}`);
	if (errors > 0) throw new Error(`${errors} leads were not accepted in this round`);
	const leads = latencies.length;
	if (reachesProcessor) {
		await waitFor(
			async () => {
				const [row] = await sql<{ waiting: string }[]>`
					SELECT count(*) AS waiting FROM runs WHERE status IN ('queued', 'accepted')`;
				return Number(row!.waiting) === 0 ? true : null;
			},
			{ what: 'the queue to drain', deadlineMs: 60_000, intervalMs: 100 },
		);
	}
	const cpuAfter = await cpuTicksByPid();
	const dbAfter = await databaseCounters();
	const cpuMs = new Map<string, CpuMs>();
	for (const [pid, { role, ticks, kernelTicks }] of cpuAfter) {
		const before = cpuBefore.get(pid);
		const spent = ticks - (before?.ticks ?? 0);
		const inKernel = kernelTicks - (before?.kernelTicks ?? 0);
		if (spent > 0) addCpu(cpuMs, role, spent * TICK_MS, inKernel * TICK_MS);
	}
	return {
		leads,
		seconds: elapsed,
		cpuMs,
		xact: dbAfter.xact - dbBefore.xact,
		written: dbAfter.written - dbBefore.written,
	};
}

/**
 * The processor database's statements that took the most time, per lead of ours (the hand-off's
 * rounds add only the processor's idle polls). Times are the backend's wall time: they include
 * waits for locks and for a core, so they rank statements rather than add up to its CPU.
 */
async function statementReport(leads: number): Promise<string> {
	const rows = await sql<{ calls: string; ms: string; query: string }[]>`
		SELECT calls, total_exec_time + total_plan_time AS ms, regexp_replace(query, '\\s+', ' ', 'g') AS query
		FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND calls > 0
		ORDER BY total_exec_time + total_plan_time DESC
		LIMIT 8`;
	return [
		'costliest processor database statements (ms per lead of ours, calls per lead, statement):',
		...rows.map(
			(row) =>
				`  ${(Number(row.ms) / leads).toFixed(3).padStart(7)}  ${(Number(row.calls) / leads).toFixed(2).padStart(5)}  ${row.query.trim().slice(0, 110)}`,
		),
	].join('\n');
}

function report(name: string, samples: Sample[]): string {
	const leads = samples.reduce((sum, sample) => sum + sample.leads, 0);
	const elapsed = samples.reduce((sum, sample) => sum + sample.seconds, 0);
	const byRole = new Map<string, CpuMs>();
	for (const sample of samples)
		for (const [role, ms] of sample.cpuMs) addCpu(byRole, role, ms.total, ms.kernel);
	const total = [...byRole.values()].reduce(
		(sum, ms) => ({ total: sum.total + ms.total, kernel: sum.kernel + ms.kernel }),
		{ total: 0, kernel: 0 },
	);
	const perLead = (value: number) => (value / leads).toFixed(2).padStart(7);
	const xact = samples.reduce((sum, sample) => sum + sample.xact, 0);
	const written = samples.reduce((sum, sample) => sum + sample.written, 0);
	return [
		`${name}: ${leads} leads, ${(leads / elapsed).toFixed(1)} leads/s at concurrency ${concurrency}`,
		`  CPU ms per lead, all processes: ${perLead(total.total).trim()} (in the kernel: ${perLead(total.kernel).trim()})`,
		...[...byRole]
			.sort((a, b) => b[1].total - a[1].total)
			.map(
				([role, ms]) =>
					`  ${perLead(ms.total)}  ${role} (in the kernel: ${perLead(ms.kernel).trim()})`,
			),
		`  processor database per lead: ${(xact / leads).toFixed(2)} transactions, ${(written / leads).toFixed(2)} rows written`,
	].join('\n');
}

try {
	const handOff = `/webhook/${HAND_OFF_WEBHOOK_PATH}`;
	const ours = `/webhook/${BENCH_LEAD_WEBHOOK_PATH}`;
	log('Warming up ...');
	for (const path of [handOff, ours]) {
		const source = leadSource({
			baseUrl: stack.urls.n8nWebhook!,
			path,
			headers: { authorization: `Bearer ${stack.settings.LEAD_SOURCE_API_KEY}` },
		});
		for (let i = 0; i < 50; i++) await source.post(sampleLead(`lead-cost-warm-${sequence++}`));
	}
	await vacuumAnalyze([stack.databaseUrl, stack.n8nDatabaseUrl!]);
	if (statementsWanted) {
		await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
		await sql`SELECT pg_stat_statements_reset()`;
	}
	const samples = { handOff: [] as Sample[], ours: [] as Sample[] };
	for (let index = 0; index < rounds; index++) {
		const order: ('handOff' | 'ours')[] =
			index % 2 === 0 ? ['handOff', 'ours'] : ['ours', 'handOff'];
		for (const target of order) {
			log(`${target === 'ours' ? 'ours on store' : 'hand-off'}, round ${index + 1}/${rounds} ...`);
			samples[target].push(await round(target === 'ours' ? ours : handOff, target === 'ours'));
		}
	}
	console.log(
		[
			'',
			report('hand-off (Webhook → HTTP Request → Respond)', samples.handOff),
			'',
			report('ours answering on store (delivery included: drained before reading)', samples.ours),
		].join('\n'),
	);
	if (statementsWanted) {
		const leads = samples.ours.reduce((sum, sample) => sum + sample.leads, 0);
		console.log(`\n${await statementReport(leads)}`);
	}
} finally {
	await sql.end();
	await stack.stop();
	await rm(workDir, { recursive: true, force: true });
}
