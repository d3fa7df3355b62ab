import { createServer } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { ensureChromium } from '../src/chromium.js';
import { repoRoot } from '../src/repo.js';
import {
	DEVELOPMENT_SOURCE,
	ensureN8n,
	exportWorkflows,
	startLocalStack,
	workflowsDir,
	type LocalStack,
} from '../src/index.js';
import { waitFor } from '../src/wait-for.js';
import { checkEditor } from './editor-check.js';
import { standardWebhookHeaders } from './support/standard-webhooks.js';

/**
 * The product as users get it: the pinned n8n with our packed package installed, our workflow
 * files imported unchanged, the processor and mocks on a throwaway database. Beside our workflows,
 * one small workflow per operator operation (a webhook in front of a Lead Intake node), so the
 * operations are exercised through n8n too, and the shipped lead intake workflow answering when the
 * CRM has the lead (at /webhook/lead-intake-on-delivery), for the tests of that answer: the shipped
 * one answers once the lead is stored.
 */
let stack: LocalStack;
let alertsDir: string;
let opsDir: string;
let sql: postgres.Sql;
let n8nSql: postgres.Sql;

/** Operator operation -> the Lead Intake parameters its test workflow sets (expressions read the request). */
const OPERATIONS: Record<string, Record<string, unknown>> = {
	getRun: {
		resource: 'run',
		operation: 'getRun',
		lookUpBy: '={{ $json.body.lookUpBy }}',
		runId: '={{ $json.body.runId }}',
		key: '={{ $json.body.key }}',
	},
	listDlq: { resource: 'dlqItem', operation: 'listDlq', filters: { status: 'open' } },
	retryDlqItem: {
		resource: 'dlqItem',
		operation: 'retryDlqItem',
		dlqId: '={{ $json.body.dlqId }}',
	},
	resolveDlqItem: {
		resource: 'dlqItem',
		operation: 'resolveDlqItem',
		dlqId: '={{ $json.body.dlqId }}',
		note: '={{ $json.body.note }}',
	},
	replayDlq: {
		resource: 'dlqItem',
		operation: 'replayDlq',
		dryRun: true,
		replayFilters: { status: ['open', 'dead'] },
	},
	retryDue: { resource: 'dlqItem', operation: 'retryDue' },
	computeKpi: { resource: 'kpi', operation: 'computeKpi', date: '={{ $json.body.date }}' },
	getRules: { resource: 'rules', operation: 'getRules' },
	saveRules: {
		resource: 'rules',
		operation: 'saveRules',
		document: '={{ $json.body.document }}',
		note: '={{ $json.body.note }}',
	},
	erasePerson: {
		resource: 'person',
		operation: 'erasePerson',
		email: '={{ $json.body.email }}',
		phone: '={{ $json.body.phone }}',
		actor: 'e2e operator',
	},
};

/** The shipped lead intake workflow, answering the source when the CRM has the lead. */
const ON_DELIVERY_WORKFLOW_ID = 'lihE2eOnDelivery';
const ON_DELIVERY_PATH = 'lead-intake-on-delivery';
/** Every workflow whose executions handle a lead or its outcome. */
const LEAD_WORKFLOW_IDS = ['lihLeadIntake001', ON_DELIVERY_WORKFLOW_ID, 'lihLeadOutcome01'];

async function onDeliveryWorkflow() {
	const workflow = JSON.parse(await readFile(join(workflowsDir, 'lead-intake.json'), 'utf8')) as {
		nodes: { type: string; parameters: Record<string, unknown>; webhookId?: string }[];
	};
	for (const node of workflow.nodes) {
		if (node.type.endsWith('.leadIntake')) node.parameters.answerWhen = 'delivered';
		if (node.type.endsWith('.leadSourceTrigger')) {
			node.parameters.path = ON_DELIVERY_PATH;
			node.webhookId = 'e2e00000-0000-4000-8000-00000000de11';
		}
	}
	// the export test leaves workflows named e2e… aside
	return { ...workflow, id: ON_DELIVERY_WORKFLOW_ID, name: 'e2e lead intake on delivery' };
}

const opsWorkflowId = (operation: string) => `lihE2e${operation.padEnd(10, '0').slice(0, 10)}`;

/** A webhook at /webhook/e2e-<operation> in front of a Lead Intake node; errors become items. */
function operationWorkflow(operation: string, parameters: Record<string, unknown>) {
	return {
		id: opsWorkflowId(operation),
		name: `e2e ${operation}`,
		version: 1,
		active: false,
		nodes: [
			{
				id: `e2e-${operation}-call`,
				name: 'Call',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				parameters: {
					httpMethod: 'POST',
					path: `e2e-${operation}`,
					responseMode: 'lastNode',
					responseData: 'allEntries',
					options: {},
				},
				webhookId: `e2e-${operation}-webhook`,
			},
			{
				id: `e2e-${operation}-operate`,
				name: 'Operate',
				type: 'n8n-nodes-lead-intake.leadIntake',
				typeVersion: 2,
				position: [260, 0],
				parameters,
				credentials: {
					leadIntakeProcessorApi: { id: 'lihProcessorApi1', name: 'Lead Intake Processor' },
				},
				onError: 'continueRegularOutput',
			},
		],
		connections: { Call: { main: [[{ node: 'Operate', type: 'main', index: 0 }]] } },
		settings: { executionOrder: 'v1' },
		pinData: {},
	};
}

/** A Lead Outcome Trigger picking every event type, with nothing after it: every branch ends empty. */
const BARE_OUTCOMES_PATH = 'e2e-outcomes-bare';
function bareOutcomesWorkflow() {
	return {
		id: 'lihE2eOutcomeBar',
		name: 'e2e outcomes, trigger alone',
		version: 1,
		active: false,
		nodes: [
			{
				id: 'e2e-outcomes-bare',
				name: 'Outcomes',
				type: 'n8n-nodes-lead-intake.leadOutcomeTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: { path: BARE_OUTCOMES_PATH },
				webhookId: 'e2e00000-0000-4000-8000-00000000ba1e',
				credentials: {
					leadIntakeEventsApi: { id: 'lihEventsApi0001', name: 'Lead Intake Events' },
				},
			},
		],
		connections: {},
		settings: { executionOrder: 'v1' },
		pinData: {},
	};
}

const processorLines: string[] = [];

beforeAll(async () => {
	alertsDir = await mkdtemp(join(tmpdir(), 'lih-e2e-alerts-'));
	opsDir = await mkdtemp(join(tmpdir(), 'lih-e2e-ops-'));
	const workflowFiles: string[] = [];
	for (const [operation, parameters] of Object.entries(OPERATIONS)) {
		const file = join(opsDir, `${operation}.json`);
		await writeFile(file, JSON.stringify(operationWorkflow(operation, parameters)));
		workflowFiles.push(file);
	}
	const bareOutcomesFile = join(opsDir, 'outcomes-bare.json');
	await writeFile(bareOutcomesFile, JSON.stringify(bareOutcomesWorkflow()));
	workflowFiles.push(bareOutcomesFile);
	const onDeliveryFile = join(opsDir, 'on-delivery.json');
	await writeFile(onDeliveryFile, JSON.stringify(await onDeliveryWorkflow()));
	workflowFiles.push(onDeliveryFile);
	stack = await startLocalStack({
		throwaway: true,
		n8n: true,
		alertsDir,
		ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0, n8n: 0 },
		// these tests read successful executions, which n8n's production settings do not keep
		n8nExtras: { workflowFiles, env: { EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all' } },
		// several tests make failed leads of their own; consecutive CRM failures would pause CRM
		// calls (the circuit breaker, tested in processor/test) for the tests after them
		processorEnv: { CRM_BREAKER_FAILURES: '1000' },
		onLine: (service, line) => {
			if (service === 'processor') processorLines.push(line);
		},
	});
	sql = postgres(stack.databaseUrl, { onnotice: () => undefined });
	n8nSql = postgres(stack.n8nDatabaseUrl!, { onnotice: () => undefined });
	// the stack is ready once the lead intake webhook is registered; n8n registers the others'
	// as it activates each workflow
	for (const path of [
		ON_DELIVERY_PATH,
		'lead-outcomes',
		BARE_OUTCOMES_PATH,
		'e2e-getRules',
		'e2e-saveRules',
	]) {
		await waitFor(
			async () => {
				const response = await fetch(`${stack.urls.n8n}/webhook/${path}`);
				return (
					response.status === 404 &&
					(await response.text()).includes('Did you mean to make a POST request')
				);
			},
			{ what: `n8n to register the webhook /webhook/${path}`, deadlineMs: 60_000 },
		);
	}
	await sameRequestsOnly();
}, 600_000);

/**
 * These tests send one person (the same phone) under many keys and are about the n8n side: the
 * same-person check is switched off as an operator would, from the Lead Intake node (Rules: Get
 * Current, then Save with window_hours 0), and the suite goes on once the processor has it in
 * force. The last block switches it on again the same way; processor/test/same-person.test.ts
 * tests the check itself.
 */
async function sameRequestsOnly(): Promise<void> {
	await duplicateWindowFromN8n(0, 'e2e: one person under many keys');
}

/** Saves the rules in force with another duplicate window through n8n; resolves once in force. */
async function duplicateWindowFromN8n(windowHours: number, note: string): Promise<void> {
	const [current] = (await operate('getRules')) as {
		version: number;
		document: { duplicates: Record<string, unknown> };
	}[];
	const document = {
		...current!.document,
		duplicates: { ...current!.document.duplicates, window_hours: windowHours },
	};
	const [saved] = await operate('saveRules', { document, note });
	const version = current!.version + 1;
	expect(saved).toMatchObject({ version });
	await waitFor(
		() =>
			processorLines.some(
				(line) => line.includes('rules in force') && line.includes(`"rules_version":${version}`),
			),
		{ what: `the processor to have rules version ${version} in force` },
	);
}

afterAll(async () => {
	await sql?.end();
	await n8nSql?.end();
	await stack?.stop();
	await rm(alertsDir, { recursive: true, force: true });
	await rm(opsDir, { recursive: true, force: true });
}, 120_000);

const devKey = () => stack.settings.LEAD_SOURCE_API_KEY;

async function postToN8n(
	lead: unknown,
	headers: Record<string, string> = { authorization: `Bearer ${devKey()}` },
	path = 'lead-intake',
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
	const response = await fetch(`${stack.urls.n8n}/webhook/${path}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body: JSON.stringify(lead),
	});
	return {
		status: response.status,
		headers: response.headers,
		body: (await response.json()) as Record<string, unknown>,
	};
}

async function operate(
	operation: string,
	body: Record<string, unknown> = {},
): Promise<Record<string, unknown>[]> {
	const response = await fetch(`${stack.urls.n8n}/webhook/e2e-${operation}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(body),
	});
	expect(response.status).toBe(200);
	return (await response.json()) as Record<string, unknown>[];
}

/** The alert files of a run, read once every execution has ended: the source is answered first. */
async function alertFilesOf(runId: string): Promise<string[]> {
	await executionsEnded();
	return (await readdir(alertsDir)).filter((name) => name.includes(runId));
}

/** Lead Intake answers the source before the alert nodes run: wait for every execution to end. */
async function executionsEnded(): Promise<void> {
	await waitFor(
		async () => {
			const [row] = await n8nSql<{ running: number }[]>`
				SELECT count(*)::int AS running FROM execution_entity
				WHERE "workflowId" IN ${n8nSql(LEAD_WORKFLOW_IDS)} AND "stoppedAt" IS NULL`;
			return row!.running;
		},
		{ what: 'every lead intake execution to end', until: (running) => running === 0 },
	);
}

/** The alert files of a run once there are at least `count` (an outcome event writes them later). */
async function awaitAlertFiles(runId: string, count = 1): Promise<string[]> {
	return await waitFor(
		async () => (await readdir(alertsDir)).filter((name) => name.includes(runId)),
		{ what: `${count} alert file(s) of run ${runId}`, until: (files) => files.length >= count },
	);
}

/** Requests the processor's intake has answered so far (its own metrics). */
async function intakeRequests(): Promise<number> {
	const metrics = await (await fetch(`${stack.urls.processor}/metrics`)).text();
	return metrics
		.split('\n')
		.filter(
			(line) =>
				line.startsWith('lih_http_requests_total{') && line.includes('route="/webhook/lead"'),
		)
		.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function leadIntakeExecutions(): Promise<number> {
	const [row] = await n8nSql<{ count: number }[]>`
		SELECT count(*)::int AS count FROM execution_entity WHERE "workflowId" = 'lihLeadIntake001'`;
	return row!.count;
}

/** The newest lead intake execution's id (0 before the first): later ones are a test's own. */
async function lastLeadIntakeExecution(): Promise<number> {
	const [row] = await n8nSql<{ id: number }[]>`
		SELECT coalesce(max(id), 0)::int AS id FROM execution_entity WHERE "workflowId" = 'lihLeadIntake001'`;
	return row!.id;
}

/** Sets the mock CRM's faults (see the README's "Mock servers"). */
async function crmFaults(faults: Record<string, unknown>): Promise<void> {
	const response = await fetch(`${stack.urls.crm}/admin/faults`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(faults),
	});
	expect(response.status).toBe(200);
}

interface FailedRun {
	runId: string;
	dlqId: number;
	/** The run's idempotency key: the source's key in its source's space. */
	key: string;
}

/**
 * A lead sent through n8n, answered when the CRM has it, while the CRM fails once: a failed run
 * with an open DLQ item, and a 500 answer that says so.
 */
async function failedThroughN8n(key: string): Promise<FailedRun> {
	// aimed at this lead: a background retry of an earlier test's lead must not take the fault
	await crmFaults({ fail_next: 1, status: 503, key: `${DEVELOPMENT_SOURCE}/${key}` });
	const answer = await postToN8n(
		{ ...lead, email: `${key}@example.com` },
		{ authorization: `Bearer ${devKey()}`, 'idempotency-key': key },
		ON_DELIVERY_PATH,
	);
	expect(answer.status).toBe(500);
	expect(answer.body).toMatchObject({ reason: 'crm_http_503', dlq_id: expect.any(Number) });
	return {
		runId: answer.body.run_id as string,
		dlqId: answer.body.dlq_id as number,
		key: `${DEVELOPMENT_SOURCE}/${key}`,
	};
}

async function ownerCookie(): Promise<string> {
	const login = await fetch(`${stack.urls.n8n}/rest/login`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({
			emailOrLdapLoginId: stack.settings.N8N_OWNER_EMAIL,
			password: stack.settings.N8N_OWNER_PASSWORD,
		}),
	});
	expect(login.status).toBe(200);
	return login.headers
		.getSetCookie()
		.map((value) => value.split(';')[0])
		.join('; ');
}

const lead = {
	email: 'e2e.lead@example.com',
	name: 'E2E Lead',
	phone: '+49 170 1234567',
	address: { zip: '66123', street: 'Hauptstrasse 1' },
	house: { is_owner: true },
};
const PLAIN_PII = ['e2e.lead@example.com', 'E2E Lead', '170 1234567', 'Hauptstrasse'];

test('a valid lead with the source key is processed, recorded as the development source, and sent again is a duplicate', async () => {
	const runsBefore = await sql`SELECT 1 FROM runs`;
	const first = await postToN8n(lead, undefined, ON_DELIVERY_PATH);
	expect(first.status).toBe(200);
	expect(first.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
	const [run] =
		await sql`SELECT status, source FROM runs WHERE run_id = ${first.body.run_id as string}`;
	expect(run).toEqual({ status: 'processed', source: 'development' });

	const again = await postToN8n(lead, undefined, ON_DELIVERY_PATH);
	expect(again.status).toBe(200);
	expect(again.body).toEqual({
		status: 'duplicate',
		run_id: first.body.run_id,
		existing_status: 'processed',
	});
	expect(await sql`SELECT 1 FROM runs`).toHaveLength(runsBefore.length + 1);
});

describe('answered when the lead is stored (the shipped lead intake workflow)', () => {
	/** The outbox row of a run's event once the receiver acknowledged it (answered 2xx). */
	const eventSent = (runId: string, type: string) =>
		waitFor(
			async () =>
				(
					await sql<{ webhook_id: string }[]>`
						SELECT webhook_id FROM outcome_events
						WHERE run_id = ${runId} AND event_type = ${type} AND status = 'sent'`
				)[0],
			{ what: `the ${type} event of run ${runId} acknowledged by n8n`, deadlineMs: 30_000 },
		);

	test('202 at once; the lead reaches the CRM in the background; lead.delivered, which the shipped trigger does not pick, is never sent to n8n', async () => {
		const answer = await postToN8n(
			{ ...lead, email: 'on.store@example.com' },
			{ authorization: `Bearer ${devKey()}`, 'idempotency-key': 'e2e-on-store' },
		);
		expect(answer.status).toBe(202);
		expect(answer.body).toEqual({
			status: 'accepted',
			run_status: 'queued',
			run_id: expect.any(String),
		});
		const runId = answer.body.run_id as string;
		const crmLead = await waitFor(
			async () =>
				(
					(await (await fetch(`${stack.urls.crm}/leads`)).json()) as {
						leads: { key: string; upserts: number }[];
					}
				).leads.find((entry) => entry.key === `${DEVELOPMENT_SOURCE}/e2e-on-store`),
			{ what: 'the lead answered on store to reach the mock CRM', deadlineMs: 30_000 },
		);
		expect(crmLead!.upserts).toBe(1);
		await waitFor(
			async () => (await sql`SELECT status FROM runs WHERE run_id = ${runId}`)[0]?.status,
			{ what: `run ${runId} processed`, until: (status) => status === 'processed' },
		);
		// the stack's processor sends only the types the lead-outcomes trigger picks (EVENTS_TYPES)
		await waitFor(
			() => sql`
				SELECT status FROM outcome_events WHERE run_id = ${runId} AND event_type = 'lead.delivered'`,
			{ what: 'the unsent lead.delivered event dropped', until: (rows) => rows.length === 0 },
		);
	});

	test('a failing CRM: the source still gets 202; lead.failed runs the lead-outcomes workflow, which writes the alert file and the Jira alert', async () => {
		const before = await lastLeadIntakeExecution();
		await crmFaults({
			fail_next: 1,
			status: 503,
			key: `${DEVELOPMENT_SOURCE}/e2e-on-store-failing`,
		});
		const answer = await postToN8n(
			{ ...lead, email: 'on.store.failing@example.com' },
			{ authorization: `Bearer ${devKey()}`, 'idempotency-key': 'e2e-on-store-failing' },
		);
		expect(answer.status).toBe(202);
		expect(answer.body).toMatchObject({ status: 'accepted', run_status: 'queued' });
		const runId = answer.body.run_id as string;
		await eventSent(runId, 'lead.failed');
		const [file] = await awaitAlertFiles(runId);
		const text = await readFile(join(alertsDir, file!), 'utf8');
		expect(JSON.parse(text)).toMatchObject({
			alert: true,
			run_id: runId,
			severity: 'high',
			outcome: 'failed',
			reason: 'crm_http_503',
		});
		for (const plain of ['on.store.failing@example.com', ...PLAIN_PII])
			expect(text).not.toContain(plain);
		const jira = (await (await fetch(`${stack.urls.jiraConfluence}/entries`)).json()) as {
			entries: { kind: string; run_id: string }[];
		};
		expect(jira.entries).toContainEqual(expect.objectContaining({ kind: 'alert', run_id: runId }));
		const executions = await waitFor(
			() => n8nSql<{ id: number; status: string }[]>`
				SELECT id, status FROM execution_entity
				WHERE "workflowId" = 'lihLeadOutcome01' AND id > ${before} AND "stoppedAt" IS NOT NULL`,
			{ what: 'the lead-outcomes execution to end', until: (rows) => rows.length >= 1 },
		);
		expect(executions.map(({ status }) => status)).toContain('success');

		// events are sent at least once: the processor sends the same event again (same webhook-id),
		// and the workflow runs again, but no second alert file and no second Jira alert appear
		const failedAlerts = async () => {
			const names = await alertFilesOf(runId);
			const texts = await Promise.all(names.map((name) => readFile(join(alertsDir, name), 'utf8')));
			return names.filter(
				(_, index) => (JSON.parse(texts[index]!) as { outcome?: string }).outcome === 'failed',
			);
		};
		const alertsBefore = await failedAlerts();
		expect(alertsBefore).toHaveLength(1);
		const seen = Math.max(...executions.map(({ id }) => id));
		await sql`
			UPDATE outcome_events SET status = 'pending', next_attempt_at = now()
			WHERE run_id = ${runId} AND event_type = 'lead.failed'`;
		await eventSent(runId, 'lead.failed');
		await waitFor(
			() => n8nSql`
				SELECT id FROM execution_entity
				WHERE "workflowId" = 'lihLeadOutcome01' AND id > ${seen} AND "stoppedAt" IS NOT NULL`,
			{ what: 'the resent event to run the workflow again', until: (rows) => rows.length >= 1 },
		);
		const again = (await (await fetch(`${stack.urls.jiraConfluence}/entries`)).json()) as {
			entries: { kind: string; run_id: string }[];
		};
		expect(
			again.entries.filter((entry) => entry.kind === 'alert' && entry.run_id === runId),
		).toHaveLength(1);
		expect(await failedAlerts()).toEqual(alertsBefore);
	});
});

test("the Lead Outcome Trigger acknowledges an event whose branch ends empty, and a type it does not know, with 200: n8n's 500 would have the processor send them for ever", async () => {
	const send = async (type: string, id: string) => {
		const body = JSON.stringify({
			type,
			timestamp: new Date().toISOString(),
			data: { run_id: null },
		});
		const response = await fetch(`${stack.urls.n8n}/webhook/${BARE_OUTCOMES_PATH}`, {
			method: 'POST',
			headers: standardWebhookHeaders(stack.settings.EVENTS_SECRET, id, body),
			body,
		});
		return { status: response.status, text: await response.text() };
	};
	// each type on its own output; only lead.delivered's is the trigger's first
	for (const type of ['lead.failed', 'lead.rejected'])
		expect(await send(type, `e2e-bare-${type}`)).toMatchObject({ status: 200 });
	const unknown = await send('lead.archived', 'e2e-bare-unknown');
	expect(unknown.status).toBe(200);
	expect(JSON.parse(unknown.text)).toEqual({ status: 'ignored', type: 'lead.archived' });
});

test('no key: 401, a wrong key: 403; nothing reaches the processor, no execution starts, no key is stored', async () => {
	const runsBefore = await sql`SELECT 1 FROM runs`;
	const requestsBefore = await intakeRequests();
	const executionsBefore = await leadIntakeExecutions();
	const wrongKey = 'wrong-key-e2e-0123456789abcdef';

	const missing = await postToN8n(lead, {});
	expect(missing.status).toBe(401);
	expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="lead-intake"');
	expect(missing.body).toMatchObject({ code: 'api_key_missing' });
	const wrong = await postToN8n(lead, { authorization: `Bearer ${wrongKey}` });
	expect(wrong.status).toBe(403);
	expect(wrong.body).toMatchObject({ code: 'api_key_invalid' });
	const wrongHeader = await postToN8n(lead, { 'x-api-key': wrongKey });
	expect(wrongHeader.status).toBe(403);

	expect(await sql`SELECT 1 FROM runs`).toHaveLength(runsBefore.length);
	expect(await intakeRequests()).toBe(requestsBefore);
	expect(await leadIntakeExecutions()).toBe(executionsBefore);
	for (const secret of [devKey(), wrongKey]) {
		const [row] = await n8nSql<{ count: number }[]>`
			SELECT count(*)::int AS count FROM execution_data WHERE data LIKE ${`%${secret}%`}`;
		expect(row!.count).toBe(0);
	}
});

test('a lead outside the rules is rejected and leaves an alert file without plain personal data', async () => {
	const answer = await postToN8n({
		...lead,
		email: 'outside@example.com',
		address: { zip: '10115', street: 'Hauptstrasse 1' },
	});
	expect(answer.status).toBe(200);
	expect(answer.body).toMatchObject({ status: 'rejected', reasons: ['ZIP_NOT_66XXX'] });
	const runId = answer.body.run_id as string;
	const [file] = await alertFilesOf(runId);
	expect(file).toMatch(new RegExp(`^\\d{8}T\\d{6}Z_${runId}\\.json$`));
	const text = await readFile(join(alertsDir, file!), 'utf8');
	expect(JSON.parse(text)).toMatchObject({
		alert: true,
		run_id: runId,
		statusCode: 200,
		severity: 'info',
		reason: 'ZIP_NOT_66XXX',
		payload: { email: 'o***@example.com', name: 'E***', address: { street: '***' } },
	});
	for (const plain of ['outside@example.com', ...PLAIN_PII]) expect(text).not.toContain(plain);
});

test('a failed delivery lands in the DLQ, writes an alert file and reaches mock Jira', async () => {
	const { runId } = await failedThroughN8n('e2e-failing');
	const [item] = await sql`SELECT status, reason FROM dlq WHERE run_id = ${runId}`;
	expect(item).toEqual({ status: 'open', reason: 'crm_http_503' });

	// the Failed output's alert (the lead.failed event may add one of its own: the workflow
	// answering when the CRM has it does not leave that event out)
	const files = await alertFilesOf(runId);
	const texts = await Promise.all(files.map((file) => readFile(join(alertsDir, file), 'utf8')));
	expect(texts.map((text) => JSON.parse(text) as unknown)).toContainEqual(
		expect.objectContaining({
			alert: true,
			run_id: runId,
			statusCode: 500,
			severity: 'high',
			outcome: 'failed',
		}),
	);
	for (const text of texts) for (const plain of PLAIN_PII) expect(text).not.toContain(plain);
	const jira = (await (await fetch(`${stack.urls.jiraConfluence}/entries`)).json()) as {
		entries: { kind: string; run_id: string }[];
	};
	expect(jira.entries).toContainEqual(expect.objectContaining({ kind: 'alert', run_id: runId }));
});

test('a lead intake execution ends successfully whatever the outcome: accepted, duplicate, rejected, failed', async () => {
	const before = await lastLeadIntakeExecution();
	const headers = { authorization: `Bearer ${devKey()}`, 'idempotency-key': 'e2e-outcomes' };
	const outcomes = [
		await postToN8n({ ...lead, email: 'outcomes@example.com' }, headers),
		await postToN8n({ ...lead, email: 'outcomes@example.com' }, headers),
		await postToN8n({ ...lead, email: 'outcomes@example.com', address: { zip: '10115' } }),
	].map((answer) => answer.body.status);
	expect(outcomes).toEqual(['accepted', 'duplicate', 'rejected']);
	await failedThroughN8n('e2e-outcomes-failed');
	// n8n saves an execution after it has answered the webhook
	const executions = await waitFor(
		() => n8nSql<{ status: string }[]>`
			SELECT status FROM execution_entity
			WHERE "workflowId" IN ('lihLeadIntake001', ${ON_DELIVERY_WORKFLOW_ID})
			AND id > ${before} AND "stoppedAt" IS NOT NULL
			ORDER BY id`,
		{ what: "this test's 4 lead intake executions to end", until: (rows) => rows.length >= 4 },
	);
	expect(executions.map((execution) => execution.status)).toEqual([
		'success',
		'success',
		'success',
		'success',
	]);
});

test('no alert file holds a plain e-mail, name, phone or street', async () => {
	// a rejected and a failed lead of its own, so there are files to read whatever ran before
	const rejected = await postToN8n({
		...lead,
		email: 'plain.rejected@example.com',
		address: { zip: '10115' },
	});
	const failed = await failedThroughN8n('e2e-plain-failed');
	await executionsEnded();
	const files = (await readdir(alertsDir)).filter((name) => name.endsWith('.json'));
	for (const runId of [rejected.body.run_id as string, failed.runId]) {
		expect(files.filter((name) => name.includes(runId))).not.toEqual([]);
	}
	for (const file of files) {
		const text = await readFile(join(alertsDir, file), 'utf8');
		// any address left whole: every e-mail these tests send is at example.com
		const plain = [...PLAIN_PII, ...(text.match(/[a-z0-9.+-]{2,}@example\.com/gi) ?? [])];
		expect([file, plain.filter((value) => text.includes(value))]).toEqual([file, []]);
	}
});

/** What a lead source must never see in an answer: a stack trace, install paths, source files. */
const INTERNALS = /stack|node_modules|\/root\/|\/home\/|\.cache|\.(?:ts|js):\d|at [\w.]+ \(/i;

async function postRaw(
	body: string | Buffer,
	contentType: string,
): Promise<{ status: number; contentType: string | null; text: string }> {
	const response = await fetch(`${stack.urls.n8n}/webhook/lead-intake`, {
		method: 'POST',
		headers: { 'content-type': contentType, authorization: `Bearer ${devKey()}` },
		body,
	});
	return {
		status: response.status,
		contentType: response.headers.get('content-type'),
		text: await response.text(),
	};
}

describe('whatever a lead source sends, it gets a JSON error without internals', () => {
	const expectPlainJsonError = (answer: Awaited<ReturnType<typeof postRaw>>) => {
		expect(answer.contentType).toMatch(/^application\/json/);
		const body = JSON.parse(answer.text) as Record<string, unknown>;
		expect(typeof body.message === 'string' || typeof body.detail === 'string').toBe(true);
		expect(answer.text).not.toMatch(INTERNALS);
		return body;
	};

	test('malformed JSON: 422 from n8n, no stack trace', async () => {
		const answer = await postRaw('{"email": "broken@example.com", ', 'application/json');
		expect(answer.status).toBe(422);
		expect(expectPlainJsonError(answer)).toMatchObject({
			message: 'Failed to parse request body',
		});
	});

	test('JSON that n8n leaves unparsed (`application/json ; charset=utf-8`): the trigger reads it, the lead is taken', async () => {
		const spaced = { ...lead, email: 'e2e.spaced-type@example.com' };
		const answer = await postRaw(JSON.stringify(spaced), 'application/json ; charset=utf-8');
		expect(answer.status).toBe(202);
		const body = JSON.parse(answer.text) as { status: string; run_id: string };
		expect(body.status).toBe('accepted');
		const [run] = await sql`SELECT email_masked FROM runs WHERE run_id = ${body.run_id}`;
		expect(run).toEqual({ email_masked: 'e***@example.com' });
	});

	test('malformed XML: 422 from n8n, no stack trace', async () => {
		const answer = await postRaw('<lead><email>', 'application/xml');
		expect(answer.status).toBe(422);
		expectPlainJsonError(answer);
	});

	test('a wrong content type: 415 from the Lead Source Trigger; a broken multipart body: 400 from n8n', async () => {
		for (const contentType of ['text/plain', 'application/octet-stream']) {
			const answer = await postRaw('email=jane@example.com', contentType);
			expect([contentType, answer.status]).toEqual([contentType, 415]);
			expect(expectPlainJsonError(answer)).toMatchObject({ code: 'unsupported_media_type' });
		}
		// n8n parses multipart bodies itself before any node runs
		const multipart = await postRaw('email=jane@example.com', 'multipart/form-data');
		expect(multipart.status).toBe(400);
		expectPlainJsonError(multipart);
	});

	test('a body larger than n8n takes (17 MB): refused by n8n before any node runs, no stack trace', async () => {
		const executionsBefore = await leadIntakeExecutions();
		const huge = JSON.stringify({ ...lead, note: 'x'.repeat(17 * 1024 * 1024) });
		const answer = await postRaw(huge, 'application/json');
		// n8n reads the body before the trigger runs and answers its own generic 500
		expect(answer.status).toBe(500);
		expect(expectPlainJsonError(answer)).toEqual({
			code: 0,
			message: 'There was a problem executing the workflow',
		});
		expect(await leadIntakeExecutions()).toBe(executionsBefore);
	});

	test('a body larger than the processor takes (2 MB): its 413, relayed as a refused lead', async () => {
		const big = JSON.stringify({
			...lead,
			email: 'big@example.com',
			note: 'x'.repeat(2 * 1024 * 1024),
		});
		const answer = await postRaw(big, 'application/json');
		expect(answer.status).toBe(413);
		expectPlainJsonError(answer);
	});
});

describe('operator operations through n8n', () => {
	// two failed leads of the block's own; the tests that change items make theirs
	const failedRuns: FailedRun[] = [];
	beforeAll(async () => {
		failedRuns.push(await failedThroughN8n('e2e-ops-1'), await failedThroughN8n('e2e-ops-2'));
	}, 60_000);

	test('Get run by ID', async () => {
		const { runId, dlqId } = failedRuns[0]!;
		const [answer] = await operate('getRun', { lookUpBy: 'runId', runId });
		expect(answer).toMatchObject({ run: { run_id: runId, status: 'failed' } });
		expect((answer!.dlq as { dlq_id: unknown }[]).map((item) => Number(item.dlq_id))).toContain(
			dlqId,
		);
	});

	test('Get run by idempotency key', async () => {
		const { runId, key } = failedRuns[0]!;
		const [answer] = await operate('getRun', { lookUpBy: 'idempotencyKey', key });
		expect(answer).toMatchObject({ run: { run_id: runId } });
	});

	test('Get many DLQ items (open)', async () => {
		const items = await operate('listDlq');
		expect(items.map((item) => Number(item.dlq_id))).toEqual(
			expect.arrayContaining(failedRuns.map(({ dlqId }) => dlqId)),
		);
	});

	test('Replay DLQ items, dry run', async () => {
		const [answer] = await operate('replayDlq');
		expect(answer).toMatchObject({ dry_run: true });
		expect(answer!.matched).toBeGreaterThanOrEqual(2);
	});

	test('Retry one item: delivered now; Resolve another with a note', async () => {
		const toRetry = await failedThroughN8n('e2e-ops-retry');
		const toResolve = await failedThroughN8n('e2e-ops-resolve');
		const [retried] = await operate('retryDlqItem', { dlqId: toRetry.dlqId });
		expect(retried).toMatchObject({ dlq_id: toRetry.dlqId, outcome: 'resolved' });
		const [run] = await sql`SELECT status FROM runs WHERE run_id = ${toRetry.runId}`;
		expect(run).toEqual({ status: 'processed' });

		const [resolved] = await operate('resolveDlqItem', {
			dlqId: toResolve.dlqId,
			note: 'entered in the CRM by hand (e2e)',
		});
		expect(resolved).toMatchObject({ status: 'resolved' });
		const [again] = await operate('resolveDlqItem', { dlqId: toResolve.dlqId, note: 'twice' });
		expect(String(again!.error)).toMatch(/resolved/);
	});

	test('Retry due and Compute daily KPI', async () => {
		const [due] = await operate('retryDue');
		expect(due).toMatchObject({ claimed: expect.any(Number), dead: 0 });
		const today = new Date().toISOString().slice(0, 10);
		const [kpi] = await operate('computeKpi', { date: today });
		expect(JSON.stringify(kpi)).toContain(today);
	});
});

test('a repeat while the first request with that key is still delivered answers 409 request_in_progress', async () => {
	const fault = (latency: number) =>
		crmFaults({
			fail_next: 0,
			slow_next: latency > 0 ? 1 : 0,
			latency_ms: latency,
			key: `${DEVELOPMENT_SOURCE}/e2e-in-progress`,
		});
	await fault(1500);
	try {
		const headers = { authorization: `Bearer ${devKey()}`, 'idempotency-key': 'e2e-in-progress' };
		const first = postToN8n({ ...lead, email: 'slow@example.com' }, headers, ON_DELIVERY_PATH);
		// the second request starts once the first has reached the processor (its CRM call takes 1.5 s)
		await waitFor(
			async () =>
				(
					await sql`SELECT 1 FROM runs WHERE idempotency_key = ${`${DEVELOPMENT_SOURCE}/e2e-in-progress`}`
				).length > 0,
			{ what: 'the first request with the key to reach the processor', intervalMs: 10 },
		);
		const second = await postToN8n(
			{ ...lead, email: 'slow@example.com' },
			headers,
			ON_DELIVERY_PATH,
		);
		expect(second.status).toBe(409);
		expect(second.body).toMatchObject({ code: 'request_in_progress' });
		expect((await first).body).toMatchObject({ status: 'accepted' });
	} finally {
		await fault(0);
	}
});

test('the processor credential test really calls the processor: the right token passes, a wrong one fails', async () => {
	const cookie = await ownerCookie();
	const testWith = async (serviceToken: string) => {
		const response = await fetch(`${stack.urls.n8n}/rest/credentials/test`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', cookie },
			body: JSON.stringify({
				credentials: {
					id: 'lihProcessorApi1',
					name: 'Lead Intake Processor',
					type: 'leadIntakeProcessorApi',
					data: { baseUrl: stack.urls.processor, hmacSecret: 'unused-here', serviceToken },
				},
			}),
		});
		return ((await response.json()) as { data: { status: string } }).data.status;
	};
	expect(await testWith(stack.settings.SERVICE_TOKEN)).toBe('OK');
	expect(await testWith('wrong-token')).toBe('Error');
});

test('the editor shows no error marker and no [ERROR preview in any workflow or panel of our nodes', async () => {
	const chromium = await ensureChromium();
	if (chromium.path === null) {
		console.warn(`Skipping the editor check: ${chromium.reason}`);
		return;
	}
	const cookie = await ownerCookie();
	const check = await checkEditor({
		chromiumPath: chromium.path,
		baseUrl: stack.urls.n8n!,
		authCookie: cookie
			.split('; ')
			.find((part) => part.startsWith('n8n-auth='))!
			.slice('n8n-auth='.length),
		workflowIds: [
			'lihLeadIntake001',
			'lihLeadOutcome01',
			'lihDlqRetry00001',
			'lihKpiDaily00001',
			'lihErrorHandler1',
		],
		screenshotDir: join(repoRoot, '.data', 'screenshots'),
	});
	expect(check.findings).toEqual([]);
	expect(check.opened).toEqual({
		lihLeadIntake001: [
			'Lead source: development',
			'Lead Intake',
			'Alert: rejected',
			'Alert: failed',
		],
		lihLeadOutcome01: ['Lead outcomes', 'Alert: failed', 'Alert Jira: dead', 'Log Jira: resolved'],
		lihDlqRetry00001: ['Retry due DLQ items'],
		lihKpiDaily00001: ["Compute yesterday's KPI"],
		lihErrorHandler1: ['Alert: workflow error'],
	});
	// one per workflow and one per node panel
	expect(check.screenshots).toHaveLength(16);
}, 300_000);

test('exporting the workflows from n8n reproduces every workflow file unchanged', async () => {
	const target = await mkdtemp(join(tmpdir(), 'lih-e2e-export-'));
	try {
		const install = await ensureN8n(() => undefined);
		await exportWorkflows(install, stack.n8nEnv!, target, () => undefined);
		const files = (await readdir(workflowsDir)).filter((name) => name.endsWith('.json')).sort();
		// the operation workflows of this suite are exported too, under names of their own
		const exported = (await readdir(target)).filter((name) => !name.startsWith('e2e-')).sort();
		expect(exported).toEqual(files);
		for (const file of files) {
			expect(await readFile(join(target, file), 'utf8')).toBe(
				await readFile(join(workflowsDir, file), 'utf8'),
			);
		}
	} finally {
		await rm(target, { recursive: true, force: true });
	}
}, 120_000);

test('a request n8n signed, captured on its way and replayed with another key, is refused and reaches no CRM', async () => {
	// a recording proxy between n8n and the processor: what an attacker on that path would see
	const captured: { headers: Record<string, string>; body: Buffer }[] = [];
	const proxy = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const headers = Object.fromEntries(
				Object.entries(req.headers).filter(
					([name]) => name !== 'host' && name !== 'content-length',
				),
			) as Record<string, string>;
			const body = Buffer.concat(chunks);
			captured.push({ headers, body });
			void fetch(`${stack.urls.processor}${req.url}`, { method: req.method, headers, body }).then(
				async (answer) =>
					res
						.writeHead(answer.status, { 'content-type': 'application/json' })
						.end(await answer.text()),
			);
		});
	});
	await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
	const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
	const cookie = await ownerCookie();
	const pointProcessorCredentialAt = async (baseUrl: string) => {
		const response = await fetch(`${stack.urls.n8n}/rest/credentials/lihProcessorApi1`, {
			method: 'PATCH',
			headers: { 'content-type': 'application/json', cookie },
			body: JSON.stringify({
				name: 'Lead Intake Processor',
				type: 'leadIntakeProcessorApi',
				data: {
					baseUrl,
					hmacSecret: stack.settings.WEBHOOK_HMAC_SECRET.split(',')[0],
					nextHmacSecret: '',
					serviceToken: stack.settings.SERVICE_TOKEN,
				},
			}),
		});
		expect(response.status).toBe(200);
	};
	await pointProcessorCredentialAt(proxyUrl);
	try {
		const sent = await postToN8n(
			{ ...lead, email: 'captured@example.com' },
			{ authorization: `Bearer ${devKey()}`, 'idempotency-key': 'e2e-captured' },
			ON_DELIVERY_PATH,
		);
		expect(sent.body).toMatchObject({ status: 'accepted' });
	} finally {
		await pointProcessorCredentialAt(stack.urls.processor);
		proxy.close();
	}
	const original = captured.find(
		(request) => request.headers['webhook-id'] === `${DEVELOPMENT_SOURCE}/e2e-captured`,
	)!;
	expect(original.headers['webhook-signature']).toMatch(/^v1,/);
	const replay = (headers: Record<string, string>) =>
		fetch(`${stack.urls.processor}/webhook/lead`, { method: 'POST', headers, body: original.body });

	const withAnotherKey = await replay({ ...original.headers, 'webhook-id': 'e2e-replayed' });
	expect(withAnotherKey.status).toBe(401);
	expect(await withAnotherKey.json()).toMatchObject({ code: 'signature_invalid' });
	const unchanged = await replay(original.headers);
	expect(await unchanged.json()).toMatchObject({ status: 'duplicate' });
	const crm = (await (await fetch(`${stack.urls.crm}/leads`)).json()) as {
		leads: { key: string; upserts: number }[];
	};
	expect(
		crm.leads.filter((entry) => entry.key.includes('e2e-captured') || entry.key === 'e2e-replayed'),
	).toEqual([expect.objectContaining({ key: `${DEVELOPMENT_SOURCE}/e2e-captured`, upserts: 1 })]);
	expect(await sql`SELECT 1 FROM runs WHERE idempotency_key = 'e2e-replayed'`).toHaveLength(0);
});

// last: the tests above send one person under many keys
describe('the same person through n8n, with the check switched on from the Lead Intake node', () => {
	beforeAll(() => duplicateWindowFromN8n(24, 'e2e: one person, one lead'), 60_000);

	test('another key, e-mail case and phone format: answered duplicate naming the first run and the match; no second CRM record; erased from n8n afterwards', async () => {
		const person = { ...lead, email: 'Same.Person@Example.com', phone: '+49 171 2223334' };
		const first = await postToN8n(person, {
			authorization: `Bearer ${devKey()}`,
			'idempotency-key': 'e2e-same-person-1',
		});
		expect(first.status).toBe(202);
		const firstRun = first.body.run_id as string;
		const again = await postToN8n(
			{ ...person, email: ' same.person@EXAMPLE.com', phone: '0171 222 3334' },
			{ authorization: `Bearer ${devKey()}`, 'idempotency-key': 'e2e-same-person-2' },
		);
		expect(again.status).toBe(200);
		expect(again.body).toMatchObject({
			status: 'duplicate',
			duplicate_of: firstRun,
			match: 'email',
		});
		const crmLeads = async () =>
			(
				(await (await fetch(`${stack.urls.crm}/leads`)).json()) as { leads: { key: string }[] }
			).leads.filter((entry) => entry.key.startsWith(`${DEVELOPMENT_SOURCE}/e2e-same-person-`));
		await waitFor(crmLeads, {
			what: 'the first lead of the person in the mock CRM',
			until: (found) => found.length > 0,
			deadlineMs: 30_000,
		});
		expect((await crmLeads()).map((entry) => entry.key)).toEqual([
			`${DEVELOPMENT_SOURCE}/e2e-same-person-1`,
		]);

		const [erased] = await operate('erasePerson', { phone: '+491712223334' });
		expect(erased).toMatchObject({ nothing_left: false, requested_by: 'e2e operator' });
		expect([...(erased!.run_ids as string[])].sort()).toEqual(
			[firstRun, again.body.run_id as string].sort(),
		);
		const left = await sql`
			SELECT run_id FROM runs WHERE run_id IN (${firstRun}, ${again.body.run_id as string})
				AND email_hash IS NOT NULL`;
		expect(left).toEqual([]);
	});
});
