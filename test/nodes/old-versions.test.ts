import { readdir, readFile } from 'fs/promises';
import { join } from 'path';
import type { IDataObject } from 'n8n-workflow';
import { signV1, signV2 } from '../../nodes/LeadIntake/signature';
import {
	loadedPackage,
	runWorkflow,
	startWebhookServer,
	workflowFile,
	type RunOptions,
} from './support/engine';
import { startHttpStub, type HttpStub } from './support/http-stub';

/*
 * Old workflow files keep their behaviour. test/nodes/old-workflows/ holds the workflow files as the
 * package shipped them (version-1/: Lead Intake 1 and Alert Router 1, before the Lead Source
 * Trigger; version-2/: Lead Source Trigger 1, Lead Intake 2; version-2.1/: Lead Intake 2.1, answered
 * when the CRM has the lead), byte for byte, with the parameters
 * they were saved with. Each runs on n8n's engine with today's nodes; n8n's own nodes in them
 * (Webhook, schedules, Error Trigger) are replaced by the items they emit, and Respond to Webhook
 * by a stand-in that answers nothing.
 */

let processor: HttpStub;
let jira: HttpStub;
const alertsDir = join(process.env.N8N_RESTRICT_FILE_ACCESS_TO!, 'alerts');
const hmacSecret = 'old-workflows-secret-0123456789';

beforeAll(async () => {
	processor = await startHttpStub();
	jira = await startHttpStub();
	// version 1's Alerts Directory is the expression {{ $env.ALERTS_DIR || "alerts" }}: its
	// workflows ran where n8n let expressions read the environment, as the local stack does
	process.env.N8N_BLOCK_ENV_ACCESS_IN_NODE = 'false';
	process.env.ALERTS_DIR = alertsDir;
});
afterAll(async () => {
	await Promise.all([processor.close(), jira.close()]);
});
beforeEach(() => {
	processor.reset();
	jira.reset();
	jira.answer(() => ({ status: 200, body: { ok: true } }));
});

const credentials: RunOptions['credentials'] = {
	leadSourceApi: { sourceName: 'partner', apiKey: 'old-source-key-0123456789', previousApiKey: '' },
	leadIntakeProcessorApi: {
		baseUrl: 'set in each test',
		hmacSecret,
		serviceToken: 'token',
	},
	leadIntakeJiraConfluenceApi: { baseUrl: 'set in each test', apiToken: 'jira-token' },
};
const withStubs = (): RunOptions['credentials'] => ({
	...credentials,
	leadIntakeProcessorApi: { ...credentials!.leadIntakeProcessorApi, baseUrl: processor.url },
	leadIntakeJiraConfluenceApi: { ...credentials!.leadIntakeJiraConfluenceApi, baseUrl: jira.url },
});

async function alertOf(runId: string): Promise<IDataObject> {
	const names = (await readdir(alertsDir)).filter((name) => name.endsWith(`_${runId}.json`));
	expect(names).toHaveLength(1);
	return JSON.parse(await readFile(join(alertsDir, names[0]!), 'utf8')) as IDataObject;
}

const lead = { email: 'jane.doe@example.com', name: 'Jane Doe', address: { zip: '10115' } };
/** What n8n's Webhook node (version 2) emitted in front of Lead Intake 1. */
const webhookItem = {
	headers: {
		'content-type': 'application/json',
		'x-idempotency-key': 'old-key-1',
		'x-source': 'partner',
		'x-correlation-id': 'corr-old-1',
	},
	params: {},
	query: {},
	body: lead,
};

test('the nodes of every shipped version are there: the same types and version numbers', async () => {
	const { nodeTypes } = await loadedPackage();
	const versions = (name: string) => {
		const type = nodeTypes[name]!.type;
		return 'nodeVersions' in type
			? Object.keys(type.nodeVersions).map(Number)
			: [type.description.version].flat();
	};
	expect(Object.keys(nodeTypes).sort()).toEqual([
		'alertRouter',
		'leadIntake',
		'leadOutcomeTrigger',
		'leadSourceTrigger',
	]);
	expect(versions('leadIntake')).toEqual([1, 2, 2.1, 2.2]);
	expect(versions('alertRouter')).toEqual([1, 2, 3]);
	expect(versions('leadSourceTrigger')).toEqual([1, 1.1, 1.2]);
	expect(versions('leadOutcomeTrigger')).toEqual([1, 1.1]);
});

describe('version 1 (Lead Intake 1, Alert Router 1)', () => {
	const file = (name: string) => workflowFile(`test/nodes/old-workflows/version-1/${name}.json`);

	test('lead intake: legacy signature, key, source and correlation id from the Webhook item; a rejected lead leaves an alert from the expression parameters', async () => {
		processor.answer(() => ({
			status: 200,
			body: { status: 'rejected', run_id: 'old-run-1', reasons: ['ZIP_NOT_66XXX', 'NOT_OWNER'] },
		}));
		const run = await runWorkflow(file('lead-intake'), {
			mode: 'webhook',
			items: [webhookItem],
			credentials: withStubs(),
		});
		expect(run.error).toBeUndefined();
		expect(run.executed).toEqual([
			'Items',
			'Lead Intake',
			'Alert: rejected',
			"Respond with the processor's answer",
		]);
		const [request] = processor.requests;
		const headers = request!.headers as Record<string, string>;
		expect(request!.body).toBe(JSON.stringify(lead));
		expect(headers).toMatchObject({
			'x-idempotency-key': 'old-key-1',
			'x-source': 'partner',
			'x-correlation-id': 'corr-old-1',
			'x-signature': signV1(
				hmacSecret,
				headers['x-timestamp']!,
				JSON.stringify(lead),
				'delivered',
				'partner',
			),
		});
		expect(headers).not.toHaveProperty('webhook-signature');
		// version 1 never answers the caller itself: its Respond to Webhook node did
		expect(run.responses).toEqual([]);
		expect(await alertOf('old-run-1')).toMatchObject({
			run_id: 'old-run-1',
			statusCode: 200,
			reason: 'ZIP_NOT_66XXX, NOT_OWNER',
			severity: 'info',
			payload: { email: 'j***@example.com', name: 'J***' },
		});
	});

	test('lead intake: a failed lead goes to the file and the Jira alert', async () => {
		processor.answer(() => ({
			status: 500,
			body: { status: 'failed', run_id: 'old-run-2', dlq_id: 3, reason: 'crm_http_503' },
		}));
		const run = await runWorkflow(file('lead-intake'), {
			mode: 'webhook',
			items: [{ ...webhookItem, headers: { 'content-type': 'application/json' } }],
			credentials: withStubs(),
		});
		expect(run.executed).toEqual([
			'Items',
			'Lead Intake',
			'Alert: failed',
			"Respond with the processor's answer",
		]);
		// no key header: a key made from the lead; no source header: n8n
		expect(processor.requests[0]!.headers).toMatchObject({
			'x-idempotency-key': expect.stringMatching(/^sha256-/),
			'x-source': 'n8n',
		});
		expect(await alertOf('old-run-2')).toMatchObject({
			statusCode: 500,
			reason: 'crm_http_503',
			severity: 'high',
		});
		expect(JSON.parse(jira.requests[0]!.body)).toMatchObject({ run_id: 'old-run-2' });
	});

	test('DLQ retry: dead items to a file and the Jira alert', async () => {
		processor.answer(() => ({
			status: 200,
			body: {
				claimed: 1,
				dead: 1,
				dead_items: [{ dlq_id: 5, run_id: 'old-run-3', status_code: 400 }],
			},
		}));
		const run = await runWorkflow(file('dlq-retry'), {
			mode: 'trigger',
			startAt: 'Retry due DLQ items',
			credentials: withStubs(),
		});
		expect(run.error).toBeUndefined();
		expect(processor.requests[0]).toMatchObject({
			path: '/internal/dlq/retry-due',
			body: JSON.stringify({ limit: 500 }),
		});
		expect(run.executed).toEqual(['Items', 'Retry due DLQ items', 'Alert: dead item']);
		expect(await alertOf('old-run-3')).toMatchObject({ severity: 'critical', statusCode: 400 });
		expect(jira.requests.map(({ path }) => path)).toEqual(['/alert']);
	});

	test('KPI: yesterday', async () => {
		processor.answer(() => ({ status: 200, body: { day: '2026-11-22' } }));
		const run = await runWorkflow(file('kpi-daily'), { mode: 'trigger', credentials: withStubs() });
		expect(run.error).toBeUndefined();
		expect(processor.requests.map(({ path, body }) => [path, body])).toEqual([
			['/internal/kpi/compute-daily', '{}'],
		]);
	});

	test('error handler: the execution id and error message from the expression parameters', async () => {
		const run = await runWorkflow(file('error-handler'), {
			mode: 'error',
			items: [{ execution: { id: 'old-exec-4', error: { message: 'boom at jane@example.com' } } }],
			credentials: withStubs(),
		});
		expect(run.error).toBeUndefined();
		expect(await alertOf('old-exec-4')).toMatchObject({
			severity: 'high',
			reason: 'boom at j***@example.com',
		});
		expect(jira.requests).toHaveLength(1);
	});
});

describe('version 2 (Lead Source Trigger 1, Lead Intake 2)', () => {
	const file = (name: string) => workflowFile(`test/nodes/old-workflows/version-2/${name}.json`);

	test('lead intake: the trigger takes the lead, Lead Intake 2 signs it with Standard Webhooks and leaves the answer to its Respond node', async () => {
		processor.answer(() => ({
			status: 500,
			body: { status: 'failed', run_id: 'old-run-5', dlq_id: 6, reason: 'crm_http_503' },
		}));
		const server = await startWebhookServer(file('lead-intake'), { credentials: withStubs() });
		try {
			const response = await fetch(`${server.url}/webhook/lead-intake`, {
				method: 'POST',
				headers: {
					// version 1 of the trigger also takes a +json body
					'content-type': 'application/vnd.partner+json',
					authorization: 'Bearer old-source-key-0123456789',
					'idempotency-key': 'old-key-5',
				},
				body: JSON.stringify(lead),
			});
			// the workflow's Respond to Webhook node (n8n's, not run here) answered the source
			await response.text();
			const [call] = await server.served(1);
			const execution = call!.execution!;
			expect(execution.error).toBeUndefined();
			expect(execution.executed).toEqual([
				'Lead source: development',
				'Lead Intake',
				'Alert: failed',
				"Respond with the processor's answer",
			]);
			expect(execution.responses).toEqual([]);
			const [request] = processor.requests;
			const headers = request!.headers as Record<string, string>;
			expect(headers).toMatchObject({ 'webhook-id': 'old-key-5', 'x-source': 'partner' });
			expect(headers['webhook-signature']).toBe(
				signV2(
					[hmacSecret],
					'old-key-5',
					headers['webhook-timestamp']!,
					request!.body,
					'delivered',
					'partner',
				),
			);
			expect(await alertOf('old-run-5')).toMatchObject({ reason: 'crm_http_503' });
		} finally {
			await server.close();
		}
	});

	test('DLQ retry: dead items to the Jira alert only', async () => {
		processor.answer(() => ({
			status: 200,
			body: {
				claimed: 1,
				dead: 1,
				dead_items: [{ dlq_id: 7, run_id: 'old-run-6', status_code: 400 }],
			},
		}));
		const run = await runWorkflow(file('dlq-retry'), {
			mode: 'trigger',
			startAt: 'Retry due DLQ items',
			credentials: withStubs(),
		});
		expect(run.error).toBeUndefined();
		expect(run.executed).toEqual(['Items', 'Retry due DLQ items', 'Alert Jira: dead item']);
		expect(JSON.parse(jira.requests[0]!.body)).toMatchObject({ run_id: 'old-run-6' });
		expect((await readdir(alertsDir)).filter((name) => name.includes('old-run-6'))).toEqual([]);
	});
});

describe('version 2.1 (Lead Intake 2.1: the source is answered when the CRM has the lead)', () => {
	test('lead intake: no Prefer header, signed with the secret itself; the source gets the 200 with the CRM id', async () => {
		const processed = {
			status: 'accepted',
			run_status: 'processed',
			run_id: 'old-run-7',
			crm_id: 'c-7',
		};
		processor.answer(() => ({ status: 200, body: processed }));
		const server = await startWebhookServer(
			workflowFile('test/nodes/old-workflows/version-2.1/lead-intake.json'),
			{ credentials: withStubs() },
		);
		try {
			const response = await fetch(`${server.url}/webhook/lead-intake`, {
				method: 'POST',
				headers: {
					'content-type': 'application/json',
					authorization: 'Bearer old-source-key-0123456789',
					'idempotency-key': 'old-key-7',
				},
				body: JSON.stringify(lead),
			});
			expect(response.status).toBe(200);
			expect(await response.json()).toEqual(processed);
			const [call] = await server.served(1);
			expect(call!.execution!.executed).toEqual(['Lead source: development', 'Lead Intake']);
			const [request] = processor.requests;
			const headers = request!.headers as Record<string, string>;
			expect(headers).not.toHaveProperty('prefer');
			expect(headers['webhook-signature']).toBe(
				signV2(
					[hmacSecret],
					'old-key-7',
					headers['webhook-timestamp']!,
					request!.body,
					'delivered',
					headers['x-source'],
				),
			);
		} finally {
			await server.close();
		}
	});
});
