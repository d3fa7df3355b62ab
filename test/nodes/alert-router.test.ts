import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import { readdir, readFile, mkdir, writeFile } from 'fs/promises';
import type { IDataObject } from 'n8n-workflow';
import { alertFileName, buildAlert } from '../../nodes/AlertRouter/alert';
import { JIRA_TIMEOUT_MS } from '../../nodes/AlertRouter/deliver';
import { sanitize } from '../../nodes/AlertRouter/sanitize';
import { runNode, type RunOptions } from './support/engine';
import { runPastTimeout } from './support/held-request';
import { startHttpStub, type HttpStub } from './support/http-stub';

const now = new Date('2026-11-23T06:15:02.345Z');

const { vectors } = JSON.parse(
	readFileSync(join(__dirname, '..', 'contracts', 'pii-vectors.json'), 'utf8'),
) as { vectors: { name: string; input: unknown; expected: unknown }[] };

test.each(vectors.map((vector) => [vector.name, vector] as const))(
	'masks %s exactly as the processor does',
	(_name, vector) => {
		expect(sanitize(vector.input)).toEqual(vector.expected);
	},
);

test('masking is linear: long texts with many @ and no address, or one address, are cheap', () => {
	const noAddress = '@ '.repeat(100_000) + 'a'.repeat(100_000);
	const oneAddress = 'a'.repeat(200_000) + '@'.repeat(2000);
	const started = process.hrtime.bigint();
	expect(sanitize({ source: noAddress })).toEqual({ source: noAddress });
	expect(sanitize({ source: oneAddress })).toEqual({ source: 'a***@' });
	// generous bound: a quadratic scan of this input takes many seconds
	expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2000);
});

test('alert files are named <UTC yyyymmddTHHMMSSZ>_<run id>.json, with -2 for a second one', () => {
	expect(alertFileName(now, '6f1c2a9e-0000-4000-8000-000000000001')).toBe(
		'20261123T061502Z_6f1c2a9e-0000-4000-8000-000000000001.json',
	);
	expect(alertFileName(now, 'run/../x', 2)).toBe('20261123T061502Z_run____x-2.json');
	expect(alertFileName(now, '')).toBe('20261123T061502Z_alert.json');
});

const seedLead = {
	email: 'jane.doe@example.com',
	name: 'Jane Doe',
	phone: '+49 170 1234567',
	address: { zip: '66123', street: 'Hauptstrasse 1' },
};

test('no plain e-mail, name, phone or street survives anywhere in an alert', () => {
	const alert = buildAlert(
		{
			runId: 'r1',
			statusCode: 200,
			reason: 'ZIP_NOT_66XXX for jane.doe@example.com',
			severity: 'auto',
			outcome: 'rejected',
			response: { status: 'rejected', note: 'contact Jane.Doe@Example.com', name: 'Jane Doe' },
			payload: seedLead,
		},
		now,
	);
	const text = JSON.stringify(alert);
	for (const plain of ['jane.doe@', 'Jane.Doe@', 'Jane Doe', '1234567', 'Hauptstrasse']) {
		expect(text).not.toContain(plain);
	}
	expect(alert.payload).toEqual({
		email: 'j***@example.com',
		name: 'J***',
		phone: '***67',
		address: { zip: '66123', street: '***' },
	});
});

test('severity and summary follow the outcome, in words a stakeholder reads', () => {
	const base = { runId: 'r1', reason: 'crm_http_503', severity: 'auto' as const, payload: {} };
	const failed = buildAlert(
		{ ...base, statusCode: 500, outcome: 'failed', response: { dlq_id: 4 } },
		now,
	);
	expect(failed).toMatchObject({
		alert: true,
		severity: 'high',
		run_id: 'r1',
		statusCode: 500,
		created_at: now.toISOString(),
	});
	expect(failed.summary).toBe(
		'Lead r1 could not be delivered to the CRM and waits in the retry queue: crm_http_503 (HTTP 500).',
	);
	expect(
		buildAlert({ ...base, statusCode: 401, outcome: 'failed', response: {} }, now).summary,
	).toBe(
		'Lead r1 was not taken by the processor: crm_http_503 (HTTP 401). The source may send it again.',
	);
	expect(
		buildAlert({ ...base, statusCode: 200, outcome: 'rejected', response: {} }, now).severity,
	).toBe('info');
	expect(buildAlert({ ...base, statusCode: 0, outcome: 'dead', response: {} }, now).severity).toBe(
		'critical',
	);
	expect(
		buildAlert({ ...base, statusCode: 0, outcome: null, severity: 'warning', response: {} }, now)
			.summary,
	).toBe('Problem: crm_http_503.');
});

test("an outcome event's summary says what became of the lead, never quoting an unknown `by`", () => {
	const event = (outcome: string, response: object) =>
		buildAlert(
			{
				runId: 'r1',
				reason: outcome,
				severity: 'info',
				statusCode: 0,
				outcome,
				response,
				payload: {},
			},
			now,
		).summary;
	expect(event('resolved', { dlq_id: 4, by: 'retry' })).toBe(
		'Lead r1 was delivered to the CRM by a retry and left the retry queue.',
	);
	expect(event('resolved', { dlq_id: 4, by: 'operator' })).toBe(
		'Lead r1 was closed by hand by an operator and left the retry queue.',
	);
	expect(event('resolved', { dlq_id: 4, by: 'erasure' })).toBe(
		"Lead r1 left the retry queue undelivered: its person's data was erased.",
	);
	expect(event('resolved', { dlq_id: 4, by: 'superseded' })).toBe(
		'Lead r1 left the retry queue unsent: newer details of the same person had reached the CRM first.',
	);
	for (const by of ['Jane Doe', 'constructor', undefined]) {
		expect(event('resolved', { dlq_id: 4, by })).toBe('Lead r1 left the retry queue.');
	}
	expect(event('delivered', { crm_id: 'crm_1' })).toBe('Lead r1 was delivered to the CRM.');
});

describe('on the engine', () => {
	let jira: HttpStub;
	/** Where this test file's n8n may write (N8N_RESTRICT_FILE_ACCESS_TO, test/nodes/support/environment.ts). */
	const files = process.env.N8N_RESTRICT_FILE_ACCESS_TO!;
	let directoryCounter = 0;
	/** A fresh directory n8n may write to. */
	const freshDirectory = () => join(files, `alerts-${++directoryCounter}`);

	beforeAll(async () => {
		jira = await startHttpStub();
	});
	afterAll(async () => {
		await jira.close();
	});
	beforeEach(() => {
		jira.reset();
		jira.answer(() => ({ status: 200, body: { ok: true } }));
	});
	afterEach(() => {
		process.env.N8N_BLOCK_ENV_ACCESS_IN_NODE = 'true';
		delete process.env.ALERTS_DIR;
	});

	const rejected = {
		outcome: 'rejected',
		statusCode: 200,
		run_id: 'run-7',
		response: { status: 'rejected', run_id: 'run-7', reasons: ['ZIP_NOT_66XXX', 'NOT_OWNER'] },
		lead: seedLead,
	};

	async function route(
		options: {
			version?: number;
			parameters?: IDataObject;
			items?: IDataObject[];
			continueOnFail?: boolean;
		} & RunOptions = {},
	) {
		return await runNode(
			{
				type: 'alertRouter',
				typeVersion: options.version ?? 2,
				parameters: { deliverTo: ['file'], ...options.parameters },
				continueOnFail: options.continueOnFail,
			},
			{
				items: options.items ?? [rejected],
				credentials: {
					leadIntakeJiraConfluenceApi: { baseUrl: `${jira.url}/`, apiToken: 'jira-token' },
				},
			},
		);
	}

	async function alertsIn(directory: string): Promise<Record<string, IDataObject>> {
		const names = await readdir(directory);
		return Object.fromEntries(
			await Promise.all(
				names.map(
					async (name) =>
						[
							name,
							JSON.parse(await readFile(join(directory, name), 'utf8')) as IDataObject,
						] as const,
				),
			),
		);
	}

	test("takes run id, reason and payload from the Lead Intake result and writes one new file in n8n's ALERTS_DIR", async () => {
		const directory = freshDirectory();
		process.env.N8N_BLOCK_ENV_ACCESS_IN_NODE = 'false';
		process.env.ALERTS_DIR = directory;
		const run = await route();
		expect(run.error).toBeUndefined();
		const written = await alertsIn(directory);
		const [name] = Object.keys(written);
		expect(Object.keys(written)).toHaveLength(1);
		expect(name).toMatch(/^\d{8}T\d{6}Z_run-7\.json$/);
		expect(written[name!]).toMatchObject({
			run_id: 'run-7',
			statusCode: 200,
			reason: 'ZIP_NOT_66XXX, NOT_OWNER',
			severity: 'info',
			outcome: 'rejected',
			payload: { email: 'j***@example.com', name: 'J***', phone: '***67' },
		});
		const [[item]] = run.outputs('Node');
		expect(item!.json.alert_file).toBe(name);
		expect(item!.json.alert).toEqual(written[name!]);
		expect(item!.pairedItem).toEqual({ item: 0 });
		expect(jira.requests).toHaveLength(0);
	});

	test('a name already taken moves on to -2, and the first file is left as it was', async () => {
		const directory = freshDirectory();
		// the alert's name is its second: hold the clock still (n8n's timers keep running)
		jest.useFakeTimers({
			now: new Date('2026-11-23T06:15:02.345Z'),
			doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout', 'clearTimeout'],
		});
		try {
			await mkdir(directory);
			await writeFile(join(directory, '20261123T061502Z_run-7.json'), 'taken\n');
			const run = await route({ parameters: { alertsDirectory: `${directory}/` } });
			expect(run.json('Node')[0]![0]!.alert_file).toBe('20261123T061502Z_run-7-2.json');
		} finally {
			jest.useRealTimers();
		}
		expect(await readFile(join(directory, '20261123T061502Z_run-7.json'), 'utf8')).toBe('taken\n');
		expect((await readdir(directory)).sort()).toEqual([
			'20261123T061502Z_run-7-2.json',
			'20261123T061502Z_run-7.json',
		]);
	});

	test('any other write failure is an error, or an item with Continue On Fail', async () => {
		// outside the folders n8n may write to (N8N_RESTRICT_FILE_ACCESS_TO)
		const forbidden = join(dirname(files), 'forbidden');
		const failed = await route({ parameters: { alertsDirectory: forbidden } });
		expect(failed.error).toMatchObject({
			name: 'NodeOperationError',
			message: 'Access to the file is not allowed.',
		});
		const passed = await route({
			parameters: { alertsDirectory: forbidden },
			continueOnFail: true,
		});
		const [[item]] = passed.outputs('Node');
		expect(item!.json.alert_error).toBe('Access to the file is not allowed.');
		expect(await readdir(forbidden)).toEqual([]);
		expect(item!.json.outcome).toBe('rejected');
		expect(item!.pairedItem).toEqual({ item: 0 });
	});

	test("without ALERTS_DIR, or with environment access blocked (n8n's default), the directory is alerts", async () => {
		const cwd = process.cwd();
		const home = freshDirectory();
		await mkdir(home);
		process.chdir(home);
		try {
			process.env.ALERTS_DIR = join(files, 'never-read');
			const blocked = await route();
			expect(blocked.error).toBeUndefined();
			process.env.N8N_BLOCK_ENV_ACCESS_IN_NODE = 'false';
			delete process.env.ALERTS_DIR;
			const unset = await route({ items: [{ ...rejected, run_id: 'run-8' }] });
			expect(unset.error).toBeUndefined();
		} finally {
			process.chdir(cwd);
		}
		const names = Object.keys(await alertsIn(join(home, 'alerts'))).sort();
		expect(names).toEqual([
			expect.stringMatching(/_run-7\.json$/),
			expect.stringMatching(/_run-8\.json$/),
		]);
	});

	test('custom run id, reason and payload; the payload is masked as well', async () => {
		const directory = freshDirectory();
		await route({
			parameters: {
				alertsDirectory: directory,
				runIdFrom: 'custom',
				customRunId: 'manual-1',
				reasonFrom: 'custom',
				customReason: '={{ "checked by " + $json.checker }}',
				payloadFrom: 'custom',
				customPayload: '{"full_name":"Jane Doe","zip":"66123"}',
			},
			items: [{ ...rejected, checker: 'hand' }],
		});
		expect(Object.values(await alertsIn(directory))).toEqual([
			expect.objectContaining({
				run_id: 'manual-1',
				reason: 'checked by hand',
				payload: { full_name: 'J***', zip: '66123' },
			}),
		]);
		const broken = await route({
			parameters: { alertsDirectory: directory, payloadFrom: 'custom', customPayload: '{x' },
		});
		expect(broken.error!.message).toBe('Custom Payload is not valid JSON');
	});

	test('a workflow error from the Error Trigger: execution id and message', async () => {
		const directory = freshDirectory();
		await route({
			parameters: { alertsDirectory: directory, severity: 'high' },
			items: [{ execution: { id: '42', error: { message: 'boom at jane@example.com' } } }],
		});
		expect(Object.values(await alertsIn(directory))).toEqual([
			expect.objectContaining({
				run_id: '42',
				severity: 'high',
				reason: 'boom at j***@example.com',
			}),
		]);
	});

	test('a dead DLQ item goes to Jira only, masked, with the credential', async () => {
		const run = await route({
			parameters: { deliverTo: ['jiraAlert'] },
			items: [
				{
					outcome: 'dead',
					statusCode: 400,
					run_id: 'r9',
					response: { reason: 'crm_http_400', email: 'jane.doe@example.com' },
				},
			],
		});
		expect(jira.requests).toHaveLength(1);
		const [request] = jira.requests;
		expect(request).toMatchObject({
			method: 'POST',
			path: '/alert',
			headers: { authorization: 'Bearer jira-token' },
		});
		expect(JSON.parse(request!.body)).toMatchObject({
			run_id: 'r9',
			severity: 'critical',
			reason: 'crm_http_400',
			response: { email: 'j***@example.com' },
		});
		expect(request!.body).not.toContain('jane.doe');
		const [[item]] = run.outputs('Node');
		expect(item!.json.jiraAlert).toEqual({ ok: true });
		expect(item!.json.alert_file).toBeUndefined();
	});

	test('a log entry goes to /log; Jira refusing it is an API error, or an item with Continue On Fail', async () => {
		await route({ parameters: { deliverTo: ['jiraLog'] } });
		expect(jira.requests.map(({ path }) => path)).toEqual(['/log']);
		jira.answer(() => ({ status: 503, body: { detail: 'down' } }));
		const refused = await route({ parameters: { deliverTo: ['jiraAlert'] } });
		// n8n's request helper has made it a NodeApiError already, with n8n's words for the status
		expect(refused.error).toMatchObject({ name: 'NodeApiError', httpCode: '503' });
		const passed = await route({ parameters: { deliverTo: ['jiraAlert'] }, continueOnFail: true });
		expect(passed.json('Node')[0]![0]!.alert_error).toEqual(expect.any(String));
	});

	test(`a Jira/Confluence that does not answer within ${JIRA_TIMEOUT_MS / 1000} s fails the alert, not the workflow for minutes`, async () => {
		const run = await runPastTimeout(JIRA_TIMEOUT_MS, jira, () =>
			route({ parameters: { deliverTo: ['jiraAlert'] }, continueOnFail: true }),
		);
		expect(run.json('Node')[0]![0]!.alert_error).toEqual(expect.any(String));
	});

	test('a folder that does not exist yet is created', async () => {
		const directory = join(freshDirectory(), 'new');
		await mkdir(dirname(directory));
		const run = await route({ parameters: { alertsDirectory: directory } });
		expect(run.error).toBeUndefined();
		expect(await readdir(directory)).toEqual([expect.stringMatching(/_run-7\.json$/)]);
	});

	test('version 1 keeps its parameters (the expressions of old workflow files)', async () => {
		const directory = freshDirectory();
		await route({
			version: 1,
			parameters: {
				alertsDirectory: directory,
				runId: 'old-run',
				statusCode: '500',
				reason: 'crm_http_503',
				payload: { email: 'old@example.com' },
			},
		});
		expect(Object.entries(await alertsIn(directory))).toEqual([
			[
				expect.stringMatching(/^\d{8}T\d{6}Z_old-run\.json$/),
				expect.objectContaining({
					statusCode: 500,
					reason: 'crm_http_503',
					payload: { email: 'o***@example.com' },
				}),
			],
		]);
	});
});
