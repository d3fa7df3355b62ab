import { ConfigError, loadConfig } from '../../src/config.js';

const required = {
	DATABASE_URL: 'postgres://localhost/lih',
	WEBHOOK_HMAC_SECRET: 'a-secret-of-sixteen-or-more',
	EMAIL_HASH_SALT: 'salt-0123',
	LEAD_ENCRYPTION_KEY: 'a-lead-encryption-key-0123',
	SERVICE_TOKEN: 'a-service-token-0123',
	CRM_TOKEN: 'crm',
};

describe('server timeouts', () => {
	test('default to 10 s for the headers and 30 s for the whole request', () => {
		expect(loadConfig(required)).toMatchObject({
			HTTP_HEADERS_TIMEOUT_MS: 10_000,
			HTTP_REQUEST_TIMEOUT_MS: 30_000,
		});
	});

	test('a headers timeout longer than the request timeout is named, not a crash at start', () => {
		const load = () => loadConfig({ ...required, HTTP_HEADERS_TIMEOUT_MS: '40000' });
		expect(load).toThrow(ConfigError);
		expect(load).toThrow(
			/HTTP_HEADERS_TIMEOUT_MS: must not be longer than HTTP_REQUEST_TIMEOUT_MS/,
		);
	});
});
