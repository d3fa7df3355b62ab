import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { OUTCOMES } from '../../nodes/LeadIntake/outcome';
import { OUTPUTS } from '../../nodes/LeadIntake/v2/actions/versionDescription';
import { signV2 } from '../../nodes/LeadIntake/signature';
import { OUTCOME_EVENTS } from '../../nodes/LeadOutcomeTrigger/events';
import { signEvent } from '../../nodes/LeadOutcomeTrigger/verify';
import {
	runWorkflow,
	startWebhookServer,
	workflowFile,
	type WebhookServer,
} from './support/engine';
import { startHttpStub, type HttpStub, type StubAnswer } from './support/http-stub';

/*
 * The workflow files wire the Lead Intake node by output index; these tests read each index as its
 * output name (from OUTCOMES / OUTPUTS), so a reordered list cannot silently rewire a workflow, and
 * then run the files' own nodes on n8n's engine.
 */

interface WorkflowNode {
	name: string;
	type: string;
	typeVersion: number;
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string; name: string }>;
}
interface Workflow {
	nodes: WorkflowNode[];
	connections: Record<string, { main: { node: string }[][] }>;
}

const dir = join(__dirname, '..', '..', 'workflows');
const workflows = Object.fromEntries(
	readdirSync(dir)
		.filter((file) => file.endsWith('.json'))
		.map((file) => [file, JSON.parse(readFileSync(join(dir, file), 'utf8')) as Workflow]),
);

/** Output name -> the nodes it feeds. */
function wiring(workflow: Workflow, nodeName: string, names: string[]): Record<string, string[]> {
	const outputs = workflow.connections[nodeName]?.main ?? [];
	expect(outputs.length).toBeLessThanOrEqual(names.length);
	return Object.fromEntries(
		names.map((name, index) => [name, (outputs[index] ?? []).map((target) => target.node)]),
	);
}

const outputNames = (operation: keyof typeof OUTPUTS) =>
	OUTPUTS[operation].map((output) => output.displayName!);

test('lead intake: the source trigger feeds Lead Intake, which answers; each outcome goes where its name says', () => {
	const workflow = workflows['lead-intake.json']!;
	const trigger = workflow.nodes.find((node) => node.type.endsWith('.leadSourceTrigger'))!;
	expect(trigger.parameters.path).toBe('lead-intake');
	expect(trigger.credentials).toEqual({
		leadSourceApi: { id: 'lihSourceDev0001', name: 'Lead source: development' },
	});
	expect(workflow.connections[trigger.name]!.main).toEqual([
		[expect.objectContaining({ node: 'Lead Intake' })],
	]);
	// Lead Intake answers the source itself: no Respond to Webhook node, no expression on the hot path
	expect(workflow.nodes.map((node) => node.type)).not.toContain('n8n-nodes-base.respondToWebhook');
	const leadIntake = workflow.nodes.find((node) => node.name === 'Lead Intake')!;
	expect(leadIntake.typeVersion).toBeGreaterThanOrEqual(2.2);
	expect(leadIntake.parameters.respondToSource ?? true).toBe(true);
	// the source is answered once the lead is stored; the lead-outcomes workflow hears the rest
	expect(leadIntake.parameters.answerWhen).toBe('stored');
	expect(JSON.stringify(workflow.nodes)).not.toContain('"=');
	expect(
		wiring(
			workflow,
			'Lead Intake',
			OUTCOMES.map((outcome) => outcome.displayName),
		),
	).toEqual({
		Accepted: [],
		Duplicate: [],
		Rejected: ['Alert: rejected'],
		Failed: ['Alert: failed'],
	});
	const alerts = workflow.nodes.filter((node) => node.name.startsWith('Alert: '));
	// the processor writes the alert files: one folder whichever n8n process runs the execution
	expect(alerts.map((node) => [node.name, node.parameters.targets])).toEqual([
		['Alert: rejected', ['processor']],
		['Alert: failed', ['processor', 'jiraAlert']],
	]);
	for (const alert of alerts) expect(workflow.connections[alert.name]).toBeUndefined();
});

test('lead outcomes: failed opens an alert (processor and Jira), dead goes to Jira, resolved to the Jira log; the others are not picked', () => {
	const workflow = workflows['lead-outcomes.json']!;
	const trigger = workflow.nodes.find((node) => node.type.endsWith('.leadOutcomeTrigger'))!;
	expect(trigger.parameters).toEqual({
		path: 'lead-outcomes',
		events: ['lead.failed', 'lead.dead', 'lead.resolved'],
	});
	expect(trigger.credentials).toEqual({
		leadIntakeEventsApi: { id: 'lihEventsApi0001', name: 'Lead Intake Events' },
	});
	// the processor sends only these (EVENTS_TYPES), as the local stack and compose set it
	const picked = (trigger.parameters.events as string[]).join(',');
	const root = join(__dirname, '..', '..');
	expect(readFileSync(join(root, 'docker-compose.yml'), 'utf8')).toContain(
		`EVENTS_TYPES: \${EVENTS_TYPES:-${picked}}`,
	);
	expect(readFileSync(join(root, 'stack', 'src', 'local-stack.ts'), 'utf8')).toContain(
		`SHIPPED_EVENT_TYPES = '${picked}'`,
	);
	const targets = wiring(
		workflow,
		trigger.name,
		OUTCOME_EVENTS.map((event) => event.displayName),
	);
	expect(targets).toEqual({
		Delivered: [],
		Failed: ['Alert: failed'],
		Dead: ['Alert Jira: dead'],
		Resolved: ['Log Jira: resolved'],
		Rejected: [],
	});
	const targetsOf = (name: string) =>
		workflow.nodes.find((node) => node.name === name)!.parameters.targets;
	expect(targetsOf('Alert: failed')).toEqual(['processor', 'jiraAlert']);
	expect(targetsOf('Alert Jira: dead')).toEqual(['jiraAlert']);
	expect(targetsOf('Log Jira: resolved')).toEqual(['jiraLog']);
	expect(JSON.stringify(workflow.nodes)).not.toContain('"=');
});

test("DLQ retry: the operator's handle only; dead items are alerted by the lead-outcomes workflow", () => {
	const workflow = workflows['dlq-retry.json']!;
	const retry = workflow.nodes.find((node) => node.parameters.operation === 'retryDue')!;
	expect(wiring(workflow, retry.name, outputNames('retryDue'))).toEqual({
		Summary: [],
		'Dead Items': [],
	});
	expect(workflow.nodes.map((node) => node.name)).toEqual(['Every minute', 'Retry due DLQ items']);
});

test('the error handler still has a file written for a workflow error, by the processor', () => {
	const alert = workflows['error-handler.json']!.nodes.find((node) =>
		node.type.endsWith('.alertRouter'),
	)!;
	expect(alert.parameters.targets).toEqual(['processor', 'jiraAlert']);
});

test('no node of the shipped workflows reads $env or writes files', () => {
	for (const workflow of Object.values(workflows)) {
		expect(JSON.stringify(workflow.nodes)).not.toContain('$env');
		for (const node of workflow.nodes.filter((node) => node.type.endsWith('.alertRouter'))) {
			expect([node.name, node.parameters.targets]).not.toEqual([
				node.name,
				expect.arrayContaining(['file']),
			]);
		}
	}
});

test('every node of ours in the workflow files is at the newest version, credentials by id', () => {
	const newest: Record<string, number> = {
		'n8n-nodes-lead-intake.leadSourceTrigger': 1.2,
		'n8n-nodes-lead-intake.leadIntake': 2.2,
		'n8n-nodes-lead-intake.leadOutcomeTrigger': 1.1,
		'n8n-nodes-lead-intake.alertRouter': 3,
	};
	for (const workflow of Object.values(workflows)) {
		for (const node of workflow.nodes) {
			if (node.type in newest)
				expect([node.name, node.typeVersion]).toEqual([node.name, newest[node.type]]);
			for (const credential of Object.values(node.credentials ?? {})) {
				expect(Object.keys(credential).sort()).toEqual(['id', 'name']);
			}
		}
	}
});

describe('the workflow files on the engine', () => {
	let processor: HttpStub;
	let jira: HttpStub;
	let leadIntake: WebhookServer;
	const sourceKey = 'dev-lead-source-key-0123456789';
	const hmacSecret = 'workflow-test-secret-0123456789';

	beforeAll(async () => {
		processor = await startHttpStub();
		jira = await startHttpStub();
		jira.answer(() => ({ status: 200, body: { ok: true } }));
		leadIntake = await startWebhookServer(workflowFile('workflows/lead-intake.json'), {
			credentials: {
				leadSourceApi: { sourceName: 'development', apiKey: sourceKey, previousApiKey: '' },
				leadIntakeProcessorApi: { baseUrl: processor.url, hmacSecret, serviceToken: 'token' },
				leadIntakeJiraConfluenceApi: { baseUrl: jira.url, apiToken: 'jira-token' },
			},
		});
	});
	afterAll(async () => {
		await Promise.all([processor.close(), jira.close(), leadIntake.close()]);
	});
	beforeEach(() => {
		processor.reset();
		jira.reset();
		jira.answer(() => ({ status: 200, body: { ok: true } }));
	});

	async function postLead(key: string, idempotencyKey: string) {
		const served = leadIntake.calls.length + 1;
		const response = await fetch(`${leadIntake.url}/webhook/lead-intake`, {
			method: 'POST',
			headers: {
				'content-type': 'application/json',
				authorization: `Bearer ${sourceKey}`,
				'idempotency-key': idempotencyKey,
			},
			body: JSON.stringify({ email: 'jane.doe@example.com', address: { zip: key } }),
		});
		const body = (await response.json()) as Record<string, unknown>;
		const call = (await leadIntake.served(served))[served - 1]!;
		expect(call.failure).toBeUndefined();
		return { status: response.status, body, execution: call.execution! };
	}

	/** The alerts handed to the processor for this run (it writes the files). */
	const alertsSent = (runId: string) =>
		processor.requests
			.filter(({ path }) => path === '/internal/alerts')
			.map(({ body }) => JSON.parse(body) as Record<string, unknown>)
			.filter((alert) => alert.run_id === runId);
	/** The stub processor: `lead` answers the intake, /internal/alerts is answered as the processor would. */
	const answerLeadsWith = (lead: StubAnswer) =>
		processor.answer((request) =>
			request.path === '/internal/alerts'
				? {
						status: 201,
						body: {
							alert_id: (JSON.parse(request.body) as Record<string, unknown>).alert_id,
							file: 'written-by-the-processor.json',
							created: true,
						},
					}
				: lead,
		);

	test('lead intake: the source gets the processor answer once the lead is stored; an accepted lead raises no alert', async () => {
		const queued = { status: 'accepted', run_status: 'queued', run_id: 1 };
		processor.answer(() => ({ status: 202, body: queued }));
		const { status, body, execution } = await postLead('66123', 'wf-lead-1');
		expect([status, body]).toEqual([202, queued]);
		const [request] = processor.requests;
		// the source's key goes on in its own space
		expect(request!.headers).toMatchObject({
			'webhook-id': 'development/wf-lead-1',
			'x-source': 'development',
			prefer: 'respond-async',
		});
		expect(request!.headers['webhook-signature']).toBe(
			signV2(
				[hmacSecret],
				'development/wf-lead-1',
				String(request!.headers['webhook-timestamp']),
				request!.body,
				'stored',
				'development',
			),
		);
		expect(execution.executed).toEqual(['Lead source: development', 'Lead Intake']);
		expect(execution.error).toBeUndefined();
	});

	test('lead intake: a rejected lead leaves an alert file, a failed one a file and a Jira alert', async () => {
		answerLeadsWith({
			status: 200,
			body: { status: 'rejected', run_id: 'wf-run-2', reasons: ['ZIP_NOT_66XXX'] },
		});
		const rejected = await postLead('10115', 'wf-lead-2');
		expect(rejected.status).toBe(200);
		expect(rejected.execution.executed).toEqual([
			'Lead source: development',
			'Lead Intake',
			'Alert: rejected',
		]);
		expect(alertsSent('wf-run-2')).toEqual([
			expect.objectContaining({ alert_id: 'rejected:wf-run-2', severity: 'info' }),
		]);
		expect(jira.requests).toHaveLength(0);

		answerLeadsWith({
			status: 500,
			body: { status: 'failed', run_id: 'wf-run-3', dlq_id: 4, reason: 'crm_http_503' },
		});
		const failed = await postLead('66123', 'wf-lead-3');
		expect([failed.status, failed.body]).toEqual([500, expect.objectContaining({ dlq_id: 4 })]);
		expect(failed.execution.executed).toEqual([
			'Lead source: development',
			'Lead Intake',
			'Alert: failed',
		]);
		const [alert] = alertsSent('wf-run-3');
		expect(alert).toMatchObject({
			alert_id: 'failed:wf-run-3',
			severity: 'high',
			reason: 'crm_http_503',
			statusCode: 500,
		});
		expect(JSON.stringify(alert)).not.toContain('jane.doe');
		expect(jira.requests.map(({ path }) => path)).toEqual(['/alert']);
	});

	test('DLQ retry: calls retry-due; a dead item raises no alert here (lead.dead does)', async () => {
		processor.answer(() => ({
			status: 200,
			body: {
				claimed: 1,
				dead: 1,
				dead_items: [{ dlq_id: 9, run_id: 'wf-run-4', status_code: 400 }],
			},
		}));
		const run = await runWorkflow(workflowFile('workflows/dlq-retry.json'), {
			mode: 'trigger',
			startAt: 'Retry due DLQ items',
			credentials: {
				leadIntakeProcessorApi: { baseUrl: processor.url, hmacSecret, serviceToken: 'token' },
			},
		});
		expect(run.error).toBeUndefined();
		expect(processor.requests[0]!.path).toBe('/internal/dlq/retry-due');
		expect(run.executed).toEqual(['Items', 'Retry due DLQ items']);
		expect(jira.requests).toEqual([]);
	});

	describe('lead outcomes', () => {
		const eventsSecret = 'workflow-events-secret-0123456789';
		let outcomes: WebhookServer;
		beforeAll(async () => {
			outcomes = await startWebhookServer(workflowFile('workflows/lead-outcomes.json'), {
				credentials: {
					leadIntakeEventsApi: { secret: eventsSecret, previousSecret: '' },
					leadIntakeProcessorApi: { baseUrl: processor.url, hmacSecret, serviceToken: 'token' },
					leadIntakeJiraConfluenceApi: { baseUrl: jira.url, apiToken: 'jira-token' },
				},
			});
		});
		afterAll(async () => {
			await outcomes.close();
		});

		async function postEvent(type: string, data: Record<string, unknown>) {
			const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data });
			const id = `evt-${type}-${String(data.run_id)}`;
			const timestamp = String(Math.floor(Date.now() / 1000));
			const served = outcomes.calls.length + 1;
			const response = await fetch(`${outcomes.url}/webhook/lead-outcomes`, {
				method: 'POST',
				headers: {
					'content-type': 'application/json',
					'webhook-id': id,
					'webhook-timestamp': timestamp,
					'webhook-signature': `v1,${signEvent(eventsSecret, id, timestamp, Buffer.from(body)).toString('base64')}`,
				},
				body,
			});
			await response.text();
			const call = (await outcomes.served(served))[served - 1]!;
			expect(call.failure).toBeUndefined();
			return { status: response.status, execution: call.execution };
		}

		test('a failed lead opens an alert (processor and Jira) as the Failed output did', async () => {
			answerLeadsWith({ status: 500, body: {} });
			const { status, execution } = await postEvent('lead.failed', {
				run_id: 31,
				source: 'development',
				dlq_id: 5,
				reason: 'crm_http_503',
				status_code: 503,
			});
			expect(status).toBe(200);
			expect(execution!.executed).toEqual(['Lead outcomes', 'Alert: failed']);
			const [alert] = alertsSent('31');
			expect(alert).toMatchObject({
				alert_id: 'evt-lead.failed-31',
				severity: 'high',
				reason: 'crm_http_503',
				outcome: 'failed',
				statusCode: 503,
				summary: expect.stringContaining('waits in the retry queue'),
			});
			expect(jira.requests.map(({ path }) => path)).toEqual(['/alert']);
		});

		test('dead goes to the Jira alert (critical), resolved to the Jira log; delivered starts nothing', async () => {
			const dead = await postEvent('lead.dead', { run_id: 32, source: 'development', dlq_id: 6 });
			expect(dead.status).toBe(200);
			expect(dead.execution!.executed).toEqual(['Lead outcomes', 'Alert Jira: dead']);
			const resolved = await postEvent('lead.resolved', { run_id: 32, source: 'development' });
			expect(resolved.execution!.executed).toEqual(['Lead outcomes', 'Log Jira: resolved']);
			const delivered = await postEvent('lead.delivered', { run_id: 33, source: 'development' });
			expect(delivered.status).toBe(200);
			expect(delivered.execution).toBeUndefined();
			expect(jira.requests.map(({ path }) => path)).toEqual(['/alert', '/log']);
			expect(JSON.parse(jira.requests[0]!.body)).toMatchObject({
				run_id: '32',
				severity: 'critical',
			});
			expect(alertsSent('32')).toEqual([]);
		});
	});

	test("KPI: yesterday's figures", async () => {
		processor.answer(() => ({ status: 200, body: { day: '2026-11-22' } }));
		const run = await runWorkflow(workflowFile('workflows/kpi-daily.json'), {
			mode: 'trigger',
			credentials: {
				leadIntakeProcessorApi: { baseUrl: processor.url, hmacSecret, serviceToken: 'token' },
			},
		});
		expect(run.error).toBeUndefined();
		expect(processor.requests.map(({ path, body }) => [path, body])).toEqual([
			['/internal/kpi/compute-daily', '{}'],
		]);
	});

	test('the error handler has the processor write a file, and sends a Jira alert, for a workflow error', async () => {
		answerLeadsWith({ status: 500, body: {} });
		const run = await runWorkflow(workflowFile('workflows/error-handler.json'), {
			mode: 'error',
			items: [
				{
					execution: {
						id: 'wf-exec-5',
						lastNodeExecuted: 'Lead Intake',
						error: { message: 'Lead Intake failed' },
					},
					workflow: { id: 'lihLeadIntake001', name: 'Lead intake' },
				},
			],
			credentials: {
				leadIntakeProcessorApi: { baseUrl: processor.url, hmacSecret, serviceToken: 'token' },
				leadIntakeJiraConfluenceApi: { baseUrl: jira.url, apiToken: 'jira-token' },
			},
		});
		expect(run.error).toBeUndefined();
		expect(alertsSent('wf-exec-5')).toEqual([
			expect.objectContaining({
				alert_id: 'wf-exec-5',
				severity: 'high',
				summary: 'The workflow “Lead intake” failed at its node “Lead Intake”: Lead Intake failed.',
			}),
		]);
		expect(JSON.parse(jira.requests[0]!.body)).toMatchObject({
			run_id: 'wf-exec-5',
			severity: 'high',
			reason: 'Lead Intake failed',
		});
	});
});
