import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createDatabase, freePort, waitFor } from '@lead-intake-hub/stack';
import { startMockCrm, type RunningServer } from '@lead-intake-hub/mocks';
import { postLead, TEST_SECRET, TEST_SERVICE_TOKEN, validLead } from './support/harness.js';
import {
	startPostgresProcess,
	startProcessorProcess,
	type PostgresProcess,
	type ProcessorProcess,
} from './support/processes.js';

/*
 * A real Postgres server of this test's own, stopped and started again under a running
 * processor process: no hang, no 200, the process stays up and comes back by itself.
 */
const dataDir = join(process.cwd(), '..', '.data', `test-outage-${randomBytes(4).toString('hex')}`);
let port: number;
let postgres: PostgresProcess;
let processor: ProcessorProcess;
let crm: RunningServer;

beforeAll(async () => {
	port = await freePort();
	postgres = await startPostgresProcess(dataDir, port);
	const databaseUrl = await createDatabase(postgres.adminUrl, 'lih_outage');
	crm = await startMockCrm({ token: 'outage-crm-token' });
	processor = await startProcessorProcess({
		DATABASE_URL: databaseUrl,
		WEBHOOK_HMAC_SECRET: TEST_SECRET,
		EMAIL_HASH_SALT: 'outage-salt-0123',
		LEAD_ENCRYPTION_KEY: 'outage-lead-encryption-key-0123456789',
		SERVICE_TOKEN: TEST_SERVICE_TOKEN,
		CRM_URL: `${crm.url}/leads/upsert`,
		CRM_TOKEN: 'outage-crm-token',
	});
}, 60_000);
afterAll(async () => {
	await processor?.kill('SIGKILL');
	await postgres?.kill('SIGTERM');
	await crm?.close();
	await rm(dataDir, { recursive: true, force: true });
});

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
	const started = performance.now();
	const value = await work();
	return { ms: performance.now() - started, value };
}

const health = async () => {
	const response = await fetch(`${processor.url}/health`);
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

test('while Postgres is stopped: 503 JSON within 2 s from intake and /health; back within 5 s of its restart', async () => {
	expect((await postLead(processor.url, validLead(), { key: 'before-outage' })).status).toBe(200);

	await postgres.kill('SIGTERM');
	for (let attempt = 0; attempt < 5; attempt++) {
		const intake = await timed(() =>
			postLead(processor.url, validLead(), { key: `during-outage-${attempt}` }),
		);
		expect(intake.value.status).toBe(503);
		expect(intake.value.body).toMatchObject({
			code: 'database_unavailable',
			correlation_id: expect.any(String),
		});
		expect(intake.value.headers.get('retry-after')).toBeTruthy();
		expect(intake.ms).toBeLessThan(2000);
		const probe = await timed(health);
		expect(probe.value).toMatchObject({ status: 503, body: { database: 'down' } });
		expect(probe.ms).toBeLessThan(2000);
	}
	const alive = await fetch(`${processor.url}/livez`);
	expect(alive.status).toBe(200);
	expect(processor.child.exitCode).toBeNull();

	postgres = await startPostgresProcess(dataDir, port);
	await waitFor(health, {
		what: '/health to answer 200 within 5 s of the restart of Postgres',
		until: (answer) => answer.status === 200,
		deadlineMs: 5000,
	});
	expect((await postLead(processor.url, validLead(), { key: 'after-outage' })).status).toBe(200);
}, 60_000);
