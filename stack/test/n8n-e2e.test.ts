import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import {
	ensureN8n,
	exportWorkflows,
	startLocalStack,
	workflowsDir,
	type LocalStack,
} from '../src/index.js';

/**
 * The product as users get it: the pinned n8n with our packed package installed, our workflow
 * files imported unchanged, the processor and mocks on a throwaway database.
 */
let stack: LocalStack;
let alertsDir: string;
let sql: postgres.Sql;
let n8nSql: postgres.Sql;

beforeAll(async () => {
	alertsDir = await mkdtemp(join(tmpdir(), 'lih-e2e-alerts-'));
	stack = await startLocalStack({
		throwaway: true,
		n8n: true,
		alertsDir,
		ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0, n8n: 0 },
		// these tests read successful executions, which n8n's production settings do not keep
		n8nExtras: { env: { EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all' } },
	});
	sql = postgres(stack.databaseUrl, { onnotice: () => undefined });
	n8nSql = postgres(stack.n8nDatabaseUrl!, { onnotice: () => undefined });
}, 600_000);

afterAll(async () => {
	await sql?.end();
	await n8nSql?.end();
	await stack?.stop();
	await rm(alertsDir, { recursive: true, force: true });
}, 120_000);

async function postToN8n(
	lead: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
	const response = await fetch(`${stack.urls.n8n}/webhook/lead-intake`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(lead),
	});
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function alertFilesOf(runId: string): Promise<string[]> {
	return (await readdir(alertsDir)).filter((name) => name.includes(runId));
}

/** n8n saves an execution after it has answered the webhook: wait for it, then read it. */
async function finishedExecutions(count: number): Promise<{ status: string }[]> {
	for (;;) {
		const rows = await n8nSql<{ status: string }[]>`
			SELECT status FROM execution_entity WHERE "workflowId" = 'lihLeadIntake001' AND "stoppedAt" IS NOT NULL`;
		if (rows.length >= count) return rows;
		await new Promise((resolve) => setImmediate(resolve));
	}
}

const lead = {
	email: 'e2e.lead@example.com',
	name: 'E2E Lead',
	phone: '+49 170 1234567',
	address: { zip: '66123', street: 'Hauptstrasse 1' },
	house: { is_owner: true },
};

test('a valid lead through the n8n webhook is processed, and sent again it is a duplicate', async () => {
	const first = await postToN8n(lead);
	expect(first.status).toBe(200);
	expect(first.body).toMatchObject({ status: 'accepted', run_status: 'processed' });
	const [run] =
		await sql`SELECT status, source FROM runs WHERE run_id = ${first.body.run_id as string}`;
	expect(run).toEqual({ status: 'processed', source: 'n8n' });

	const again = await postToN8n(lead);
	expect(again.status).toBe(200);
	expect(again.body).toEqual({
		status: 'duplicate',
		run_id: first.body.run_id,
		existing_status: 'processed',
	});
	expect(await sql`SELECT 1 FROM runs`).toHaveLength(1);
});

test('a lead outside the rules is rejected and leaves an alert file without the plain e-mail', async () => {
	const answer = await postToN8n({
		...lead,
		email: 'outside@example.com',
		address: { zip: '10115' },
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
	});
	expect(text).not.toContain('outside@example.com');
	expect(text).toContain('o***@example.com');
});

test('a failed delivery lands in the DLQ, writes an alert file and reaches mock Jira', async () => {
	await fetch(`${stack.urls.crm}/admin/faults`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ fail_next: 1, status: 503 }),
	});
	const answer = await postToN8n({ ...lead, email: 'failing@example.com' });
	expect(answer.status).toBe(500);
	expect(answer.body).toMatchObject({
		detail: 'Processing failed; written to DLQ',
		reason: 'crm_http_503',
	});
	const runId = answer.body.run_id as string;
	const [item] = await sql`SELECT status, reason FROM dlq WHERE run_id = ${runId}`;
	expect(item).toEqual({ status: 'open', reason: 'crm_http_503' });

	const files = await alertFilesOf(runId);
	expect(files.length).toBeGreaterThanOrEqual(1);
	const alert = JSON.parse(await readFile(join(alertsDir, files[0]!), 'utf8')) as Record<
		string,
		unknown
	>;
	expect(alert).toMatchObject({
		alert: true,
		run_id: runId,
		statusCode: 500,
		severity: 'high',
		outcome: 'failed',
	});
	const jira = (await (await fetch(`${stack.urls.jiraConfluence}/entries`)).json()) as {
		entries: { kind: string; run_id: string }[];
	};
	expect(jira.entries).toContainEqual(expect.objectContaining({ kind: 'alert', run_id: runId }));
});

test('every lead intake execution in n8n finished successfully', async () => {
	const executions = await finishedExecutions(4);
	expect(executions).toHaveLength(4);
	expect(executions.map((execution) => execution.status)).toEqual([
		'success',
		'success',
		'success',
		'success',
	]);
});

test('the processor credential test really calls the processor: the right token passes, a wrong one fails', async () => {
	const login = await fetch(`${stack.urls.n8n}/rest/login`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({
			emailOrLdapLoginId: stack.settings.N8N_OWNER_EMAIL,
			password: stack.settings.N8N_OWNER_PASSWORD,
		}),
	});
	expect(login.status).toBe(200);
	const cookie = login.headers
		.getSetCookie()
		.map((value) => value.split(';')[0])
		.join('; ');
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

test('exporting the workflows from n8n reproduces every workflow file unchanged', async () => {
	const target = await mkdtemp(join(tmpdir(), 'lih-e2e-export-'));
	try {
		const install = await ensureN8n(() => undefined);
		await exportWorkflows(install, stack.n8nEnv!, target, () => undefined);
		const files = (await readdir(workflowsDir)).filter((name) => name.endsWith('.json')).sort();
		expect((await readdir(target)).sort()).toEqual(files);
		for (const file of files) {
			expect(await readFile(join(target, file), 'utf8')).toBe(
				await readFile(join(workflowsDir, file), 'utf8'),
			);
		}
	} finally {
		await rm(target, { recursive: true, force: true });
	}
}, 120_000);
