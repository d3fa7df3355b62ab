import { readFileSync } from 'fs';
import { join } from 'path';
import type { IDataObject } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { alertFileName, buildAlert } from '../../nodes/AlertRouter/alert';
import { AlertRouter } from '../../nodes/AlertRouter/AlertRouter.node';
import { sanitize } from '../../nodes/AlertRouter/sanitize';
import { executeHarness, type ParameterValue } from './harness';

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

describe('execute()', () => {
	const rejected = {
		outcome: 'rejected',
		statusCode: 200,
		run_id: 'run-7',
		response: { status: 'rejected', run_id: 'run-7', reasons: ['ZIP_NOT_66XXX', 'NOT_OWNER'] },
		lead: seedLead,
	};

	function router(options: {
		version?: number;
		parameters?: Record<string, ParameterValue>;
		items?: IDataObject[];
		continueOnFail?: boolean;
		writes?: (path: string, flag: number | undefined) => void;
		environment?: () => unknown;
	}) {
		const harness = executeHarness({
			type: 'alertRouter',
			version: options.version ?? 2,
			parameters: { deliverTo: ['file'], ...options.parameters },
			items: options.items ?? [rejected],
			credentials: { baseUrl: 'http://jira.test/', apiToken: '' },
			continueOnFail: options.continueOnFail,
			respond: () => ({ statusCode: 200, body: { ok: true } }),
		});
		const written: { path: string; content: string; flag: number | undefined }[] = [];
		const { helpers } = harness.context;
		(helpers.resolvePath as unknown as jest.Mock).mockImplementation(async (path: string) => path);
		(
			helpers.ensureParentDirectoryWithoutFollowingSymlinks as unknown as jest.Mock
		).mockResolvedValue(undefined);
		(helpers.writeContentToFile as unknown as jest.Mock).mockImplementation(
			async (path: string, content: string, flag?: number) => {
				options.writes?.(path, flag);
				written.push({ path, content, flag });
			},
		);
		(harness.context.evaluateExpression as unknown as jest.Mock).mockImplementation(
			options.environment ?? (() => undefined),
		);
		return { ...harness, written, run: () => new AlertRouter().execute.call(harness.context) };
	}

	test('takes run id, reason and payload from the Lead Intake result and writes one new file', async () => {
		const { run, written, context } = router({ environment: () => '/srv/alerts' });
		const [[item]] = await run();
		expect(written).toHaveLength(1);
		expect(written[0]!.path).toMatch(/^\/srv\/alerts\/\d{8}T\d{6}Z_run-7\.json$/);
		expect(written[0]!.flag).toBe(0o200);
		expect(context.evaluateExpression).toHaveBeenCalledWith('{{ $env.ALERTS_DIR }}', 0);
		const alert = JSON.parse(written[0]!.content) as IDataObject;
		expect(alert).toMatchObject({
			run_id: 'run-7',
			statusCode: 200,
			reason: 'ZIP_NOT_66XXX, NOT_OWNER',
			severity: 'info',
			outcome: 'rejected',
			payload: { email: 'j***@example.com', name: 'J***', phone: '***67' },
		});
		expect(item!.json.alert_file).toBe(written[0]!.path.split('/').pop());
		expect(item!.pairedItem).toEqual({ item: 0 });
	});

	test('a name already taken moves on to -2, without checking first', async () => {
		let first = true;
		const { run, written } = router({
			parameters: { alertsDirectory: 'custom-dir/' },
			writes: () => {
				if (first) {
					first = false;
					throw Object.assign(new Error('EEXIST: file already exists'), { code: 'EEXIST' });
				}
			},
		});
		const [[item]] = await run();
		expect(written[0]!.path).toMatch(/^custom-dir\/\d{8}T\d{6}Z_run-7-2\.json$/);
		expect(item!.json.alert_file).toMatch(/_run-7-2\.json$/);
	});

	test('any other write failure is an error, or an item with Continue On Fail', async () => {
		const failing = () => {
			throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
		};
		await expect(router({ writes: failing }).run()).rejects.toThrow(NodeOperationError);
		const [[item]] = await router({ writes: failing, continueOnFail: true }).run();
		expect(item!.json.alert_error).toMatch(/Cannot write the alert file/);
		expect(item!.pairedItem).toEqual({ item: 0 });
	});

	test('without ALERTS_DIR, or with environment access blocked, the default is alerts', async () => {
		const unset = router({ environment: () => '' });
		await unset.run();
		expect(unset.written[0]!.path).toMatch(/^alerts\//);
		const blocked = router({
			environment: () => {
				throw new Error('access to env vars denied');
			},
		});
		await blocked.run();
		expect(blocked.written[0]!.path).toMatch(/^alerts\//);
	});

	test('custom run id, reason and payload; the payload is masked as well', async () => {
		const { run, written } = router({
			parameters: {
				runIdFrom: 'custom',
				customRunId: 'manual-1',
				reasonFrom: 'custom',
				customReason: 'checked by hand',
				payloadFrom: 'custom',
				customPayload: '{"full_name":"Jane Doe","zip":"66123"}',
			},
		});
		await run();
		expect(JSON.parse(written[0]!.content)).toMatchObject({
			run_id: 'manual-1',
			reason: 'checked by hand',
			payload: { full_name: 'J***', zip: '66123' },
		});
		await expect(
			router({ parameters: { payloadFrom: 'custom', customPayload: '{x' } }).run(),
		).rejects.toThrow('Custom Payload is not valid JSON');
	});

	test('a workflow error from the Error Trigger: execution id and message', async () => {
		const { run, written } = router({
			parameters: { severity: 'high' },
			items: [{ execution: { id: '42', error: { message: 'boom at jane@example.com' } } }],
		});
		await run();
		expect(JSON.parse(written[0]!.content)).toMatchObject({
			run_id: '42',
			severity: 'high',
			reason: 'boom at j***@example.com',
		});
	});

	test('a dead DLQ item goes to Jira only, masked, with the credential', async () => {
		const { run, written, calls } = router({
			parameters: { deliverTo: ['jiraAlert'] },
			items: [
				{ outcome: 'dead', statusCode: 400, run_id: 'r9', response: { reason: 'crm_http_400' } },
			],
		});
		const [[item]] = await run();
		expect(written).toHaveLength(0);
		expect(calls).toHaveLength(1);
		expect(calls[0]).toMatchObject({
			authenticated: true,
			options: { method: 'POST', url: 'http://jira.test/alert', json: true },
		});
		expect(calls[0]!.options.body).toMatchObject({
			run_id: 'r9',
			severity: 'critical',
			reason: 'crm_http_400',
		});
		expect(item!.json.jiraAlert).toEqual({ ok: true });
	});

	test('version 1 keeps its parameters (the expressions of old workflow files)', async () => {
		const { run, written, context } = router({
			version: 1,
			parameters: {
				alertsDirectory: '/old/alerts',
				runId: 'old-run',
				statusCode: '500',
				reason: 'crm_http_503',
				payload: { email: 'old@example.com' },
			},
		});
		await run();
		expect(context.evaluateExpression).not.toHaveBeenCalled();
		expect(written[0]!.path).toMatch(/^\/old\/alerts\/\d{8}T\d{6}Z_old-run\.json$/);
		expect(JSON.parse(written[0]!.content)).toMatchObject({
			statusCode: 500,
			reason: 'crm_http_503',
			payload: { email: 'o***@example.com' },
		});
	});
});
