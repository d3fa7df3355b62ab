import { mkdir, readdir, readFile } from 'fs/promises';
import { join } from 'path';
import type { IDataObject } from 'n8n-workflow';
import { processorAlert } from '../../nodes/AlertRouter/v3/processor-alert';
import { isStorableText } from '../../processor/src/text/storable';
import { buildAlert } from '../../nodes/AlertRouter/alert';
import { runNode } from './support/engine';
import { startHttpStub, type HttpStub } from './support/http-stub';

/**
 * Alert Router version 3 (issue 24): the alert goes to the processor (the one writer of alert
 * files) and/or Jira/Confluence, each target on its own; no environment variable is read and no
 * file is written unless the node is told to, into its own folder.
 */
let processor: HttpStub;
let jira: HttpStub;
const files = process.env.N8N_RESTRICT_FILE_ACCESS_TO!;
let directoryCounter = 0;
const freshDirectory = () => join(files, `v3-alerts-${++directoryCounter}`);

beforeAll(async () => {
	processor = await startHttpStub();
	jira = await startHttpStub();
});
afterAll(async () => {
	await processor.close();
	await jira.close();
});
beforeEach(() => {
	processor.reset();
	jira.reset();
	processor.answer((request) => ({
		status: 201,
		body: {
			alert_id: (JSON.parse(request.body) as IDataObject).alert_id,
			file: '20261123T061502Z_run-7.json',
			created: true,
		},
	}));
	jira.answer(() => ({ status: 200, body: { ok: true } }));
});
afterEach(() => {
	process.env.N8N_BLOCK_ENV_ACCESS_IN_NODE = 'true';
	delete process.env.ALERTS_DIR;
});

const seedLead = {
	email: 'jane.doe@example.com',
	name: 'Jane Doe',
	phone: '+49 170 1234567',
	address: { zip: '66123', street: 'Hauptstrasse 1' },
};
const failed = {
	outcome: 'failed',
	statusCode: 500,
	run_id: 'run-7',
	response: { status: 'failed', run_id: 'run-7', reason: 'crm_http_503', dlq_id: 3 },
	lead: seedLead,
};

async function route(
	options: { parameters?: IDataObject; items?: IDataObject[]; continueOnFail?: boolean } = {},
) {
	return await runNode(
		{
			type: 'alertRouter',
			typeVersion: 3,
			parameters: { ...options.parameters },
			continueOnFail: options.continueOnFail,
		},
		{
			items: options.items ?? [failed],
			credentials: {
				leadIntakeProcessorApi: {
					baseUrl: processor.url,
					hmacSecret: 'current-secret-0123456789',
					serviceToken: 'service-token',
				},
				leadIntakeJiraConfluenceApi: { baseUrl: `${jira.url}/`, apiToken: 'jira-token' },
			},
		},
	);
}

test('by default the alert goes to the processor, masked, named <outcome>:<run id>; nothing is written by n8n', async () => {
	const cwd = process.cwd();
	const home = freshDirectory();
	await mkdir(home);
	process.chdir(home);
	let run;
	try {
		run = await route();
	} finally {
		process.chdir(cwd);
	}
	expect(run.error).toBeUndefined();
	expect(processor.requests).toHaveLength(1);
	const [request] = processor.requests;
	expect(request).toMatchObject({
		method: 'POST',
		path: '/internal/alerts',
		headers: { authorization: 'Bearer service-token', 'content-type': 'application/json' },
	});
	const body = JSON.parse(request!.body) as IDataObject;
	expect(body).toMatchObject({
		alert_id: 'failed:run-7',
		run_id: 'run-7',
		severity: 'high',
		outcome: 'failed',
		statusCode: 500,
		reason: 'crm_http_503',
		payload: { email: 'j***@example.com', name: 'J***', phone: '***67' },
	});
	expect(request!.body).not.toMatch(/jane\.doe|Jane Doe|Hauptstrasse/);
	const [[item]] = run.outputs('Node');
	expect(item!.json).toMatchObject({
		alert_id: 'failed:run-7',
		alert_file: '20261123T061502Z_run-7.json',
	});
	expect(item!.pairedItem).toEqual({ item: 0 });
	expect(jira.requests).toHaveLength(0);
	expect(await readdir(home)).toEqual([]);
});

test('leads the processor never stored (no run id) are alerts of their own: by their item, never by the correlation id their source chose', async () => {
	const unreachable = { outcome: 'failed', statusCode: 0, run_id: null, lead: seedLead };
	await route({
		items: [
			// a source that sends one correlation id with every request
			{ ...unreachable, correlation_id: 'corr-a' },
			{ ...unreachable, correlation_id: 'corr-a' },
			unreachable,
			unreachable,
		],
	});
	const ids = processor.requests.map(
		(request) => (JSON.parse(request.body) as IDataObject).alert_id as string,
	);
	expect(new Set(ids).size).toBe(4);
	for (const id of ids) expect(id).not.toContain('corr-a');
});

test("a refusal that names the run already holding the key is this lead's alert, not that run's: the run's own failure later is still written", async () => {
	const resent = {
		outcome: 'failed',
		statusCode: 409,
		run_id: 'run-1',
		response: { code: 'request_in_progress', run_id: 'run-1' },
		lead: seedLead,
	};
	const reused = {
		outcome: 'rejected',
		statusCode: 422,
		run_id: 'run-1',
		response: { code: 'idempotency_key_reused', run_id: 'run-1' },
		lead: seedLead,
	};
	const ownFailure = {
		outcome: 'failed',
		statusCode: 500,
		run_id: 'run-1',
		response: { status: 'failed', run_id: 'run-1', dlq_id: 5, reason: 'crm_http_500' },
		lead: seedLead,
	};
	await route({ items: [resent, reused, ownFailure] });
	const ids = processor.requests.map(
		(request) => (JSON.parse(request.body) as IDataObject).alert_id as string,
	);
	expect(ids[2]).toBe('failed:run-1');
	expect(ids.slice(0, 2)).not.toContain('failed:run-1');
	expect(ids.slice(0, 2)).not.toContain('rejected:run-1');
	expect(new Set(ids).size).toBe(3);
});

test("the event's id names the alert when the item is an outcome event; an Error Trigger item, the failed execution", async () => {
	await route({
		items: [
			{ ...failed, headers: { 'webhook-id': 'msg_2ZzQ' } },
			{ execution: { id: '42', error: { message: 'boom at jane@example.com' } } },
		],
	});
	const ids = processor.requests.map(
		(request) => (JSON.parse(request.body) as IDataObject).alert_id,
	);
	expect(ids).toEqual(['msg_2ZzQ', '42']);
	expect(JSON.parse(processor.requests[1]!.body)).toMatchObject({
		run_id: '42',
		reason: 'boom at j***@example.com',
	});
});

test('an outcome event sent again posts to Jira under the same Idempotency-Key (its id), so the receiver keeps one ticket', async () => {
	const event = { ...failed, headers: { 'webhook-id': 'msg_resent' } };
	const parameters = { targets: ['jiraAlert', 'jiraLog'] };
	await route({ parameters, items: [event] });
	await route({ parameters, items: [event] });
	expect(jira.requests.map(({ path }) => path)).toEqual(['/alert', '/log', '/alert', '/log']);
	for (const request of jira.requests) {
		expect(request.headers['idempotency-key']).toBe('msg_resent');
		expect(JSON.parse(request.body)).toMatchObject({ alert_id: 'msg_resent', run_id: 'run-7' });
	}
});

test('targets are independent: a processor that fails does not keep the alert from Jira (Continue On Fail: the item says which failed)', async () => {
	processor.answer(() => ({ status: 503, body: { code: 'database_unavailable', detail: 'x' } }));
	const passed = await route({
		parameters: { targets: ['processor', 'jiraAlert'] },
		continueOnFail: true,
	});
	expect(jira.requests).toHaveLength(1);
	const [[item]] = passed.outputs('Node');
	expect(Object.keys(item!.json.alert_errors as IDataObject)).toEqual(['processor']);
	expect(item!.json.jiraAlert).toEqual({ ok: true });
	expect(item!.pairedItem).toEqual({ item: 0 });

	jira.reset();
	jira.answer(() => ({ status: 200, body: { ok: true } }));
	const stopped = await route({ parameters: { targets: ['processor', 'jiraAlert'] } });
	expect(stopped.error).toMatchObject({ name: 'NodeApiError' });
	// the error stops the workflow only after every target had its turn
	expect(jira.requests).toHaveLength(1);
});

test('Jira failing does not keep the alert from the processor', async () => {
	jira.answer(() => ({ status: 500, body: {} }));
	const run = await route({
		parameters: { targets: ['jiraAlert', 'processor'] },
		continueOnFail: true,
	});
	expect(processor.requests).toHaveLength(1);
	const [[item]] = run.outputs('Node');
	expect(Object.keys(item!.json.alert_errors as IDataObject)).toEqual(['jiraAlert']);
	expect(item!.json.alert_file).toBe('20261123T061502Z_run-7.json');
});

test('writing the file from n8n is an option, into the folder set in the node: ALERTS_DIR is never read', async () => {
	const folder = freshDirectory();
	process.env.N8N_BLOCK_ENV_ACCESS_IN_NODE = 'false';
	process.env.ALERTS_DIR = join(files, 'never-read');
	const run = await route({ parameters: { targets: ['file'], alertsFolder: folder } });
	expect(run.error).toBeUndefined();
	const names = await readdir(folder);
	expect(names).toEqual([expect.stringMatching(/^\d{8}T\d{6}Z_run-7\.json$/)]);
	expect(JSON.parse(await readFile(join(folder, names[0]!), 'utf8'))).toMatchObject({
		run_id: 'run-7',
		payload: { email: 'j***@example.com' },
	});
	await expect(readdir(join(files, 'never-read'))).rejects.toMatchObject({ code: 'ENOENT' });
	expect(processor.requests).toHaveLength(0);
});

test('what the processor is sent fits its strict schema: odd ids left out, a payload too large replaced by a note', () => {
	const alert = buildAlert(
		{
			runId: 'not a run id!',
			statusCode: 200,
			reason: 'r',
			severity: 'auto',
			outcome: 'lead.failed',
			response: null,
			payload: { source: 'x'.repeat(40_000) }, // a plain key: masking does not shorten it
		},
		new Date('2026-11-23T06:15:02Z'),
	);
	const body = processorAlert(alert, 'a:b');
	expect(body).toMatchObject({ run_id: null, outcome: null, alert_id: 'a:b' });
	expect(body.payload).toEqual({ withheld: expect.stringContaining('too large') });
	expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThan(16 * 1024);
});

test('text the processor would refuse is made storable, so the alert is not lost: a cut emoji, a NUL, a lone surrogate, a __proto__ key', () => {
	const alert = buildAlert(
		{
			runId: 'run-1',
			statusCode: 422,
			// the cut at 1000 UTF-16 units falls in the middle of an emoji
			reason: `x${'😀'.repeat(600)}`,
			severity: 'auto',
			outcome: 'lead.failed',
			response: { detail: 'bad\u0000text' },
			payload: JSON.parse(
				'{"utm_source":"a\\ud800b","__proto__":{"x":1},"li\\udc00st":["\\u0000"]}',
			),
		},
		new Date('2026-11-23T06:15:02Z'),
	);
	const body = processorAlert(alert, 'lead.failed:run-1');
	const sent = JSON.stringify(body);
	const again = JSON.parse(sent) as IDataObject;
	const texts: string[] = [];
	const walk = (value: unknown): void => {
		if (typeof value === 'string') texts.push(value);
		else if (value && typeof value === 'object')
			for (const [key, item] of Object.entries(value)) {
				texts.push(key);
				walk(item);
			}
	};
	walk(again);
	// what the processor checks before it takes an alert (processor/src/text/storable.ts)
	expect(texts.filter((text) => !isStorableText(text))).toEqual([]);
	expect(Object.keys(again.payload as IDataObject)).not.toContain('__proto__');
	expect((again.reason as string).length).toBeLessThanOrEqual(1000);
	expect(again.reason as string).toMatch(/^x(😀)+$/);
	expect(again.payload).toMatchObject({ utm_source: 'a\ufffdb' });
});
