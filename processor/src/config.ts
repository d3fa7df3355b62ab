import { z } from 'zod';
import { BACKOFF_PRESETS, type BackoffPreset } from './crm/backoff.js';
import { defaultMappingFile, defaultMigrationsDir, defaultRulesFile } from './paths.js';
import { OUTCOME_EVENT_TYPES } from './vocabulary.js';

const commaList = z.string().transform((value) =>
	value
		.split(',')
		.map((item) => item.trim())
		.filter(Boolean),
);

const flag = z
	.enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'])
	.transform((value) => ['1', 'true', 'on', 'yes'].includes(value));

/**
 * A signing secret: at least 16 characters; a `whsec_` one (Standard Webhooks) is the base64 of
 * its key bytes, so it must be canonical base64 of at least 16 bytes (a base64 decoder skips what
 * it cannot read: `whsec_!!!!!!!!!!` would be an empty key, which anyone can sign with).
 */
const signingSecret = z
	.string()
	// a secret read from a file often ends in a newline; the n8n credentials trim theirs too
	.trim()
	.min(16)
	.refine(
		(secret) => {
			if (!secret.startsWith('whsec_')) return true;
			const encoded = secret.slice('whsec_'.length);
			const key = Buffer.from(encoded, 'base64');
			return key.length >= 16 && key.toString('base64') === encoded;
		},
		{ message: 'a whsec_ secret must be followed by canonical base64 of at least 16 bytes' },
	);

const seconds = z.coerce.number().int().positive();
const milliseconds = z.coerce.number().int().positive();

/** A named schedule (`standard`, `seed`) or delays in seconds, comma-separated. */
const backoffSchedule = z.string().transform((value, context) => {
	const name = value.trim();
	if (name in BACKOFF_PRESETS) return [...BACKOFF_PRESETS[name as BackoffPreset]];
	const delays = name.split(',').map((item) => Number(item.trim()));
	if (delays.length > 0 && delays.every((delay) => Number.isInteger(delay) && delay > 0))
		return delays;
	context.addIssue({
		code: 'custom',
		message: `a schedule name (${Object.keys(BACKOFF_PRESETS).join(', ')}) or positive whole seconds, comma-separated`,
	});
	return z.NEVER;
});

const EnvSchema = z.object({
	DATABASE_URL: z.string().min(1, 'set it to a postgres:// URL'),
	PORT: z.coerce.number().int().min(0).max(65535).default(8000),
	HOST: z.string().default('0.0.0.0'),
	WEBHOOK_HMAC_SECRET: commaList.pipe(z.array(signingSecret).min(1, 'at least one secret')),
	WEBHOOK_MAX_SKEW_SECONDS: seconds.default(300),
	WEBHOOK_LEGACY_SIGNATURE: flag.default(true),
	/**
	 * Take leads whose signature does not cover X-Source, as Lead Intake nodes sent them before
	 * sources were signed; off once every n8n runs a node that signs it.
	 */
	WEBHOOK_UNSIGNED_SOURCE: flag.default(true),
	EMAIL_HASH_SALT: z.string().min(8),
	LEAD_ENCRYPTION_KEY: z.string().min(16),
	SERVICE_TOKEN: z.string().min(16),
	/** The CRM's upsert URL (default: the mock CRM of the local stack). */
	CRM_URL: z.url().optional(),
	/** CRM_URL's old name: still read, with a warning at start (renamedSettingWarnings). */
	MOCK_CRM_URL: z.url().optional(),
	CRM_TOKEN: z.string().min(1),
	CRM_TIMEOUT_MS: z.coerce.number().int().positive().default(5000),
	FAULT_INJECTION: flag.default(false),
	BODY_LIMIT_BYTES: z.coerce
		.number()
		.int()
		.positive()
		.default(256 * 1024),
	RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(60_000),
	REFUSED_PER_MINUTE: z.coerce.number().int().positive().default(120),
	REFUSED_TOKENS_PER_MINUTE: z.coerce.number().int().positive().default(30),
	/** Leads per minute from one lead source (X-Source), counted over every processor. */
	SOURCE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
	/** Where the rate limits are counted: `postgres` (shared by every processor) or `memory`. */
	RATE_LIMIT_STORE: z.enum(['postgres', 'memory']).default('postgres'),
	/** When the shared store fails: `open` (each process counts alone) or `closed` (503). */
	RATE_LIMIT_STORE_FAILURE: z.enum(['open', 'closed']).default('open'),
	SIGNATURE_FAILURE_BUCKET_SECONDS: seconds.default(60),
	DLQ_BACKOFF_SECONDS: backoffSchedule.default(() => [...BACKOFF_PRESETS.standard]),
	DLQ_JITTER_RATIO: z.coerce.number().min(0).max(1).default(0.1),
	DLQ_MAX_RETRIES: z.coerce.number().int().min(1).optional(),
	DLQ_LEASE_SECONDS: seconds.default(120),
	DLQ_RETRY_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
	DLQ_RETRY_BATCH: z.coerce.number().int().min(1).max(10_000).default(500),
	ACCEPTED_LEASE_SECONDS: seconds.optional(),
	/** Queued leads (answered on store) claimed and delivered at once by one processor. */
	DELIVERY_BATCH: z.coerce.number().int().min(1).max(1000).default(64),
	DELIVERY_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
	/** How often the queue is looked at for leads another processor stored (its own: at once). */
	DELIVERY_POLL_MS: milliseconds.default(1000),
	/**
	 * How long a deliverer waits after being woken before it claims, so that the leads stored
	 * meanwhile go in the same claim and the same processed write (0: claim at once).
	 */
	DELIVERY_LINGER_MS: z.coerce.number().int().min(0).max(5000).default(50),
	/** How often the processor runs retry-due itself (0: only when called, by n8n's dlq-retry). */
	DLQ_RETRY_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(3600).default(15),
	/** Where outcome events are POSTed (n8n's Lead Outcome Trigger); unset: none are sent. */
	EVENTS_URL: z.url().optional(),
	EVENTS_SECRET: signingSecret.optional(),
	/** The secret being retired during a rotation: events carry a signature with each. */
	EVENTS_SECRET_PREVIOUS: signingSecret.optional(),
	/**
	 * The event types the receiver subscribes to (comma-separated; default every type): others
	 * are dropped from the outbox unsent. The shipped lead-outcomes workflow picks failed, dead
	 * and resolved.
	 */
	EVENTS_TYPES: commaList
		.pipe(z.array(z.enum(OUTCOME_EVENT_TYPES)).min(1, 'name at least one event type'))
		.default([...OUTCOME_EVENT_TYPES]),
	/**
	 * Longer than the receiving workflow can run (the shipped one waits up to 30 s for Jira): an
	 * attempt given up while n8n still runs it is sent again, and n8n runs it a second time.
	 */
	EVENTS_TIMEOUT_MS: milliseconds.default(90_000),
	/** Waits after the 1st, 2nd, … refused attempt; the last repeats for as long as it takes. */
	EVENTS_BACKOFF_SECONDS: backoffSchedule.default(() => [5, 30, 120, 600, 1800]),
	EVENTS_BATCH: z.coerce.number().int().min(1).max(1000).default(100),
	EVENTS_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
	EVENTS_POLL_MS: milliseconds.default(1000),
	/** Sent events (and, without EVENTS_URL, unsent ones) are deleted after this. */
	EVENTS_RETENTION_HOURS: z.coerce
		.number()
		.int()
		.min(1)
		.max(24 * 365)
		.default(72),
	CRM_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
	CRM_BREAKER_COOLDOWN_SECONDS: seconds.default(30),
	CRM_MAX_PAUSE_SECONDS: seconds.default(3600),
	HEALTH_AUDIT_INTERVAL_SECONDS: seconds.default(10),
	HTTP_HEADERS_TIMEOUT_MS: milliseconds.default(10_000),
	HTTP_REQUEST_TIMEOUT_MS: milliseconds.default(30_000),
	DB_QUERY_TIMEOUT_MS: milliseconds.default(1500),
	DB_STATEMENT_TIMEOUT_MS: milliseconds.default(30_000),
	ALERTS_DIR: z.string().default('./alerts'),
	/** How often follow-up alert files and alerts/index.md are brought up to date (0: never). */
	ALERTS_PASS_SECONDS: z.coerce.number().int().min(0).max(86_400).default(15),
	/** How often pending CRM erasures are asked of the CRM (0: never; docs/privacy.md). */
	/** Retention windows in days (docs/privacy.md, "How long records are kept"); 0: kept forever. */
	RETENTION_RAW_LEAD_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
	RETENTION_RUN_DAYS: z.coerce.number().int().min(0).max(36_500).default(395),
	RETENTION_ALERT_FILE_DAYS: z.coerce.number().int().min(0).max(36_500).default(90),
	/** How often the retention pass runs (0: never here; another processor does it). */
	RETENTION_PASS_SECONDS: z.coerce.number().int().min(0).max(604_800).default(86_400),
	/** Records per retention batch: each batch is one short transaction. */
	RETENTION_BATCH: z.coerce.number().int().min(1).max(10_000).default(500),
	PRIVACY_CRM_ERASE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(30),
	/** The first rules version is read from these files (while no version is stored). */
	RULES_FILE: z.string().default(defaultRulesFile),
	CRM_MAPPING_FILE: z.string().default(defaultMappingFile),
	/** A new rules version is announced at once; this poll finds it should the announcement be lost. */
	RULES_POLL_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
	MIGRATIONS_DIR: z.string().default(defaultMigrationsDir),
	DB_POOL_SIZE: z.coerce.number().int().positive().default(16),
	DB_WRITE_BATCH: z.coerce.number().int().min(1).max(500).default(64),
	DB_WRITE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
	/** Processes serving the one port (Node's cluster module); 1 serves from the main process. */
	PROCESSOR_WORKERS: z.coerce.number().int().min(1).max(64).default(1),
	/** Crash tests only, and only with FAULT_INJECTION on (intake-service.ts). */
	TEST_PAUSE_AFTER_CRM_KEY_PREFIX: z.string().min(1).optional(),
	/** Crash tests only, and only with FAULT_INJECTION on: held after the run's insert, before its same-person check. */
	TEST_PAUSE_BEFORE_SAME_PERSON_KEY_PREFIX: z.string().min(1).optional(),
	LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

type Env = z.infer<typeof EnvSchema>;

/** Every variable the processor reads (docs/operations.md lists each one; a test holds it to that). */
export const SETTING_NAMES = Object.keys(EnvSchema.shape);

const DEFAULT_CRM_URL = 'http://127.0.0.1:9001/leads/upsert';

/** Settings that were renamed, by their old name: the old name is still read, with a warning. */
const RENAMED_SETTINGS = { MOCK_CRM_URL: 'CRM_URL' } as const;

/** The environment with its derived defaults filled in (renamed settings under their new name). */
export type Config = Omit<
	Env,
	'DLQ_MAX_RETRIES' | 'ACCEPTED_LEASE_SECONDS' | 'CRM_URL' | keyof typeof RENAMED_SETTINGS
> & {
	CRM_URL: string;
	/** Retries before an item is dead: by default one per step of the schedule. */
	DLQ_MAX_RETRIES: number;
	/**
	 * How long an accepted run belongs to its request before the recovery takes it: 3 CRM
	 * timeouts, and at least a CRM call and the write after it.
	 */
	ACCEPTED_LEASE_SECONDS: number;
};

export class ConfigError extends Error {}

/**
 * How long a lead answered on delivery waits for an older lead of its CRM record still on its
 * way (policy update) before it is queued behind it: a CRM timeout at most, and never so long
 * that its own call and write would outlast its lease. The wait looks at the clock between
 * queries, so its last query, begun just before the wait ends, may take one more deadline.
 */
export function turnWaitMs(config: Config): number {
	const leaseLeftMs =
		config.ACCEPTED_LEASE_SECONDS * 1000 -
		callAndProcessedWriteMs(config) -
		config.DB_QUERY_TIMEOUT_MS;
	return Math.max(0, Math.min(config.CRM_TIMEOUT_MS, leaseLeftMs));
}

/**
 * What an accepted run's lease must outlast, from received_at (the start of its insert): the
 * insert itself, the CRM call and the processed write, which may wait its deadline to join a group
 * commit, run, and run once more alone when its group failed (write-batcher.ts).
 */
function callAndProcessedWriteMs(config: Env): number {
	return config.CRM_TIMEOUT_MS + 4 * config.DB_QUERY_TIMEOUT_MS;
}

/**
 * Settings that contradict each other, each named with the other: the processor refuses to start
 * with them rather than misbehave later (a lease that runs out in the middle of the work it
 * covers re-delivers a lead during its own CRM call and tells the client it failed).
 */
function contradictions(config: Env, acceptedLeaseSeconds: number): string[] {
	const problems: string[] = [];
	for (const pause of [
		'TEST_PAUSE_AFTER_CRM_KEY_PREFIX',
		'TEST_PAUSE_BEFORE_SAME_PERSON_KEY_PREFIX',
	] as const) {
		if (config[pause] && !config.FAULT_INJECTION) {
			problems.push(`${pause}: only with FAULT_INJECTION=on (it is for crash tests)`);
		}
	}
	if (config.HTTP_HEADERS_TIMEOUT_MS > config.HTTP_REQUEST_TIMEOUT_MS) {
		// node:http would refuse it at start with a stack trace
		problems.push(
			'HTTP_HEADERS_TIMEOUT_MS: must not be longer than HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)',
		);
	}
	// what a DLQ claim's lease must outlast: one CRM call and the write that records its outcome
	const callAndWriteMs = config.CRM_TIMEOUT_MS + config.DB_QUERY_TIMEOUT_MS;
	const covers = `CRM_TIMEOUT_MS (${config.CRM_TIMEOUT_MS}) + DB_QUERY_TIMEOUT_MS (${config.DB_QUERY_TIMEOUT_MS}) = ${callAndWriteMs} ms`;
	const processedMs = callAndProcessedWriteMs(config);
	if (acceptedLeaseSeconds * 1000 < processedMs) {
		problems.push(
			`ACCEPTED_LEASE_SECONDS (${acceptedLeaseSeconds}): shorter than the insert, a CRM call and the processed write after it, CRM_TIMEOUT_MS (${config.CRM_TIMEOUT_MS}) + 4 × DB_QUERY_TIMEOUT_MS (${config.DB_QUERY_TIMEOUT_MS}) = ${processedMs} ms; an accepted lead would be recovered and re-delivered during its own call`,
		);
	}
	if (config.DLQ_LEASE_SECONDS * 1000 < callAndWriteMs) {
		problems.push(
			`DLQ_LEASE_SECONDS (${config.DLQ_LEASE_SECONDS}): shorter than a CRM call and the write after it, ${covers}; a claimed DLQ item could be claimed again during its own re-delivery`,
		);
	}
	if (config.EVENTS_URL && !config.EVENTS_SECRET) {
		problems.push('EVENTS_URL: set EVENTS_SECRET too (outcome events are always signed)');
	}
	if (config.EVENTS_SECRET_PREVIOUS && !config.EVENTS_SECRET) {
		problems.push(
			'EVENTS_SECRET_PREVIOUS: only beside EVENTS_SECRET (the secret that replaces it)',
		);
	}
	if (config.CRM_BREAKER_COOLDOWN_SECONDS > config.CRM_MAX_PAUSE_SECONDS) {
		problems.push(
			`CRM_BREAKER_COOLDOWN_SECONDS (${config.CRM_BREAKER_COOLDOWN_SECONDS}): longer than CRM_MAX_PAUSE_SECONDS (${config.CRM_MAX_PAUSE_SECONDS}), the longest pause of CRM calls; the cooldown would be cut short`,
		);
	}
	return problems;
}

/** Reads the processor's configuration from the environment; names each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
	const parsed = EnvSchema.safeParse(env);
	if (parsed.success) {
		const { MOCK_CRM_URL: oldCrmUrl, ...config } = parsed.data;
		// three CRM timeouts, and never less than the insert, a call and its processed write
		const acceptedLeaseSeconds =
			config.ACCEPTED_LEASE_SECONDS ??
			Math.ceil(Math.max(3 * config.CRM_TIMEOUT_MS, callAndProcessedWriteMs(config)) / 1000);
		const problems = contradictions(config, acceptedLeaseSeconds);
		if (problems.length > 0) {
			throw new ConfigError(
				`Invalid processor configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`,
			);
		}
		return {
			...config,
			CRM_URL: config.CRM_URL ?? oldCrmUrl ?? DEFAULT_CRM_URL,
			DLQ_MAX_RETRIES: config.DLQ_MAX_RETRIES ?? config.DLQ_BACKOFF_SECONDS.length,
			ACCEPTED_LEASE_SECONDS: acceptedLeaseSeconds,
		};
	}
	const problems = parsed.error.issues.map(
		(issue) => `  ${issue.path.join('.')}: ${issue.message}`,
	);
	throw new ConfigError(`Invalid processor configuration:\n${problems.join('\n')}`);
}

/** One line per renamed setting still set under its old name, for the log at start. */
export function renamedSettingWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
	return Object.entries(RENAMED_SETTINGS)
		.filter(([old]) => env[old] !== undefined)
		.map(([old, name]) =>
			env[name] === undefined
				? `${old} is deprecated: rename it to ${name} (read as ${name} until then)`
				: `${old} is deprecated and ignored: ${name} is set too and wins; remove ${old}`,
		);
}
