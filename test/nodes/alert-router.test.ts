import { alertFileName, buildAlert, maskEmails } from '../../nodes/AlertRouter/alert';

const now = new Date('2026-11-23T06:15:02.345Z');

test('alert files are named <UTC yyyymmddTHHMMSSZ>_<run id>.json, with -2 for a second one', () => {
	expect(alertFileName(now, '6f1c2a9e-0000-4000-8000-000000000001')).toBe(
		'20261123T061502Z_6f1c2a9e-0000-4000-8000-000000000001.json',
	);
	expect(alertFileName(now, 'run/../x', 2)).toBe('20261123T061502Z_run____x-2.json');
	expect(alertFileName(now, '')).toBe('20261123T061502Z_alert.json');
});

test('no plain e-mail survives anywhere in an alert', () => {
	const alert = buildAlert(
		{
			runId: 'r1',
			statusCode: 200,
			reason: 'ZIP_NOT_66XXX for jane.doe@example.com',
			severity: 'auto',
			outcome: 'rejected',
			response: { status: 'rejected', note: 'contact Jane.Doe@Example.com' },
			payload: {
				email: 'jane.doe@example.com',
				contacts: ['x.y@corp.de'],
				nested: { mail: 'a@b.io' },
			},
		},
		now,
	);
	const text = JSON.stringify(alert);
	expect(text).not.toMatch(/jane\.doe@|Jane\.Doe@|x\.y@|[^*]@b\.io/);
	expect(alert.payload).toEqual({
		email: 'j***@example.com',
		contacts: ['x***@corp.de'],
		nested: { mail: 'a***@b.io' },
	});
});

test('severity and summary follow the outcome, in words a stakeholder reads', () => {
	const base = {
		runId: 'r1',
		reason: 'crm_http_503',
		severity: 'auto' as const,
		response: {},
		payload: {},
	};
	const failed = buildAlert({ ...base, statusCode: 500, outcome: 'failed' }, now);
	expect(failed).toMatchObject({
		alert: true,
		severity: 'high',
		run_id: 'r1',
		statusCode: 500,
		created_at: now.toISOString(),
	});
	expect(failed.summary).toBe(
		'Lead r1 could not be delivered to the CRM and waits for a retry: crm_http_503 (HTTP 500).',
	);
	expect(buildAlert({ ...base, statusCode: 200, outcome: 'rejected' }, now).severity).toBe('info');
	expect(buildAlert({ ...base, statusCode: 0, outcome: 'dead' }, now).severity).toBe('critical');
	expect(
		buildAlert({ ...base, statusCode: 0, outcome: null, severity: 'warning' }, now).summary,
	).toBe('Problem: crm_http_503.');
});

test('maskEmails leaves everything else alone', () => {
	expect(maskEmails({ a: 1, b: [true, null, 'no mail here'] })).toEqual({
		a: 1,
		b: [true, null, 'no mail here'],
	});
});
