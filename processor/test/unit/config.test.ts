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

describe('settings that contradict each other refuse to start, naming both', () => {
	test('an accepted lease shorter than the insert, a CRM call and the processed write after it', () => {
		// the processed write may wait for its group commit, run, and run once more alone
		const load = () =>
			loadConfig({ ...required, ACCEPTED_LEASE_SECONDS: '10', CRM_TIMEOUT_MS: '5000' });
		expect(load).toThrow(ConfigError);
		expect(load).toThrow(
			/ACCEPTED_LEASE_SECONDS \(10\): shorter than the insert, a CRM call and the processed write after it, CRM_TIMEOUT_MS \(5000\) \+ 4 × DB_QUERY_TIMEOUT_MS \(1500\) = 11000 ms/,
		);
		expect(
			loadConfig({ ...required, ACCEPTED_LEASE_SECONDS: '11', CRM_TIMEOUT_MS: '5000' }),
		).toMatchObject({ ACCEPTED_LEASE_SECONDS: 11 });
	});

	test('a DLQ claim lease shorter than a CRM call and the write after it', () => {
		expect(() =>
			loadConfig({ ...required, DLQ_LEASE_SECONDS: '2', CRM_TIMEOUT_MS: '3000' }),
		).toThrow(
			/DLQ_LEASE_SECONDS \(2\): shorter than a CRM call .*CRM_TIMEOUT_MS \(3000\) \+ DB_QUERY_TIMEOUT_MS/,
		);
	});

	test('a breaker cooldown longer than the longest pause', () => {
		expect(() =>
			loadConfig({
				...required,
				CRM_BREAKER_COOLDOWN_SECONDS: '600',
				CRM_MAX_PAUSE_SECONDS: '300',
			}),
		).toThrow(/CRM_BREAKER_COOLDOWN_SECONDS \(600\): longer than CRM_MAX_PAUSE_SECONDS \(300\)/);
	});

	test('every contradiction is named at once', () => {
		expect(() =>
			loadConfig({
				...required,
				ACCEPTED_LEASE_SECONDS: '1',
				DLQ_LEASE_SECONDS: '1',
				HTTP_HEADERS_TIMEOUT_MS: '40000',
			}),
		).toThrow(/HTTP_HEADERS_TIMEOUT_MS[\s\S]*ACCEPTED_LEASE_SECONDS[\s\S]*DLQ_LEASE_SECONDS/);
	});

	test('the derived accepted lease is three CRM timeouts, and never shorter than the insert, a call and its processed write', () => {
		expect(loadConfig(required)).toMatchObject({ ACCEPTED_LEASE_SECONDS: 15 });
		// 1000 + 4 × 1500 ms
		expect(loadConfig({ ...required, CRM_TIMEOUT_MS: '1000' })).toMatchObject({
			ACCEPTED_LEASE_SECONDS: 7,
		});
		expect(loadConfig({ ...required, CRM_TIMEOUT_MS: '300' })).toMatchObject({
			ACCEPTED_LEASE_SECONDS: 7,
		});
	});
});

test('failed service tokens are throttled per address: 30 a minute by default', () => {
	expect(loadConfig(required)).toMatchObject({
		REFUSED_TOKENS_PER_MINUTE: 30,
		REFUSED_PER_MINUTE: 120,
	});
});

test.each([
	['no base64 at all (an empty key: anyone could sign)', 'whsec_!!!!!!!!!!'],
	['base64 of fewer than 16 bytes', 'whsec_AAAAAAAAAA=='],
	['base64 that is not canonical', 'whsec_MDEyMzQ1Njc4OWFiY2RlZg=x'],
])('a whsec_ signing secret with %s refuses to start', (_, secret) => {
	for (const name of ['WEBHOOK_HMAC_SECRET', 'EVENTS_SECRET']) {
		const load = () =>
			loadConfig({ ...required, EVENTS_URL: 'http://127.0.0.1:5678/webhook/x', [name]: secret });
		expect(load).toThrow(ConfigError);
		expect(load).toThrow(/canonical base64 of at least 16 bytes/);
	}
});

test('a whsec_ secret of 32 base64 bytes, and one of any text, are taken', () => {
	const whsec = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
	expect(
		loadConfig({ ...required, WEBHOOK_HMAC_SECRET: `${whsec},plain-text-secret-0123` })
			.WEBHOOK_HMAC_SECRET,
	).toEqual([whsec, 'plain-text-secret-0123']);
});

test('an events secret read from a file with its newline is the secret the n8n credential holds', () => {
	const whsec = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
	const config = loadConfig({
		...required,
		EVENTS_URL: 'http://127.0.0.1:5678/webhook/x',
		EVENTS_SECRET: `${whsec}\n`,
		EVENTS_SECRET_PREVIOUS: ' previous-events-secret-0123 ',
	});
	expect([config.EVENTS_SECRET, config.EVENTS_SECRET_PREVIOUS]).toEqual([
		whsec,
		'previous-events-secret-0123',
	]);
});
