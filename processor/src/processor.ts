import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { turnWaitMs, type Config } from './config.js';
import { createCrmClient } from './crm/crm-client.js';
import { startDatabaseClock } from './db/clock.js';
import { connect, type Sql } from './db/connection.js';
import { createRunWriter } from './db/runs.js';
import { withCircuitBreaker } from './crm/circuit-breaker.js';
import { ledger } from './db/ledger.js';
import { recoverInterrupted } from './dlq/recovery.js';
import { rateLimit, startRateLimitCleanup } from './http/rate-limit.js';
import { createAlertsPass, startAlertsPass } from './incidents/alerts-pass.js';
import type { IntakeDeps } from './intake/intake-service.js';
import { DEFAULT_LEAD_LIMITS } from './intake/lead-body.js';
import { DEFAULT_DUPLICATE_SETTINGS } from './intake/ruleset.js';
import { phoneRegionOfVersions } from './db/rules-versions.js';
import { answerClientError, refuseExpectation } from './http/client-errors.js';
import { refusalLogBudget, type RefusalLogBudget } from './http/log-budget.js';
import { migrate } from './db/migrate.js';
import { signatureFailureLog } from './intake/signature-failures.js';
import { answerOnStoreKeys, signingKeys } from './intake/signature.js';
import { startDeliverer } from './delivery/deliverer.js';
import { startLoop, type Loop } from './delivery/loop.js';
import { retryDue, type RetryDeps } from './dlq/retry-service.js';
import { startDispatcher, startEventPruning } from './events/dispatcher.js';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics/metrics.js';
import { createLeadCipher } from './pii/lead-cipher.js';
import { readSeedDocument } from './rules/document.js';
import { startLiveRules } from './rules/live-rules.js';
import { createCrmEraser } from './privacy/crm-eraser.js';
import {
	PRIVACY_LOCK_TIMEOUT_MS,
	startCrmErasures,
	type PrivacyDeps,
} from './privacy/privacy-service.js';
import { startRetention, type RetentionDeps } from './privacy/retention.js';
import { OUTCOME_EVENT_TYPES, type RateLimitName } from './vocabulary.js';

export interface ProcessorOptions {
	logger: Logger;
	/**
	 * The processor's clock (tests move it; signature timestamps, leases and retries follow it).
	 * Not set: the database's (db/clock.ts).
	 */
	now?: () => Date;
}

export interface RunningProcessor {
	url: string;
	sql: Sql;
	/** Writes what is counted in memory (refused signatures) now rather than at the next tick. */
	flush(): Promise<void>;
	close(): Promise<void>;
}

/** Wires the processor from its configuration, migrates the database and starts listening. */
export async function startProcessor(
	config: Config,
	options: ProcessorOptions,
): Promise<RunningProcessor> {
	const { logger } = options;
	const connection = {
		statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
		// events of a type nobody subscribes to are not written at all (not written, then dropped)
		eventTypes: OUTCOME_EVENT_TYPES.every((type) => config.EVENTS_TYPES.includes(type))
			? undefined
			: config.EVENTS_TYPES,
	};
	const sql = connect(config.DATABASE_URL, { ...connection, maxConnections: config.DB_POOL_SIZE });
	// erasures and retention lock a person's rows across tables: on connections of their own,
	// every lock wait is bounded, a table's too (a migration altering it), so they answer busy
	// instead of waiting for the statement timeout
	const privacySql = connect(config.DATABASE_URL, {
		...connection,
		maxConnections: 2,
		lockTimeoutMs: PRIVACY_LOCK_TIMEOUT_MS,
	});
	const closers: (() => unknown)[] = [];
	try {
		const applied = await migrate(sql, config.MIGRATIONS_DIR);
		if (applied.length > 0) logger.info({ applied }, 'database migrated');
		const clock = options.now
			? null
			: await startDatabaseClock(sql, { deadlineMs: config.DB_QUERY_TIMEOUT_MS, logger });
		if (clock) closers.push(() => clock.close());
		const now = options.now ?? clock!.now;
		const metrics = createMetrics(sql, now);
		const crmClient = createCrmClient({
			url: config.CRM_URL,
			token: config.CRM_TOKEN,
			timeoutMs: config.CRM_TIMEOUT_MS,
			// every call the background work may have under way, and room for the intake's: a call
			// waiting for a connection counts against CRM_TIMEOUT_MS, and would look like a slow CRM
			connections:
				config.DELIVERY_CONCURRENCY + config.DLQ_RETRY_CONCURRENCY + config.DB_POOL_SIZE * 2,
		});
		const crm = withCircuitBreaker(
			metrics.instrument(crmClient),
			{
				failureThreshold: config.CRM_BREAKER_FAILURES,
				cooldownSeconds: config.CRM_BREAKER_COOLDOWN_SECONDS,
				maxPauseSeconds: config.CRM_MAX_PAUSE_SECONDS,
			},
			now,
			(circuit) =>
				circuit.state === 'closed'
					? logger.info('CRM calls resumed: the probe succeeded')
					: logger.warn(
							{ until: circuit.until },
							'CRM keeps failing: calls paused, leads wait in the DLQ',
						),
		);
		closers.push(() => crm.close());
		const rules = await startLiveRules(sql, {
			pollSeconds: config.RULES_POLL_SECONDS,
			deadlineMs: config.DB_QUERY_TIMEOUT_MS,
			logger,
			seed: (options) => readSeedDocument(config.RULES_FILE, config.CRM_MAPPING_FILE, options),
		});
		closers.push(() => rules.close());
		metrics.watchRulesVersion(() => rules.current().version);

		const delivery: IntakeDeps = {
			sql,
			runs: createRunWriter(sql, {
				maxBatch: config.DB_WRITE_BATCH,
				maxInFlight: config.DB_WRITE_CONCURRENCY,
				deadlineMs: config.DB_QUERY_TIMEOUT_MS,
			}),
			crm,
			cipher: createLeadCipher(config.LEAD_ENCRYPTION_KEY),
			rules,
			emailHashSalt: config.EMAIL_HASH_SALT,
			backoff: {
				scheduleSeconds: config.DLQ_BACKOFF_SECONDS,
				jitterRatio: config.DLQ_JITTER_RATIO,
				maxRetries: config.DLQ_MAX_RETRIES,
			},
			now,
			acceptedLeaseSeconds: config.ACCEPTED_LEASE_SECONDS,
			turnWaitMs: turnWaitMs(config),
			deadlineMs: config.DB_QUERY_TIMEOUT_MS,
			leadLimits: DEFAULT_LEAD_LIMITS,
			pauseAfterCrmKeyPrefix: config.TEST_PAUSE_AFTER_CRM_KEY_PREFIX ?? null,
			pauseBeforeSamePersonKeyPrefix: config.TEST_PAUSE_BEFORE_SAME_PERSON_KEY_PREFIX ?? null,
		};
		// a recovery that fails here is the retry loop's: it recovers on every pass
		const recovered = await recoverInterrupted(delivery).catch((error: unknown) => {
			logger.warn(
				{ err: error },
				'runs interrupted before this start could not be recovered yet; the retry loop tries again',
			);
			return 0;
		});
		if (recovered > 0) {
			logger.warn({ recovered }, 'runs interrupted before this start were handed to the DLQ');
		}
		const retry: RetryDeps = {
			...delivery,
			concurrency: config.DLQ_RETRY_CONCURRENCY,
			claimLeaseSeconds: config.DLQ_LEASE_SECONDS,
			crmTimeoutMs: config.CRM_TIMEOUT_MS,
			logger,
		};
		// the background work (docs/architecture.md): delivery of queued leads, DLQ retries and
		// outcome events go on whether n8n is up or not; every claim is leased, so processors share it
		const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
		const loops: Loop[] = [];
		// stopped first: a pass in progress still has the CRM client and the database
		const stopLoops = async () => {
			await Promise.all(loops.splice(0).map((loop) => loop.stop()));
		};
		closers.unshift(stopLoops);
		const deliverer = startDeliverer(delivery, {
			owner,
			batch: config.DELIVERY_BATCH,
			concurrency: config.DELIVERY_CONCURRENCY,
			crmTimeoutMs: config.CRM_TIMEOUT_MS,
			pollMs: config.DELIVERY_POLL_MS,
			lingerMs: config.DELIVERY_LINGER_MS,
			logger,
		});
		loops.push(deliverer);
		delivery.queued = () => deliverer.wake();
		if (config.DLQ_RETRY_INTERVAL_SECONDS > 0) {
			loops.push(
				startLoop(
					async () => {
						const summary = await retryDue(retry, config.DLQ_RETRY_BATCH);
						if (summary.claimed + summary.recovered > 0) {
							const { claimed, resolved, retried, dead, recovered } = summary;
							logger.info({ claimed, resolved, retried, dead, recovered }, 'DLQ retry pass');
						}
						return summary.claimed === config.DLQ_RETRY_BATCH;
					},
					{ pollMs: config.DLQ_RETRY_INTERVAL_SECONDS * 1000, logger, name: 'dlq-retry' },
				),
			);
		}
		const dispatcher = config.EVENTS_URL
			? startDispatcher({
					sql,
					url: config.EVENTS_URL,
					types: config.EVENTS_TYPES,
					keys: signingKeys(
						[config.EVENTS_SECRET, config.EVENTS_SECRET_PREVIOUS].filter(
							(secret): secret is string => secret !== undefined,
						),
					),
					owner,
					batch: config.EVENTS_BATCH,
					concurrency: config.EVENTS_CONCURRENCY,
					timeoutMs: config.EVENTS_TIMEOUT_MS,
					backoffSeconds: config.EVENTS_BACKOFF_SECONDS,
					pollMs: config.EVENTS_POLL_MS,
					deadlineMs: config.DB_QUERY_TIMEOUT_MS,
					now,
					logger,
				})
			: null;
		if (dispatcher) loops.push(dispatcher);
		loops.push(
			startEventPruning({
				sql,
				retentionHours: config.EVENTS_RETENTION_HOURS,
				pendingToo: !config.EVENTS_URL,
				now,
				logger,
			}),
		);

		const crmEraser = createCrmEraser({
			url: config.CRM_URL,
			token: config.CRM_TOKEN,
			timeoutMs: config.CRM_TIMEOUT_MS,
		});
		closers.push(() => crmEraser.close());
		const privacy: PrivacyDeps = {
			sql: privacySql,
			cipher: delivery.cipher,
			emailHashSalt: config.EMAIL_HASH_SALT,
			alertsDir: config.ALERTS_DIR,
			crm: crmEraser,
			now,
			logger,
			// an intake in flight or a claimed retry may still reach the CRM until its lease ends
			inFlightSeconds: Math.max(config.ACCEPTED_LEASE_SECONDS, config.DLQ_LEASE_SECONDS),
			crmBackoffSeconds: config.DLQ_BACKOFF_SECONDS,
			scanBatch: 500,
			phoneRegions: async () => ({
				current: rules.current().duplicates.default_phone_region,
				byVersion: await phoneRegionOfVersions(
					sql,
					DEFAULT_DUPLICATE_SETTINGS.default_phone_region,
				),
			}),
		};
		const crmErasures = startCrmErasures(privacy, config.PRIVACY_CRM_ERASE_SECONDS * 1000);
		closers.push(() => crmErasures.stop());
		const retention: RetentionDeps = {
			sql: privacySql,
			alertsDir: config.ALERTS_DIR,
			now,
			logger,
			rawLeadDays: config.RETENTION_RAW_LEAD_DAYS,
			runDays: config.RETENTION_RUN_DAYS,
			alertFileDays: config.RETENTION_ALERT_FILE_DAYS,
			batch: config.RETENTION_BATCH,
			maxBatches: 20,
		};
		const retentionPass = startRetention(retention, config.RETENTION_PASS_SECONDS * 1000);
		closers.push(() => retentionPass.stop());

		const signatureFailures = signatureFailureLog(sql, {
			bucketSeconds: config.SIGNATURE_FAILURE_BUCKET_SECONDS,
			flushSeconds: 5,
			now,
			logger,
		});
		closers.push(() => signatureFailures.close());
		const shared =
			config.RATE_LIMIT_STORE === 'postgres'
				? {
						sql,
						deadlineMs: config.DB_QUERY_TIMEOUT_MS,
						onFailure: config.RATE_LIMIT_STORE_FAILURE,
						logger,
						now,
					}
				: undefined;
		const limit = (perMinute: number, what: string, name: RateLimitName) =>
			rateLimit(perMinute, what, name, shared);
		const signerLimit = limit(config.RATE_LIMIT_PER_MINUTE, 'leads from one signer', 'signer');
		const sourceLimit = limit(
			config.SOURCE_RATE_LIMIT_PER_MINUTE,
			'leads from one lead source',
			'source',
		);
		const refusalLimit = limit(
			config.REFUSED_PER_MINUTE,
			'refused signatures from one client',
			'refused-signature',
		);
		const refusedTokens = limit(
			config.REFUSED_TOKENS_PER_MINUTE,
			'refused service tokens from one client',
			'refused-token',
		);
		closers.push(
			() => signerLimit.close(),
			() => sourceLimit.close(),
			() => refusalLimit.close(),
			() => refusedTokens.close(),
		);
		if (shared) {
			const cleanup = startRateLimitCleanup(sql, logger, now);
			closers.push(() => cleanup.stop());
		}

		const alertsDeps = { sql, alertsDir: config.ALERTS_DIR, now, logger };
		const alertsIndex = createAlertsPass(alertsDeps);
		const loud = refusalLogBudget(config.REFUSED_PER_MINUTE, now);
		const app = createApp({
			sql,
			logger,
			loud,
			metrics,
			health: { sql, auditIntervalSeconds: config.HEALTH_AUDIT_INTERVAL_SECONDS },
			intake: {
				intake: delivery,
				signingKeys: signingKeys(config.WEBHOOK_HMAC_SECRET),
				answerOnStoreKeys: answerOnStoreKeys(signingKeys(config.WEBHOOK_HMAC_SECRET)),
				legacySignatures: config.WEBHOOK_LEGACY_SIGNATURE,
				unsignedSource: config.WEBHOOK_UNSIGNED_SOURCE,
				maxSkewSeconds: config.WEBHOOK_MAX_SKEW_SECONDS,
				bodyLimitBytes: config.BODY_LIMIT_BYTES,
				signerLimit,
				sourceLimit,
				refusalLimit,
				emailHashSalt: config.EMAIL_HASH_SALT,
				faultInjection: config.FAULT_INJECTION,
				signatureFailures,
				countLead: metrics.countLead,
			},
			operator: {
				sql,
				emailHashSalt: config.EMAIL_HASH_SALT,
				serviceToken: config.SERVICE_TOKEN,
				refusedTokens,
				retryBatchSize: config.DLQ_RETRY_BATCH,
				retry,
				events: { urlSet: Boolean(config.EVENTS_URL), wake: () => dispatcher?.wake() },
				rules: { sql, live: rules },
				alerts: { ...alertsDeps, refreshIndex: () => alertsIndex.refreshIndex() },
				privacy,
				retention,
				kpi: {
					sql,
					alertsDir: config.ALERTS_DIR,
					now,
					logger,
					ledger: (range) =>
						ledger(
							sql,
							range,
							new Date(now().getTime() - config.ACCEPTED_LEASE_SECONDS * 1000),
							now(),
						),
				},
			},
		});
		const server = await listen(app, config, logger, loud);
		const { port } = server.address() as AddressInfo;
		const alertsPass = startAlertsPass(alertsDeps, config.ALERTS_PASS_SECONDS * 1000);
		return {
			url: `http://127.0.0.1:${port}`,
			sql,
			flush: () => signatureFailures.flush(),
			async close() {
				// the loops hear the stop at once, while the requests in flight are answered: a
				// deliverer's batch not yet started goes back to the queue without waiting for them
				const loopsStopped = stopLoops().then(
					() => null,
					(error: unknown) => ({ error }),
				);
				await new Promise<void>((resolve) => {
					server.close(() => resolve());
					server.closeIdleConnections();
				});
				const failed = await loopsStopped;
				if (failed) throw failed.error;
				await alertsPass.stop();
				for (const close of closers.splice(0)) await close();
				await Promise.all([sql.end({ timeout: 5 }), privacySql.end({ timeout: 5 })]);
			},
		};
	} catch (error) {
		for (const close of closers.splice(0)) await Promise.resolve(close()).catch(() => undefined);
		await Promise.all([sql.end({ timeout: 1 }), privacySql.end({ timeout: 1 })]);
		throw error;
	}
}

/**
 * Timeouts on every socket: a client that sends its headers or its body too slowly is cut off
 * (408) instead of holding a connection (docs/hostile-input.md, "Server timeouts"). node checks
 * them every `connectionsCheckingInterval` (30 s by default, which let a slow client hold a
 * connection up to 30 s past its timeout), so they are checked every 100 ms: a client is cut off
 * within 0.1 s of its timeout. An idle keep-alive connection is closed by node one second after
 * the `Keep-Alive: timeout=5` its answers advertise (6 s), so a client that honours the
 * advertised time never sends into a closing connection.
 */
/** How often node looks for connections past their headers or request timeout. */
export const TIMEOUT_CHECK_MS = 100;

function listen(
	app: RequestListener,
	config: Config,
	logger: Logger,
	loud: RefusalLogBudget,
): Promise<Server> {
	return new Promise((resolve, reject) => {
		const server = createServer(
			{
				headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
				requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
				connectionsCheckingInterval: TIMEOUT_CHECK_MS,
				maxHeaderSize: 16 * 1024,
				// app.ts refuses a request without Host itself, in JSON
				requireHostHeader: false,
				keepAliveTimeout: 5000,
			},
			app,
		);
		server.on('clientError', answerClientError(logger, loud));
		server.on('checkExpectation', refuseExpectation(logger, loud));
		server.once('error', reject);
		server.listen(config.PORT, config.HOST, () => resolve(server));
	});
}
