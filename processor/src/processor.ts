import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { readJsonConfig } from './config-files.js';
import { createCrmClient } from './crm/crm-client.js';
import { connect, type Sql } from './db/connection.js';
import { createRunWriter } from './db/runs.js';
import { startAlertsPass } from './incidents/alerts-pass.js';
import { migrate } from './db/migrate.js';
import { signatureFailureRecorder } from './intake/signature-failures.js';
import { MappingSchema } from './intake/mapping.js';
import { compileRules, RulesSchema } from './intake/rules.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics/metrics.js';
import { createLeadCipher } from './pii/lead-cipher.js';

export interface ProcessorOptions {
	logger: Logger;
	/** The processor's clock (tests move it; SPEC's timestamps and retry schedule follow it). */
	now?: () => Date;
}

export interface RunningProcessor {
	url: string;
	sql: Sql;
	close(): Promise<void>;
}

/** Wires the processor from its configuration, migrates the database and starts listening. */
export async function startProcessor(
	config: Config,
	options: ProcessorOptions,
): Promise<RunningProcessor> {
	const { logger } = options;
	const now = options.now ?? (() => new Date());
	const sql = connect(config.DATABASE_URL, { maxConnections: config.DB_POOL_SIZE });
	try {
		const applied = await migrate(sql, config.MIGRATIONS_DIR);
		if (applied.length > 0) logger.info({ applied }, 'database migrated');
		const metrics = createMetrics(sql);
		const crmClient = createCrmClient({
			url: config.MOCK_CRM_URL,
			token: config.CRM_TOKEN,
			timeoutMs: config.CRM_TIMEOUT_MS,
			connections: config.DB_POOL_SIZE * 2,
		});
		const crm = metrics.instrument(crmClient);
		const rules = compileRules(await readJsonConfig(config.RULES_FILE, RulesSchema));
		const mapping = await readJsonConfig(config.CRM_MAPPING_FILE, MappingSchema);

		const cipher = createLeadCipher(config.LEAD_ENCRYPTION_KEY);
		const policy = { rules, emailHashSalt: config.EMAIL_HASH_SALT };
		const backoff = {
			scheduleSeconds: config.DLQ_BACKOFF_SECONDS,
			jitterRatio: config.DLQ_JITTER_RATIO,
			maxRetries: config.DLQ_MAX_RETRIES,
		};
		const runs = createRunWriter(sql, {
			maxBatch: config.DB_WRITE_BATCH,
			maxInFlight: config.DB_WRITE_CONCURRENCY,
		});
		const delivery = { sql, runs, crm, cipher, policy, mapping, backoff, now };
		const app = createApp({
			sql,
			logger,
			metrics,
			intake: {
				intake: delivery,
				hmacSecrets: config.WEBHOOK_HMAC_SECRET,
				maxSkewSeconds: config.WEBHOOK_MAX_SKEW_SECONDS,
				bodyLimitBytes: config.BODY_LIMIT_BYTES,
				rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
				faultInjection: config.FAULT_INJECTION,
				recordSignatureFailure: signatureFailureRecorder(
					sql,
					config.SIGNATURE_FAILURE_BUCKET_SECONDS,
					now,
				),
				countLead: metrics.countLead,
			},
			operator: {
				sql,
				serviceToken: config.SERVICE_TOKEN,
				retryBatchSize: config.DLQ_RETRY_BATCH,
				retry: {
					...delivery,
					concurrency: config.DLQ_RETRY_CONCURRENCY,
					leaseSeconds: config.DLQ_LEASE_SECONDS,
					crmTimeoutMs: config.CRM_TIMEOUT_MS,
				},
				kpi: { sql, alertsDir: config.ALERTS_DIR, now, logger, ledger: null },
			},
		});
		const server = await listen(app, config.PORT, config.HOST);
		const { port } = server.address() as AddressInfo;
		const alertsPass = startAlertsPass(
			{ sql, alertsDir: config.ALERTS_DIR, now, logger },
			config.ALERTS_PASS_SECONDS * 1000,
		);
		return {
			url: `http://127.0.0.1:${port}`,
			sql,
			async close() {
				await new Promise<void>((resolve) => server.close(() => resolve()));
				await alertsPass.stop();
				await crm.close();
				await sql.end({ timeout: 5 });
			},
		};
	} catch (error) {
		await sql.end({ timeout: 1 });
		throw error;
	}
}

function listen(app: RequestListener, port: number, host: string): Promise<Server> {
	return new Promise((resolve, reject) => {
		const server = createServer(app);
		server.once('error', reject);
		server.listen(port, host, () => resolve(server));
	});
}
