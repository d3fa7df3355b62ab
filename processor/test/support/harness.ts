import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockCrm, type CrmLead, type RunningServer } from '@lead-intake-hub/mocks';
import { createDatabase, dropDatabase } from '@lead-intake-hub/stack';
import { ErrorAnswer, IntakeAnswer, IntakeFailure, QueuedAnswer } from '../../src/api/answers.js';
import { loadConfig, type Config } from '../../src/config.js';
import { connect, type Sql } from '../../src/db/connection.js';
import type { DuplicateSettings } from '../../src/intake/ruleset.js';
import { seedRulesVersion } from './rules-seed.js';
import {
	answerOnStoreKey,
	signingKeys,
	signV1,
	signV2,
	sourceBoundKey,
} from '../../src/intake/signature.js';
import { createLogger } from '../../src/logger.js';
import { startProcessor, type RunningProcessor } from '../../src/processor.js';

export const TEST_SECRET = 'test-hmac-secret-0123456789';
export const TEST_SERVICE_TOKEN = 'test-service-token-0123456789';
const CRM_TOKEN = 'test-crm-token';

/** A fresh, empty database on the test server: each test file owns one. */
export async function testDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
	const server = process.env.LIH_TEST_SERVER_URL!;
	const name = `lih_test_${randomBytes(5).toString('hex')}`;
	const url = await createDatabase(server, name);
	return { url, drop: () => dropDatabase(server, name) };
}

export interface Stack {
	url: string;
	/** A separate connection for assertions. */
	sql: Sql;
	crm: RunningServer & {
		leads(): Promise<CrmLead[]>;
		fail(next: number, status?: number, latencyMs?: number, retryAfter?: number): Promise<void>;
		/** Upsert calls the CRM received (injected failures included). */
		calls(): Promise<number>;
		reset(): Promise<void>;
	};
	/** Every log line the processor wrote. */
	logs: string[];
	/** The processor's clock; tests move it instead of waiting. */
	clock: { now: Date; advance(seconds: number): void };
	processor: RunningProcessor;
	alertsDir: string;
	databaseUrl: string;
	/** The processor's settings (keys, salt, rules files) for tests that call its modules. */
	config: Config;
	/** Calls an internal endpoint with the service token (or the given one; null sends none). */
	internal(method: string, path: string, body?: unknown, token?: string | null): Promise<Answer>;
	close(): Promise<void>;
}

export interface StackOptions {
	env?: Record<string, string>;
	databaseUrl?: string;
	/**
	 * The duplicate settings of rules version 1 in a database of its own. Most tests send the same
	 * person under many keys and are not about the same-person check: by default it is off
	 * (window_hours 0). 'shipped': the processor seeds version 1 itself, as in production.
	 */
	duplicates?: Partial<DuplicateSettings> | 'shipped';
	/** The processor keeps the database's time, as in production (the stack's `clock` is unused). */
	databaseClock?: boolean;
}

/** Processor + mock CRM on free ports, against a real Postgres database. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
	const ownDatabase = options.databaseUrl ? null : await testDatabase();
	const databaseUrl = options.databaseUrl ?? ownDatabase!.url;
	const crm = await startMockCrm({ token: CRM_TOKEN });
	const logs: string[] = [];
	const alertsDir = await mkdtemp(join(tmpdir(), 'lih-alerts-'));
	const clock = {
		now: new Date(),
		advance(seconds: number) {
			this.now = new Date(this.now.getTime() + seconds * 1000);
		},
	};
	const config = loadConfig({
		DATABASE_URL: databaseUrl,
		PORT: '0',
		HOST: '127.0.0.1',
		WEBHOOK_HMAC_SECRET: TEST_SECRET,
		EMAIL_HASH_SALT: 'test-salt-0123',
		LEAD_ENCRYPTION_KEY: 'test-lead-encryption-key-0123456789',
		SERVICE_TOKEN: TEST_SERVICE_TOKEN,
		CRM_URL: `${crm.url}/leads/upsert`,
		CRM_TOKEN,
		CRM_TIMEOUT_MS: '1000',
		FAULT_INJECTION: 'on',
		DB_POOL_SIZE: '8',
		LOG_LEVEL: 'info',
		ALERTS_DIR: alertsDir,
		// the tests move the clock and run the pass themselves: none of its own in between
		RETENTION_PASS_SECONDS: '0',
		// every test's X-Source is signed as the Lead Intake node signs it (signatureHeaders)
		WEBHOOK_UNSIGNED_SOURCE: 'off',
		...options.env,
	});
	const duplicates = options.duplicates ?? { window_hours: 0 };
	if (duplicates !== 'shipped') {
		await seedRulesVersion(databaseUrl, config, duplicates);
	}
	const logger = createLogger(config.LOG_LEVEL, { write: (line: string) => void logs.push(line) });
	const processor = await startProcessor(config, {
		logger,
		now: options.databaseClock ? undefined : () => clock.now,
	});
	const sql = connect(databaseUrl, { maxConnections: 4 });

	return {
		url: processor.url,
		sql,
		logs,
		clock,
		processor,
		alertsDir,
		databaseUrl,
		config,
		async internal(method, path, body, token = TEST_SERVICE_TOKEN) {
			const headers: Record<string, string> = {};
			if (token !== null) headers.authorization = `Bearer ${token}`;
			if (body !== undefined) headers['content-type'] = 'application/json';
			const response = await fetch(`${processor.url}${path}`, {
				method,
				headers,
				body: body === undefined ? undefined : JSON.stringify(body),
			});
			return {
				status: response.status,
				headers: response.headers,
				body: (await response.json()) as Record<string, unknown>,
			};
		},
		crm: {
			...crm,
			async leads() {
				const response = await fetch(`${crm.url}/leads`);
				return ((await response.json()) as { leads: CrmLead[] }).leads;
			},
			async fail(next, status = 503, latencyMs = 0, retryAfter) {
				await fetch(`${crm.url}/admin/faults`, {
					method: 'POST',
					headers: { 'content-type': 'application/json' },
					body: JSON.stringify({
						fail_next: next,
						status,
						latency_ms: latencyMs,
						retry_after: retryAfter ?? null,
					}),
				});
			},
			async calls() {
				const response = await fetch(`${crm.url}/health`);
				return ((await response.json()) as { calls: number }).calls;
			},
			async reset() {
				await fetch(`${crm.url}/admin/reset`, { method: 'POST' });
			},
		},
		async close() {
			await processor.close();
			await crm.close();
			await sql.end();
			await ownDatabase?.drop();
			await rm(alertsDir, { recursive: true, force: true });
		},
	};
}

export interface SignedPostOptions {
	key?: string | null;
	secret?: string;
	timestamp?: string;
	headers?: Record<string, string>;
	/** Sign and send these bytes instead of JSON.stringify(body). */
	rawBody?: string;
	/** v2 (Standard Webhooks, the default) or the legacy X-Signature scheme. */
	scheme?: 'v1' | 'v2';
	/** Ask to be answered on store (`Prefer: respond-async`), signed with its derived key. */
	onStore?: boolean;
}

/**
 * A lead asking to be answered on store (`Prefer: respond-async`), signed with the derived key as
 * the Lead Intake node signs it (v2).
 */
export function postOnStore(
	url: string,
	lead: Record<string, unknown>,
	options: { key: string; timestamp?: string },
) {
	return postLead(url, lead, { ...options, onStore: true });
}

/**
 * The signature headers for a request, as the n8n Lead Intake node sends them: signed with the key
 * of its answer mode, bound to its `source` (X-Source) when it has one.
 */
export function signatureHeaders(
	raw: string,
	options: Pick<SignedPostOptions, 'secret' | 'timestamp' | 'scheme' | 'onStore'> & {
		key: string | null;
		source?: string;
	},
): Record<string, string> {
	const [secret] = signingKeys([options.secret ?? TEST_SECRET]);
	const modeKey = options.onStore ? answerOnStoreKey(secret!.key) : secret!.key;
	const source = options.source?.trim();
	const secretKey = source ? sourceBoundKey(modeKey, source) : modeKey;
	const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
	const prefer: Record<string, string> = options.onStore ? { prefer: 'respond-async' } : {};
	if (options.scheme === 'v1') {
		const headers: Record<string, string> = {
			'x-timestamp': timestamp,
			'x-signature': signV1(secretKey, timestamp, Buffer.from(raw)),
		};
		if (options.key !== null) headers['x-idempotency-key'] = options.key;
		return { ...headers, ...prefer };
	}
	const id = options.key ?? '';
	return {
		...prefer,
		...(options.key === null ? {} : { 'webhook-id': id }),
		'webhook-timestamp': timestamp,
		'webhook-signature': signV2(secretKey, id, timestamp, Buffer.from(raw)),
	};
}

export interface Answer {
	status: number;
	headers: Headers;
	body: Record<string, unknown>;
}

/** POSTs to /webhook/lead the way the n8n node does: signed, with an idempotency key. */
export async function postLead(
	stackUrl: string,
	body: unknown,
	options: SignedPostOptions = {},
): Promise<Answer> {
	const raw = options.rawBody ?? JSON.stringify(body);
	const key = options.key === undefined ? `key-${randomBytes(6).toString('hex')}` : options.key;
	const headers: Record<string, string> = {
		'content-type': 'application/json',
		...signatureHeaders(raw, { ...options, key, source: options.headers?.['x-source'] }),
		...options.headers,
	};
	const response = await fetch(`${stackUrl}/webhook/lead`, { method: 'POST', headers, body: raw });
	const answer = (await response.json()) as Record<string, unknown>;
	expectIntakeAnswerAsDocumented(response.status, answer);
	return { status: response.status, headers: response.headers, body: answer };
}

/**
 * Every answer a test reads from the intake is held to the OpenAPI document's schema for its
 * status, so the document cannot promise a shape the intake does not send.
 */
function expectIntakeAnswerAsDocumented(status: number, answer: Record<string, unknown>): void {
	const schema =
		status === 200
			? IntakeAnswer
			: status === 202
				? QueuedAnswer
				: status === 500 && answer.status === 'failed'
					? IntakeFailure
					: ErrorAnswer;
	const checked = schema.safeParse(answer);
	if (!checked.success) {
		throw new Error(
			`the intake answered ${status} ${JSON.stringify(answer)}, which /openapi.json does not describe: ${checked.error.message}`,
		);
	}
}

/** A lead that passes the default rules, with a phone and a name. */
export function validLead(overrides: Record<string, unknown> = {}): Record<string, unknown> {
	return {
		email: 'Jane.Doe@Example.com ',
		name: 'Jane Doe',
		phone: '+49 170 1234567',
		address: { zip: '66123', street: 'Hauptstrasse 1' },
		house: { is_owner: true },
		...overrides,
	};
}
