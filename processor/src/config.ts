import { z } from 'zod';
import { defaultMappingFile, defaultMigrationsDir, defaultRulesFile } from './paths.js';

const commaList = z.string().transform((value) =>
	value
		.split(',')
		.map((item) => item.trim())
		.filter(Boolean),
);

const flag = z
	.enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'])
	.transform((value) => ['1', 'true', 'on', 'yes'].includes(value));

const seconds = z.coerce.number().int().positive();

const EnvSchema = z.object({
	DATABASE_URL: z.string().min(1, 'set it to a postgres:// URL'),
	PORT: z.coerce.number().int().min(0).max(65535).default(8000),
	HOST: z.string().default('0.0.0.0'),
	WEBHOOK_HMAC_SECRET: commaList.pipe(z.array(z.string().min(16)).min(1, 'at least one secret')),
	WEBHOOK_MAX_SKEW_SECONDS: seconds.default(300),
	EMAIL_HASH_SALT: z.string().min(8),
	LEAD_ENCRYPTION_KEY: z.string().min(16),
	SERVICE_TOKEN: z.string().min(16),
	MOCK_CRM_URL: z.url().default('http://127.0.0.1:9001/leads/upsert'),
	CRM_TOKEN: z.string().min(1),
	CRM_TIMEOUT_MS: z.coerce.number().int().positive().default(5000),
	FAULT_INJECTION: flag.default(false),
	BODY_LIMIT_BYTES: z.coerce
		.number()
		.int()
		.positive()
		.default(256 * 1024),
	RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(6000),
	SIGNATURE_FAILURE_BUCKET_SECONDS: seconds.default(60),
	DLQ_BACKOFF_SECONDS: commaList
		.transform((items) => items.map(Number))
		.pipe(z.array(z.number().int().positive()).min(1))
		.default([30, 60, 120, 240, 480]),
	DLQ_JITTER_RATIO: z.coerce.number().min(0).max(1).default(0.1),
	DLQ_MAX_RETRIES: z.coerce.number().int().min(1).default(5),
	DLQ_LEASE_SECONDS: seconds.default(120),
	DLQ_RETRY_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
	DLQ_RETRY_BATCH: z.coerce.number().int().min(1).max(10_000).default(500),
	ALERTS_DIR: z.string().default('./alerts'),
	RULES_FILE: z.string().default(defaultRulesFile),
	CRM_MAPPING_FILE: z.string().default(defaultMappingFile),
	MIGRATIONS_DIR: z.string().default(defaultMigrationsDir),
	DB_POOL_SIZE: z.coerce.number().int().positive().default(16),
	DB_WRITE_BATCH: z.coerce.number().int().min(1).max(500).default(64),
	DB_WRITE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
	/** Processes serving the one port (Node's cluster module); 1 serves from the main process. */
	PROCESSOR_WORKERS: z.coerce.number().int().min(1).max(64).default(1),
	LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type Config = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {}

/** Reads the processor's configuration from the environment; names each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
	const parsed = EnvSchema.safeParse(env);
	if (parsed.success) return parsed.data;
	const problems = parsed.error.issues.map(
		(issue) => `  ${issue.path.join('.')}: ${issue.message}`,
	);
	throw new ConfigError(`Invalid processor configuration:\n${problems.join('\n')}`);
}
