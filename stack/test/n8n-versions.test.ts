import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { SUPPORTED_N8N_VERSIONS } from '../src/n8n/install.js';
import { waitFor } from '../src/wait-for.js';
import {
	leadSource,
	sampleLead,
	startLocalStack,
	type LeadSource,
	type LocalStack,
} from '../src/index.js';

/**
 * The smoke test of every end of the supported n8n range (README.md, Supported n8n versions): that
 * n8n installed from the registry, our packed package installed into it, the workflow files
 * imported and published, and one lead of each outcome through the Lead Source Trigger and Lead
 * Intake. The pinned n8n gets the whole suite (n8n-e2e.test.ts); each end gets this. An end not
 * in the cache yet is installed first (4 to 10 minutes and 2.8 GB, once).
 */
describe.each([SUPPORTED_N8N_VERSIONS.oldest, SUPPORTED_N8N_VERSIONS.newest])(
	'n8n %s',
	(version) => {
		let stack: LocalStack;
		let alertsDir: string;
		let sql: postgres.Sql;
		let source: LeadSource;

		beforeAll(async () => {
			alertsDir = await mkdtemp(join(tmpdir(), `lih-n8n-${version}-alerts-`));
			stack = await startLocalStack({
				throwaway: true,
				n8n: true,
				n8nVersion: version,
				alertsDir,
				ports: { processor: 0, crm: 0, jiraConfluence: 0, postgres: 0, n8n: 0 },
				log: (line) => console.log(`[n8n ${version}] ${line}`),
			});
			sql = postgres(stack.databaseUrl, { onnotice: () => undefined });
			source = leadSource({
				baseUrl: stack.urls.n8nWebhook!,
				headers: { authorization: `Bearer ${stack.settings.LEAD_SOURCE_API_KEY}` },
			});
		}, 1_200_000);

		afterAll(async () => {
			await sql?.end();
			await stack?.stop();
			if (alertsDir) await rm(alertsDir, { recursive: true, force: true });
		}, 120_000);

		test('is the n8n running', async () => {
			// n8n tells its version to a signed-in user
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
			const settings = (await (
				await fetch(`${stack.urls.n8n}/rest/settings`, { headers: { cookie } })
			).json()) as { data: { versionCli: string } };
			expect(settings.data.versionCli).toBe(version);
		});

		test('a lead of each outcome: accepted, duplicate, rejected, failed', async () => {
			const accepted = await source.post(sampleLead(`accepted-${version}`), `accepted-${version}`);
			// the shipped workflow answers once the lead is stored; the processor delivers it
			expect(accepted).toMatchObject({
				status: 202,
				body: { status: 'accepted', run_status: 'queued' },
			});
			const runStatus = (runId: unknown) => async () => {
				const [run] = await sql<{ status: string }[]>`
					SELECT status FROM runs WHERE run_id = ${String(runId)}`;
				return run?.status;
			};
			await waitFor(runStatus(accepted.body.run_id), {
				what: 'the accepted lead delivered',
				until: (status) => status === 'processed',
			});

			const duplicate = await source.post(sampleLead(`accepted-${version}`), `accepted-${version}`);
			expect(duplicate).toMatchObject({
				status: 200,
				body: { status: 'duplicate', run_id: accepted.body.run_id },
			});

			const rejected = await source.post(
				{
					...sampleLead(`rejected-${version}`),
					address: { zip: '10115', street: 'Hauptstrasse 1' },
				},
				`rejected-${version}`,
			);
			expect(rejected).toMatchObject({
				status: 200,
				body: { status: 'rejected', reasons: ['ZIP_NOT_66XXX'] },
			});

			const fault = await fetch(`${stack.urls.crm}/admin/faults`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ fail_next: 1, status: 503 }),
			});
			expect(fault.status).toBe(200);
			const failed = await source.post(sampleLead(`failed-${version}`), `failed-${version}`);
			expect(failed).toMatchObject({ status: 202, body: { status: 'accepted' } });
			await waitFor(runStatus(failed.body.run_id), {
				what: 'the failing delivery recorded',
				until: (status) => status === 'failed',
			});

			const runs = await sql<{ run_id: string; status: string }[]>`
			SELECT run_id, status FROM runs ORDER BY received_at`;
			expect(runs.map((run) => run.status)).toEqual(['processed', 'rejected', 'failed']);

			// the Alert Router ran after the answers: the rejected and the failed lead's alert files
			const alertFiles = async () =>
				(await readdir(alertsDir)).filter(
					(name) =>
						name.includes(String(rejected.body.run_id)) ||
						name.includes(String(failed.body.run_id)),
				);
			const deadline = Date.now() + 30_000;
			while ((await alertFiles()).length < 2 && Date.now() < deadline) {
				await new Promise((resolve) => setTimeout(resolve, 200));
			}
			expect((await alertFiles()).length).toBeGreaterThanOrEqual(2);
		});
	},
);
