import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_SECRET, TEST_SERVICE_TOKEN } from './support/harness.js';

/** The built processor says at start, once, that MOCK_CRM_URL is now CRM_URL. */
const processorMain = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'main.js');

/** Starts the processor against a port where no database listens: it warns, then gives up. */
function start(env: Record<string, string>) {
	const result = spawnSync(process.execPath, [processorMain], {
		env: {
			PATH: process.env.PATH,
			DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nothing-listens-here',
			WEBHOOK_HMAC_SECRET: TEST_SECRET,
			EMAIL_HASH_SALT: 'start-salt-0123',
			LEAD_ENCRYPTION_KEY: 'start-lead-encryption-key-0123456789',
			SERVICE_TOKEN: TEST_SERVICE_TOKEN,
			CRM_TOKEN: 'start-crm-token',
			...env,
		},
		encoding: 'utf8',
		timeout: 20_000,
	});
	const warnings = result.stdout
		.split('\n')
		.filter((line) => line.startsWith('{'))
		.map((line) => JSON.parse(line) as { level: number; msg: string })
		.filter((line) => line.level === 40)
		.map((line) => line.msg);
	return { code: result.status, warnings, stderr: result.stderr };
}

test('MOCK_CRM_URL alone: one warning naming CRM_URL', () => {
	const started = start({ MOCK_CRM_URL: 'http://127.0.0.1:9/leads/upsert' });
	expect(started.warnings).toEqual([
		'MOCK_CRM_URL is deprecated: rename it to CRM_URL (read as CRM_URL until then)',
	]);
	// it got as far as the database
	expect(started.code).toBe(1);
	expect(started.stderr).toContain('cannot reach the database at DATABASE_URL');
});

test('both names: the warning says CRM_URL wins; CRM_URL alone: no warning', () => {
	const both = start({ CRM_URL: 'http://127.0.0.1:9/a', MOCK_CRM_URL: 'http://127.0.0.1:9/b' });
	expect(both.warnings).toEqual([
		'MOCK_CRM_URL is deprecated and ignored: CRM_URL is set too and wins; remove MOCK_CRM_URL',
	]);
	expect(start({ CRM_URL: 'http://127.0.0.1:9/a' }).warnings).toEqual([]);
});
