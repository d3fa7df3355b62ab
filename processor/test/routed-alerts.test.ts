import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { claimRoutedAlert, recordRoutedAlert } from '../src/db/routed-alerts.js';
import { postLead, startStack, validLead, type Stack } from './support/harness.js';

/**
 * POST /internal/alerts (issue 24): the processor is the one writer of the alert files n8n's
 * Alert Router raises, whichever n8n process ran the execution; idempotent by alert_id.
 */
let stack: Stack;

beforeAll(async () => {
	stack = await startStack({ env: { ALERTS_PASS_SECONDS: '0' } });
});
afterAll(() => stack.close());

const RUN_ID = '3f8e2f0e-0c5e-4a54-9a57-1a4c1d6f3a10';

function alert(overrides: Record<string, unknown> = {}) {
	return {
		alert_id: `failed:${RUN_ID}`,
		severity: 'high',
		summary: 'Lead was not taken by jane.doe@example.com (HTTP 500).',
		run_id: RUN_ID,
		statusCode: 500,
		reason: 'crm_http_503',
		outcome: 'failed',
		response: { status: 'failed', run_id: RUN_ID },
		payload: { email: 'jane.doe@example.com', name: 'Jane Doe', zip: '10115', nick: 'JD' },
		...overrides,
	};
}

async function readJson(name: string): Promise<Record<string, unknown>> {
	return JSON.parse(await readFile(join(stack.alertsDir, name), 'utf8')) as Record<string, unknown>;
}

test('writes the alert file in the Alert Router format, masked by the allow-list, and lists it in index.md', async () => {
	const answer = await stack.internal('POST', '/internal/alerts', alert());
	expect(answer.status).toBe(201);
	expect(answer.body).toMatchObject({ alert_id: `failed:${RUN_ID}`, created: true });
	const file = answer.body.file as string;
	expect(file).toMatch(new RegExp(`^\\d{8}T\\d{6}Z_${RUN_ID}\\.json$`));
	const content = await readJson(file);
	expect(content).toMatchObject({
		alert: true,
		alert_id: `failed:${RUN_ID}`,
		severity: 'high',
		run_id: RUN_ID,
		statusCode: 500,
		outcome: 'failed',
		payload: { email: 'j***@example.com', name: 'J***', zip: '10115', nick: '***' },
	});
	expect(JSON.stringify(content)).not.toMatch(/jane\.doe|Jane Doe/);
	const index = await readFile(join(stack.alertsDir, 'index.md'), 'utf8');
	expect(index).toContain(file);
});

test('an alert raised outside 2000-2099 is refused, as every instant an operator names', async () => {
	for (const created_at of ['1000-01-01T00:00:00Z', '2100-01-01T00:00:00Z']) {
		const answer = await stack.internal(
			'POST',
			'/internal/alerts',
			alert({ alert_id: `range:${created_at}`, created_at }),
		);
		expect(answer.status).toBe(400);
		expect(answer.body).toMatchObject({ code: 'invalid_request' });
	}
	const inRange = alert({ alert_id: 'range:ok', created_at: '2099-12-31T23:59:59Z' });
	expect((await stack.internal('POST', '/internal/alerts', inRange)).status).toBe(201);
});

test('an alert whose payload has a __proto__ key is refused, not written without it', async () => {
	const body = JSON.parse(
		JSON.stringify(alert({ alert_id: 'proto:1' })).replace(
			'"payload":{',
			'"payload":{"__proto__":{"polluted":true},',
		),
	) as Record<string, unknown>;
	const before = await readdir(stack.alertsDir);
	const answer = await stack.internal('POST', '/internal/alerts', body);
	expect(answer.status).toBe(400);
	expect(answer.body).toMatchObject({ code: 'invalid_request' });
	expect(answer.body.detail).toContain('__proto__');
	expect(await readdir(stack.alertsDir)).toEqual(before);
});

test('a repeat of the same alert_id answers the first file and writes nothing', async () => {
	const first = await stack.internal('POST', '/internal/alerts', alert({ alert_id: 'evt_1' }));
	expect(first.status).toBe(201);
	const before = await readdir(stack.alertsDir);
	const repeats = await Promise.all(
		[1, 2, 3].map(() =>
			stack.internal('POST', '/internal/alerts', alert({ alert_id: 'evt_1', summary: 'other' })),
		),
	);
	for (const repeat of repeats) {
		expect(repeat.status).toBe(200);
		expect(repeat.body).toEqual({ alert_id: 'evt_1', file: first.body.file, created: false });
	}
	expect(await readdir(stack.alertsDir)).toEqual(before);
});

test('concurrent first calls with one alert_id write one file', async () => {
	const answers = await Promise.all(
		[1, 2, 3, 4].map(() =>
			stack.internal('POST', '/internal/alerts', alert({ alert_id: 'evt_race', run_id: null })),
		),
	);
	expect(answers.filter((answer) => answer.status === 201)).toHaveLength(1);
	expect(new Set(answers.map((answer) => answer.body.file)).size).toBe(1);
	const files = (await readdir(stack.alertsDir)).filter((name) => name.includes('evt_race'));
	expect(files).toHaveLength(1);
});

test('a file written before a crash (no row yet) is found by its alert_id, not written twice', async () => {
	const first = await stack.internal('POST', '/internal/alerts', alert({ alert_id: 'evt_crash' }));
	await stack.sql`DELETE FROM routed_alerts WHERE alert_id = 'evt_crash'`;
	const again = await stack.internal('POST', '/internal/alerts', alert({ alert_id: 'evt_crash' }));
	expect(again.body).toMatchObject({ file: first.body.file, created: false });
});

test('a claim taken over after its lease ran out: the first file recorded is the alert, the late call learns it', async () => {
	const alertId = 'evt_lease_ran_out';
	expect(await claimRoutedAlert(stack.sql, alertId, 60)).toEqual({ claimed: true });
	// while the first call holds it, nobody else claims it
	expect(await claimRoutedAlert(stack.sql, alertId, 60)).toEqual({ claimed: false });
	await stack.sql`
		UPDATE routed_alerts SET claimed_until = now() - interval '1 second' WHERE alert_id = ${alertId}`;
	expect(await claimRoutedAlert(stack.sql, alertId, 60)).toEqual({ claimed: true });
	expect(await recordRoutedAlert(stack.sql, alertId, 'second.json')).toBe('second.json');
	expect(await recordRoutedAlert(stack.sql, alertId, 'first.json')).toBe('second.json');
	expect(await claimRoutedAlert(stack.sql, alertId, 60)).toEqual({ file: 'second.json' });
});

test('an alert that arrives after its person was erased keeps the incident, not the lead', async () => {
	const person = { email: 'late.alert@example.com', name: 'Lena Latealert' };
	await stack.crm.fail(1, 503);
	const failed = await postLead(stack.url, validLead(person), { key: 'late-alert-1' });
	const runId = failed.body.run_id as string;
	const erased = await stack.internal('POST', '/internal/privacy/erase', { email: person.email });
	expect(erased.body).toMatchObject({ run_ids: [runId] });
	// n8n had the lead.failed event in hand: its Alert Router raises the alert only now
	const answer = await stack.internal(
		'POST',
		'/internal/alerts',
		alert({
			alert_id: `failed:${runId}`,
			run_id: runId,
			summary: 'Lead was not delivered (HTTP 503).',
			response: { status: 'failed', run_id: runId, name: person.name },
			payload: { email: person.email, name: person.name, zip: '66123' },
		}),
	);
	expect(answer.status).toBe(201);
	const content = await readJson(answer.body.file as string);
	expect(content).toMatchObject({
		run_id: runId,
		outcome: 'failed',
		response: { erased: true },
		payload: { erased: true },
	});
	expect(JSON.stringify(content)).not.toMatch(/late\.alert|l\*\*\*@|Lena|L\*\*\*/);
});

test('a workflow error without a lead is named after its execution id', async () => {
	const answer = await stack.internal(
		'POST',
		'/internal/alerts',
		alert({ alert_id: '4711', run_id: '4711', outcome: null, payload: { message: 'boom' } }),
	);
	expect(answer.body.file).toMatch(/_4711\.json$/);
	const index = await readFile(join(stack.alertsDir, 'index.md'), 'utf8');
	expect(index).toContain('n8n execution 4711');
});

test('input is strict and bounded', async () => {
	const unknown = await stack.internal('POST', '/internal/alerts', alert({ extra: 1 }));
	expect(unknown.status).toBe(400);
	expect(unknown.body.detail).toContain('"extra"');
	const badId = await stack.internal('POST', '/internal/alerts', alert({ alert_id: 'a b' }));
	expect(badId.status).toBe(400);
	let deep: unknown = 1;
	for (let level = 0; level < 20; level++) deep = { a: deep };
	const tooDeep = await stack.internal('POST', '/internal/alerts', alert({ payload: deep }));
	expect(tooDeep.status).toBe(400);
	const tooLarge = await stack.internal(
		'POST',
		'/internal/alerts',
		alert({ payload: { note: 'x'.repeat(20_000) } }),
	);
	expect(tooLarge.status).toBe(413);
});

test('the least an alert needs: alert_id, severity and summary', async () => {
	const answer = await stack.internal('POST', '/internal/alerts', {
		alert_id: 'minimal',
		severity: 'warning',
		summary: 'Something went wrong.',
	});
	expect(answer.status).toBe(201);
	expect(await readJson(answer.body.file as string)).toMatchObject({
		alert_id: 'minimal',
		run_id: null,
		statusCode: 0,
		reason: 'unknown',
		response: null,
		payload: null,
	});
});
