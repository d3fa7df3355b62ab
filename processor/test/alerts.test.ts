import { randomUUID } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '@lead-intake-hub/stack';
import { connect } from '../src/db/connection.js';
import { settleFollowUps } from '../src/db/incidents.js';
import { alertTimestamp, createAlertFile } from '../src/incidents/alert-files.js';
import { createAlertsPass, type AlertsPass } from '../src/incidents/alerts-pass.js';
import { buildFollowUp } from '../src/incidents/follow-up.js';
import { createLogger } from '../src/logger.js';
import { postLead, startStack, validLead, type Stack } from './support/harness.js';

/**
 * Alerts people read (issue: reports people read): every DLQ item that ends gets one follow-up
 * file named after its run, and alerts/index.md says which leads still need a person. The
 * pass is run by hand here (ALERTS_PASS_SECONDS=0); the last test lets the processor's timer run it.
 */
let stack: Stack;
let pass: AlertsPass;

beforeAll(async () => {
	stack = await startStack({ env: { DLQ_JITTER_RATIO: '0', ALERTS_PASS_SECONDS: '0' } });
	pass = passOn(stack.sql);
});
afterAll(() => stack.close());
beforeEach(() => stack.crm.reset());

function passOn(sql: Stack['sql']): AlertsPass {
	return createAlertsPass({
		sql,
		alertsDir: stack.alertsDir,
		now: () => stack.clock.now,
		logger: createLogger('silent'),
	});
}

/** Signed by the processor's clock, which these tests move ahead. */
function post(body: unknown, key: string) {
	return postLead(stack.url, body, {
		key,
		timestamp: String(Math.floor(stack.clock.now.getTime() / 1000)),
	});
}

/** A lead the CRM refuses with `status`, and the alert file n8n's Alert Router writes for it. */
async function failedLead(key: string, status = 503): Promise<{ runId: string; dlqId: number }> {
	await stack.crm.fail(1, status);
	const answer = await post(validLead({ email: `${key}@example.com` }), key);
	expect(answer.status).toBe(500);
	const runId = answer.body.run_id as string;
	await openingAlert(runId, 'failed', 500, String(answer.body.reason));
	return { runId, dlqId: answer.body.dlq_id as number };
}

/** What the Alert Router writes (names masked, as the one masking rule wants). */
async function openingAlert(runId: string, outcome: string, statusCode: number, reason: string) {
	await writeFile(
		join(stack.alertsDir, `${alertTimestamp(stack.clock.now)}_${runId}.json`),
		JSON.stringify({
			alert: true,
			severity: outcome === 'rejected' ? 'info' : 'high',
			summary: `Lead ${runId}: ${outcome} (${reason}, HTTP ${statusCode}).`,
			run_id: runId,
			statusCode,
			reason,
			outcome,
			created_at: stack.clock.now.toISOString(),
			payload: { email: 'j***@example.com', name: 'J***' },
		}),
	);
}

async function filesOf(runId: string): Promise<string[]> {
	return (await readdir(stack.alertsDir)).filter((name) => name.includes(runId)).sort();
}

async function readJson(name: string): Promise<Record<string, unknown>> {
	return JSON.parse(await readFile(join(stack.alertsDir, name), 'utf8')) as Record<string, unknown>;
}

async function index(): Promise<string> {
	return readFile(join(stack.alertsDir, 'index.md'), 'utf8');
}

/** The part of index.md under the heading that starts with `title`. */
function section(text: string, title: string): string {
	const start = text.indexOf(`\n## ${title}`);
	expect(start).toBeGreaterThan(-1);
	const end = text.indexOf('\n## ', start + 1);
	return text.slice(start, end === -1 ? undefined : end);
}

async function retryDue() {
	const answer = await stack.internal('POST', '/internal/dlq/retry-due', {});
	expect(answer.status).toBe(200);
	return answer.body;
}

test('a failed lead waits for a retry on the index; the retry succeeds; a follow-up closes it', async () => {
	const { runId } = await failedLead('life-retry');
	const first = await pass.run();
	expect(first.followUps).toEqual([]);
	expect(first.indexWritten).toBe(true);
	let text = await index();
	const waiting = section(text, 'Waiting for an automatic retry');
	expect(waiting).toContain(`**Lead \`${runId}\`**`);
	expect(waiting).toMatch(
		/next attempt \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC \(in (under a minute|\d+ min)\)/,
	);
	expect(waiting).toContain('What to do: Nothing yet');
	expect(section(text, 'Needs a person')).not.toContain(runId);

	stack.clock.advance(60);
	expect(await retryDue()).toMatchObject({ resolved: 1 });
	const second = await pass.run();
	expect(second.followUps).toHaveLength(1);

	const [opening, followUp] = await filesOf(runId);
	expect(followUp).toBe(second.followUps[0]);
	expect(followUp! > opening!).toBe(true); // a later timestamp, same run id
	expect(followUp).toMatch(new RegExp(`^\\d{8}T\\d{6}Z_${runId}\\.json$`));
	expect(await readJson(followUp!)).toMatchObject({
		kind: 'follow_up',
		run_id: runId,
		ending: 'resolved',
		outcome: 'delivered_by_retry',
		needs_person: false,
		severity: 'info',
		what_to_do: 'Nothing.',
		earlier_alert_files: [opening],
	});
	expect((await readJson(followUp!)).summary).toMatch(
		new RegExp(
			`^Lead ${runId} is settled, .* after it failed: delivered to the CRM by automatic retry 1 \\(CRM id crm_\\d+\\)\\. Nothing is left to do\\.$`,
		),
	);

	text = await index();
	expect(section(text, 'Waiting for an automatic retry')).not.toContain(runId);
	const closed = section(text, 'Closed in the last 7 days');
	expect(closed).toContain(`**Lead \`${runId}\`**`);
	expect(closed).toContain(`\`${followUp}\` (follow-up)`);

	// nothing changed: no second follow-up, index.md left alone
	expect(await pass.run()).toEqual({ followUps: [], indexWritten: false });
});

test('a dead lead gets a follow-up saying what a person must do, and is listed first', async () => {
	const { runId, dlqId } = await failedLead('life-dead', 400);
	const [item] = await stack.sql`SELECT status FROM dlq WHERE dlq_id = ${dlqId}`;
	expect(item!.status).toBe('dead');

	const result = await pass.run();
	expect(result.followUps).toHaveLength(1);
	const followUp = await readJson(result.followUps[0]!);
	expect(followUp).toMatchObject({
		kind: 'follow_up',
		run_id: runId,
		ending: 'dead',
		outcome: 'dead',
		needs_person: true,
		severity: 'critical',
	});
	expect(followUp.what_to_do).toBe(
		`Correct the lead or the CRM mapping, then retry it (n8n: Lead Intake, "Retry DLQ item", DLQ ID ${dlqId}; or POST /internal/dlq/${dlqId}/retry), or close it with a note (n8n: Lead Intake, "Resolve DLQ item", DLQ ID ${dlqId}; or POST /internal/dlq/${dlqId}/resolve).`,
	);

	const text = await index();
	expect(text.indexOf('## Needs a person')).toBeLessThan(text.indexOf('## Waiting'));
	expect(text).toContain('**1 lead needs a person** (listed first).');
	const needs = section(text, 'Needs a person (1)');
	expect(needs).toContain(`**Lead \`${runId}\`**`);
	expect(needs).toMatch(/open for (under a minute|\d+ min)/);
	expect(needs).toContain(
		'What happened: The CRM refused it (crm_http_400: CRM answered HTTP 400).',
	);
	expect(needs).toContain(
		`What to do: Correct the lead or the CRM mapping, then retry it (n8n: Lead Intake, "Retry DLQ item", DLQ ID ${dlqId}; or POST /internal/dlq/${dlqId}/retry)`,
	);

	// an operator retries it once the cause is fixed: a second follow-up, and nobody is needed
	const retried = await stack.internal('POST', `/internal/dlq/${dlqId}/retry`);
	expect(retried.body).toMatchObject({ outcome: 'resolved' });
	const after = await pass.run();
	expect(after.followUps).toHaveLength(1);
	expect(await readJson(after.followUps[0]!)).toMatchObject({
		ending: 'resolved',
		outcome: 'delivered_by_operator_retry',
		needs_person: false,
	});
	expect(await filesOf(runId)).toHaveLength(3);
	const text2 = await index();
	expect(text2).toContain('**No lead needs a person.**');
	expect(section(text2, 'Closed in the last 7 days')).toContain(runId);
});

test('an operator closes an item by hand: the follow-up says so, with the note masked', async () => {
	const { runId, dlqId } = await failedLead('life-resolve');
	const note = 'Entered by hand after a call; customer wrote from jane.roe@example.org';
	const resolved = await stack.internal('POST', `/internal/dlq/${dlqId}/resolve`, { note });
	expect(resolved.status).toBe(200);

	const result = await pass.run();
	expect(result.followUps).toHaveLength(1);
	const text = await readFile(join(stack.alertsDir, result.followUps[0]!), 'utf8');
	expect(JSON.parse(text)).toMatchObject({
		run_id: runId,
		outcome: 'closed_by_operator',
		needs_person: false,
		resolution_note: 'Entered by hand after a call; customer wrote from j***@example.org',
	});
	expect(text).not.toContain('jane.roe@example.org');
	expect(section(await index(), 'Closed in the last 7 days')).toContain(
		'What happened: Closed by an operator with the note “Entered by hand after a call; customer wrote from j***@example.org”',
	);
});

test('rejected leads are listed as closed, for information; alerts without a lead record are listed too', async () => {
	const answer = await post(validLead({ address: { zip: '10115' } }), 'life-rejected');
	expect(answer.body.status).toBe('rejected');
	const runId = answer.body.run_id as string;
	await openingAlert(runId, 'rejected', 200, 'zip_not_allowed');
	const at = alertTimestamp(stack.clock.now);
	await writeFile(
		join(stack.alertsDir, `${at}_4711.json`),
		JSON.stringify({
			alert: true,
			severity: 'high',
			summary: 'Problem: Workflow "KPI daily" failed: connect ECONNREFUSED.',
			run_id: '4711',
			statusCode: 0,
			outcome: null,
		}),
	);
	await writeFile(
		join(stack.alertsDir, `${at}_alert.json`),
		JSON.stringify({
			alert: true,
			severity: 'high',
			summary: 'Problem: invalid signature (HTTP 401).',
			statusCode: 401,
		}),
	);

	const refused = await postLead(stack.url, validLead(), {
		secret: 'not-the-secret-0123456789',
		timestamp: String(Math.floor(stack.clock.now.getTime() / 1000)),
	});
	expect(refused.status).toBe(401);
	await stack.processor.flush();

	await pass.run();
	const text = await index();
	const closed = section(text, 'Closed in the last 7 days');
	expect(closed).toContain(`**Lead \`${runId}\`**`);
	expect(closed).toContain('refused by the rules');
	expect(closed).toContain('What to do: Nothing (for information)');
	const stray = section(text, 'Alerts without a lead record');
	expect(stray).toContain('**n8n execution 4711**');
	expect(stray).toContain('Problem: Workflow "KPI daily" failed: connect ECONNREFUSED.');
	expect(stray).toContain('What to do: Open execution 4711 in the n8n editor');
	expect(stray).toContain('What to do: The processor refused the signature');
	expect(stray).toContain(`File: \`${at}_alert.json\``);
	expect(stray).toMatch(
		/\*\*1 request refused for the signature\*\* in the last 24 hours \(\w+ 1\)/,
	);
});

test('two processors running the pass together write each follow-up once', async () => {
	const items = [];
	for (let index = 0; index < 6; index++) items.push(await failedLead(`replica-${index}`, 400));
	const other = connect(stack.databaseUrl, { maxConnections: 4 });
	try {
		const [a, b] = await Promise.all([pass.run(), passOn(other).run()]);
		const written = [...a.followUps, ...b.followUps];
		expect(new Set(written).size).toBe(written.length);
		expect(written).toHaveLength(6);
	} finally {
		await other.end();
	}
	for (const { runId } of items) expect(await filesOf(runId)).toHaveLength(2);
	const text = await index();
	for (const { runId } of items) expect(section(text, 'Needs a person')).toContain(runId);
	expect(await pass.run()).toEqual({ followUps: [], indexWritten: false });
});

test('a pass that dies after writing a file but before recording it: the next pass adopts the file once its claim expires', async () => {
	const { runId, dlqId } = await failedLead('crash', 400);
	let crashed: string | null = null;
	await expect(
		// a lease of 0 s: the dead pass's claim has expired by the time the next pass looks
		settleFollowUps(
			stack.sql,
			{ limit: 10, leaseSeconds: 0, token: randomUUID() },
			async (items) => {
				const item = items.find((candidate) => candidate.dlq_id === dlqId)!;
				const document = buildFollowUp(item, { writtenAt: stack.clock.now, earlierFiles: [] });
				crashed = await createAlertFile(
					stack.alertsDir,
					stack.clock.now,
					runId,
					JSON.stringify(document),
				);
				throw new Error('killed before the claim was settled');
			},
		),
	).rejects.toThrow('killed');
	expect(crashed).not.toBeNull();
	const [due] =
		await stack.sql`SELECT followup_status, followup_file FROM dlq WHERE dlq_id = ${dlqId}`;
	expect(due).toEqual({ followup_status: null, followup_file: null });

	const result = await pass.run();
	expect(result.followUps).toEqual([crashed]);
	expect((await filesOf(runId)).filter((name) => name !== crashed)).toHaveLength(1); // the opening
	const [recorded] =
		await stack.sql`SELECT followup_status, followup_file FROM dlq WHERE dlq_id = ${dlqId}`;
	expect(recorded).toEqual({ followup_status: 'dead', followup_file: crashed });
});

test('index.md lists every entry its headings count; it is replaced atomically; alerts/ never holds a plain e-mail', async () => {
	await pass.run();
	const parts = (await index()).split('\n## ').slice(1);
	expect(parts.map((part) => part.slice(0, part.indexOf(' ('))).sort()).toEqual([
		'Alerts without a lead record, the last 7 days',
		'Closed in the last 7 days',
		'Needs a person',
		'Waiting for an automatic retry',
	]);
	for (const part of parts) {
		const counted = Number(/\((\d+)\)\n/.exec(part)![1]);
		const listed = part.split('\n').filter((line) => /^\d+\. /.test(line)).length;
		expect({ section: part.split('\n')[0], listed }).toEqual({
			section: part.split('\n')[0],
			listed: counted,
		});
	}
	expect(section(await index(), 'Closed in the last 7 days (')).toContain('refused by the rules');

	const names = await readdir(stack.alertsDir);
	expect(names.filter((name) => name.endsWith('.tmp'))).toEqual([]);
	for (const name of names) {
		const text = (await readFile(join(stack.alertsDir, name), 'utf8')).toLowerCase();
		expect({ name, leaks: /[a-z0-9.+-]{2,}@example\.(com|org)/.test(text) }).toEqual({
			name,
			leaks: false,
		});
	}
});

test('the processor runs the pass by itself: at start and every ALERTS_PASS_SECONDS', async () => {
	const own = await startStack({ env: { ALERTS_PASS_SECONDS: '1' } });
	try {
		await own.crm.fail(1, 400);
		const answer = await postLead(own.url, validLead(), { key: 'timer-dead' });
		const runId = answer.body.run_id as string;
		// the index may list the dead item a pass before its follow-up exists: wait for both
		const text = await waitFor(
			() => readFile(join(own.alertsDir, 'index.md'), 'utf8').catch(() => ''),
			{
				what: `the processor's own pass to list the follow-up of ${runId} in index.md`,
				until: (index) => index.includes(`_${runId}.json\` (follow-up)`),
				deadlineMs: 15_000,
				intervalMs: 100,
			},
		);
		expect(section(text, 'Needs a person (1)')).toContain(runId);
		const files = (await readdir(own.alertsDir)).filter((name) => name.includes(runId));
		expect(files).toHaveLength(1);
		expect(JSON.parse(await readFile(join(own.alertsDir, files[0]!), 'utf8'))).toMatchObject({
			kind: 'follow_up',
			outcome: 'dead',
		});
	} finally {
		await own.close();
	}
});

test('a follow-up written while an erasure took its lead is deleted, not left holding what the erasure removed', async () => {
	const { runId, dlqId } = await failedLead('erased-meanwhile', 400);
	let written = '';
	const settled = await settleFollowUps(
		stack.sql,
		{ limit: 10, leaseSeconds: 60, token: randomUUID() },
		async (items) => {
			const item = items.find((candidate) => candidate.dlq_id === dlqId)!;
			// the person is erased after this pass read the item, before its file is down
			const erased = await stack.internal('POST', '/internal/privacy/erase', {
				email: 'erased-meanwhile@example.com',
			});
			expect(erased.body).toMatchObject({ run_ids: [runId] });
			const document = buildFollowUp(item, { writtenAt: stack.clock.now, earlierFiles: [] });
			written = await createAlertFile(
				stack.alertsDir,
				stack.clock.now,
				runId,
				JSON.stringify(document),
			);
			// the other items claimed stay due for the next pass
			return new Map([[dlqId, written]]);
		},
	);
	expect(settled.erasedMeanwhile).toEqual([written]);
	expect(settled.written.map((entry) => entry.item.dlq_id)).not.toContain(dlqId);
});
