import { loadConfig, renamedSettingWarnings } from '../../src/config.js';

/** CRM_URL was called MOCK_CRM_URL: the old name is still read, with a warning naming the new one. */
const required = {
	DATABASE_URL: 'postgres://localhost/lih',
	WEBHOOK_HMAC_SECRET: 'a-secret-of-sixteen-or-more',
	EMAIL_HASH_SALT: 'salt-0123',
	LEAD_ENCRYPTION_KEY: 'a-lead-encryption-key-0123',
	SERVICE_TOKEN: 'a-service-token-0123',
	CRM_TOKEN: 'crm',
};
const CRM = 'https://crm.example.com/leads/upsert';
const OLD = 'https://old-crm.example.com/leads/upsert';

test('CRM_URL is the CRM; unset, the local mock CRM; no warning', () => {
	expect(loadConfig({ ...required, CRM_URL: CRM }).CRM_URL).toBe(CRM);
	expect(loadConfig(required).CRM_URL).toBe('http://127.0.0.1:9001/leads/upsert');
	expect(renamedSettingWarnings({ ...required, CRM_URL: CRM })).toEqual([]);
});

test('MOCK_CRM_URL alone is read as CRM_URL, with one line saying to rename it', () => {
	const config = loadConfig({ ...required, MOCK_CRM_URL: OLD });
	expect(config.CRM_URL).toBe(OLD);
	expect(config).not.toHaveProperty('MOCK_CRM_URL');
	expect(renamedSettingWarnings({ MOCK_CRM_URL: OLD })).toEqual([
		'MOCK_CRM_URL is deprecated: rename it to CRM_URL (read as CRM_URL until then)',
	]);
});

test('with both set CRM_URL wins, and the warning says so', () => {
	expect(loadConfig({ ...required, CRM_URL: CRM, MOCK_CRM_URL: OLD }).CRM_URL).toBe(CRM);
	expect(renamedSettingWarnings({ CRM_URL: CRM, MOCK_CRM_URL: OLD })).toEqual([
		'MOCK_CRM_URL is deprecated and ignored: CRM_URL is set too and wins; remove MOCK_CRM_URL',
	]);
});

test('a bad URL is named under the name it was set as', () => {
	expect(() => loadConfig({ ...required, MOCK_CRM_URL: 'not a url' })).toThrow(/MOCK_CRM_URL:/);
	expect(() => loadConfig({ ...required, CRM_URL: 'not a url' })).toThrow(/CRM_URL:/);
});
