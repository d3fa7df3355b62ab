import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startMockCrm, type CrmLead } from '@lead-intake-hub/mocks';
import { createDatabase, dropDatabase, freePort } from '@lead-intake-hub/stack';
import postgres from 'postgres';
import { answerOnStoreKey, signingKeys, signV2 } from '../src/intake/signature.js';

/*
 * `npm run drill`: can a lead be lost? Starts Postgres (a throwaway embedded one, or a throwaway
 * database on DATABASE_URL's server), the mock CRM and a real processor process, sends
 * DRILL_LEADS leads (default 3000) at concurrency DRILL_CONCURRENCY (16) while killing the
 * processor with SIGKILL DRILL_KILLS times (3) and starting it again; every client retries with
 * the same key until it has an answer that owns the lead. Then it drives retry-due (as n8n's
 * schedule does, compressed) until every lead has settled, and counts.
 *
 * DRILL_MODE=store (`npm run drill:store`): every lead asks to be answered on store
 * (`Prefer: respond-async`, signed with the answer-on-store key) and is owned once answered 202;
 * nothing calls retry-due: the processor's own deliverer and retry loop (every second here)
 * must bring every lead to the CRM across the kills.
 */
const LEADS = Number(process.env.DRILL_LEADS ?? 3000);
const CONCURRENCY = Number(process.env.DRILL_CONCURRENCY ?? 16);
const KILLS = Number(process.env.DRILL_KILLS ?? 3);
const ON_STORE = process.env.DRILL_MODE === 'store';
const SECRET = 'drill-hmac-secret-0123456789';
const SERVICE_TOKEN = 'drill-service-token-0123456789';
const CRM_TOKEN = 'drill-crm-token';
// an accepted run's lease: its insert, a CRM call and its processed write, 1 s + 4 × 1.5 s = 7 s
const CRM_TIMEOUT_MS = 1000;

const repoRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Child {
	process: ChildProcess;
	lines: string[];
}

function startChild(script: string, env: NodeJS.ProcessEnv, readyLine: string): Promise<Child> {
	const child = spawn(process.execPath, [join(repoRoot, script)], {
		env,
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const lines: string[] = [];
	return new Promise((resolve, reject) => {
		for (const stream of [child.stdout!, child.stderr!]) {
			createInterface({ input: stream }).on('line', (line) => {
				lines.push(line);
				if (line.includes(readyLine)) resolve({ process: child, lines });
			});
		}
		child.once('exit', (code) =>
			reject(new Error(`${script} exited (${code}):\n${lines.slice(-10).join('\n')}`)),
		);
	});
}

async function kill(child: Child, signal: NodeJS.Signals): Promise<void> {
	if (child.process.exitCode !== null || child.process.signalCode !== null) return;
	child.process.kill(signal);
	await once(child.process, 'exit');
}

// --- Postgres, a throwaway database, the mock CRM ----------------------------------------
let postgresChild: Child | null = null;
let serverUrl = process.env.DATABASE_URL;
const dataDir = join(repoRoot, '.data', `drill-postgres-${randomBytes(4).toString('hex')}`);
if (!serverUrl) {
	log('starting an embedded Postgres ...');
	const env: NodeJS.ProcessEnv = {
		...process.env,
		LIH_PG_DATA_DIR: dataDir,
		LIH_PG_PORT: String(await freePort()),
		LIH_PG_THROWAWAY: '1',
	};
	postgresChild = await startChild('stack/dist/postgres-service.js', env, 'postgres ready');
	serverUrl = postgresChild.lines
		.find((line) => line.startsWith('postgres ready'))!
		.slice('postgres ready '.length);
}
const databaseName = `lih_drill_${randomBytes(4).toString('hex')}`;
const databaseUrl = await createDatabase(serverUrl, databaseName);
const sql = postgres(databaseUrl, { max: 2, onnotice: () => undefined });
const crm = await startMockCrm({ token: CRM_TOKEN });
const port = await freePort();
const processorUrl = `http://127.0.0.1:${port}`;
const processorEnv: NodeJS.ProcessEnv = {
	PATH: process.env.PATH,
	HOST: '127.0.0.1',
	PORT: String(port),
	DATABASE_URL: databaseUrl,
	WEBHOOK_HMAC_SECRET: SECRET,
	EMAIL_HASH_SALT: 'drill-salt-0123',
	LEAD_ENCRYPTION_KEY: 'drill-lead-encryption-key-0123456789',
	SERVICE_TOKEN,
	CRM_URL: `${crm.url}/leads/upsert`,
	CRM_TOKEN,
	CRM_TIMEOUT_MS: String(CRM_TIMEOUT_MS),
	RATE_LIMIT_PER_MINUTE: '100000000',
	SOURCE_RATE_LIMIT_PER_MINUTE: '100000000',
	// store mode: the processor retries by itself (nothing calls retry-due), every second here
	DLQ_RETRY_INTERVAL_SECONDS: ON_STORE ? '1' : '0',
	LOG_LEVEL: 'warn',
};
const startProcessor = () =>
	startChild(
		'processor/dist/src/main.js',
		{ ...processorEnv, LOG_LEVEL: 'info' },
		'processor listening',
	);

// --- the clients: each lead is sent until an answer owns it -------------------------------
const { key: secretKey } = signingKeys([SECRET])[0]!;
const signingKey = ON_STORE ? answerOnStoreKey(secretKey) : secretKey;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const emailOf = (index: number) => `drill.lead.${index}@example.com`;

type Owned = 'accepted' | 'queued' | 'duplicate' | 'in_dlq';
const answers = new Map<number, Owned>();
let attempts = 0;
const retriesByReason = new Map<string, number>();

async function sendUntilOwned(index: number): Promise<void> {
	const key = `drill-${index}`;
	const body = JSON.stringify({
		email: emailOf(index),
		name: `Drill Lead ${index}`,
		address: { zip: '66123', street: 'Hauptstrasse 1' },
		house: { is_owner: true },
	});
	for (;;) {
		attempts++;
		const timestamp = String(Math.floor(Date.now() / 1000));
		const why = await fetch(`${processorUrl}/webhook/lead`, {
			method: 'POST',
			headers: {
				'content-type': 'application/json',
				'webhook-id': key,
				'webhook-timestamp': timestamp,
				'webhook-signature': signV2(signingKey, key, timestamp, Buffer.from(body)),
				...(ON_STORE ? { prefer: 'respond-async' } : {}),
			},
			body,
			signal: AbortSignal.timeout(10_000),
		}).then(
			async (response) => {
				const answer = (await response.json()) as {
					status?: string;
					dlq_id?: number;
					code?: string;
				};
				if (response.status === 202 && answer.status === 'accepted') {
					answers.set(index, 'queued');
					return null;
				}
				if (
					response.status === 200 &&
					(answer.status === 'accepted' || answer.status === 'duplicate')
				) {
					answers.set(index, answer.status);
					return null;
				}
				if (response.status === 500 && answer.dlq_id) {
					answers.set(index, 'in_dlq');
					return null;
				}
				return `${response.status} ${answer.code ?? answer.status}`;
			},
			(error: Error) => (error.name === 'TimeoutError' ? 'timeout' : 'connection failed'),
		);
		if (why === null) return;
		retriesByReason.set(why, (retriesByReason.get(why) ?? 0) + 1);
		await pause(why.startsWith('409') ? 500 : 100);
	}
}

// --- the run ------------------------------------------------------------------------------
let processor = await startProcessor();
let stopDriving = false;
const retryDue = () =>
	fetch(`${processorUrl}/internal/dlq/retry-due`, {
		method: 'POST',
		headers: { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' },
		body: '{}',
		signal: AbortSignal.timeout(10_000),
	}).then(
		(response) =>
			response.ok ? (response.json() as Promise<{ recovered: number; resolved: number }>) : null,
		() => null,
	);
// n8n's DLQ workflow runs retry-due every minute; here every second, so the drill ends soon
const driver = (async () => {
	while (!stopDriving && !ON_STORE) {
		await retryDue();
		await pause(1000);
	}
})();

log(
	`sending ${LEADS} leads at concurrency ${CONCURRENCY}${ON_STORE ? ', answered on store' : ''}, killing the processor ${KILLS} times ...`,
);
const started = Date.now();
let next = 0;
const killAt = Array.from({ length: KILLS }, (_, index) =>
	Math.floor((LEADS * (index + 1)) / (KILLS + 1)),
);
const clients = Array.from({ length: CONCURRENCY }, async () => {
	while (next < LEADS) {
		const index = next++;
		if (killAt.includes(index)) {
			log(`  lead ${index}: kill -9 the processor and start it again`);
			await kill(processor, 'SIGKILL');
			processor = await startProcessor();
		}
		await sendUntilOwned(index);
	}
});
await Promise.all(clients);
const sendSeconds = (Date.now() - started) / 1000;
log(
	`every client has an answer after ${sendSeconds.toFixed(1)} s; waiting for every lead to settle ...`,
);

const settleStarted = Date.now();
for (;;) {
	const [row] = await sql<{ unsettled: string }[]>`
		SELECT count(*) AS unsettled FROM runs r
		WHERE r.status IN ('accepted', 'queued')
			OR (r.status = 'failed' AND EXISTS (SELECT 1 FROM dlq d WHERE d.run_id = r.run_id AND d.status IN ('open', 'retrying')))`;
	if (Number(row!.unsettled) === 0 || Date.now() - settleStarted > 120_000) break;
	await pause(500);
}
stopDriving = true;
await driver;

// --- the count ----------------------------------------------------------------------------
const crmLeads = ((await (await fetch(`${crm.url}/leads`)).json()) as { leads: CrmLead[] }).leads;
const recordsByEmail = new Map<string, number>();
const resentByEmail = new Map<string, number>();
for (const lead of crmLeads) {
	const email = String(lead.payload.customer_email);
	recordsByEmail.set(email, (recordsByEmail.get(email) ?? 0) + 1);
	if (lead.upserts > 1) resentByEmail.set(email, lead.upserts);
}
// the processor's derived ACCEPTED_LEASE_SECONDS (DB_QUERY_TIMEOUT_MS at its default, 1.5 s)
const leaseCutoffSeconds = Math.ceil(
	Math.max(3 * CRM_TIMEOUT_MS, CRM_TIMEOUT_MS + 4 * 1500) / 1000,
);
const [db] = await sql<{ stuck: string; dead: string; waiting: string; recovered: string }[]>`
	SELECT
		(SELECT count(*) FROM runs WHERE status = 'queued'
			OR (status = 'accepted' AND received_at < now() - make_interval(secs => ${leaseCutoffSeconds})
				AND (lease_until IS NULL OR lease_until < now()))) AS stuck,
		(SELECT count(*) FROM dlq WHERE run_id IS NOT NULL AND status = 'dead') AS dead,
		(SELECT count(*) FROM dlq WHERE run_id IS NOT NULL AND status IN ('open', 'retrying')) AS waiting,
		(SELECT count(*) FROM audit_events WHERE event_type = 'run_recovered') AS recovered`;
const ledger = (await (
	await fetch(
		`${processorUrl}/internal/stats/ledger?from=${new Date(started - 60_000).toISOString()}`,
		{
			headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
		},
	)
).json()) as Record<string, number | boolean>;

const acknowledged = answers.size;
let inCrmOnce = 0;
let twice = 0;
let lost = 0;
for (let index = 0; index < LEADS; index++) {
	const records = recordsByEmail.get(emailOf(index)) ?? 0;
	if (records === 1) inCrmOnce++;
	if (records > 1) twice++;
	if (answers.has(index) && records === 0) lost++;
}
const rows: [string, string | number][] = [
	['leads sent', LEADS],
	['acknowledged (accepted, queued, duplicate or in the DLQ)', acknowledged],
	['answered 202 on store', [...answers.values()].filter((owned) => owned === 'queued').length],
	['in CRM once', inCrmOnce],
	['in CRM twice (two records for one lead)', twice],
	['stuck (queued, or accepted past the lease)', Number(db!.stuck)],
	['dead DLQ items', Number(db!.dead)],
	['still waiting in the DLQ', Number(db!.waiting)],
	['lost (acknowledged, not in the CRM)', lost],
	['re-sent to the same CRM record (upsert by key)', resentByEmail.size],
	['runs recovered after a kill', Number(db!.recovered)],
	['client attempts', attempts],
	['ledger balances', String(ledger.balanced)],
];
console.log(
	`\nDrill${ON_STORE ? ' (answer on store)' : ''}: ${LEADS} leads, concurrency ${CONCURRENCY}, ${KILLS} × kill -9, sent in ${sendSeconds.toFixed(1)} s\n`,
);
console.log('| measure | count |\n| --- | ---: |');
for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
console.log(`\nClient retries by reason: ${JSON.stringify(Object.fromEntries(retriesByReason))}`);
console.log(`Ledger: ${JSON.stringify(ledger)}`);

const passed =
	acknowledged === LEADS &&
	inCrmOnce === LEADS &&
	twice === 0 &&
	lost === 0 &&
	Number(db!.stuck) === 0 &&
	ledger.balanced === true;
console.log(
	passed
		? '\nPASS: nothing lost, nothing delivered twice, nothing stuck.'
		: '\nFAIL: see the table above.',
);

await kill(processor, 'SIGTERM');
await sql.end();
await crm.close();
await dropDatabase(serverUrl, databaseName);
if (postgresChild) await kill(postgresChild, 'SIGTERM');
await rm(dataDir, { recursive: true, force: true });
process.exit(passed ? 0 : 1);
