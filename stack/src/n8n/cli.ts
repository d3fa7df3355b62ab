import type { N8nInstall } from './install.js';
import { run } from './install.js';

export interface N8nEnvironment {
	userFolder: string;
	/** The Postgres server (a URL with rights on `database`). */
	serverUrl: string;
	database: string;
	port: number;
	alertsDir: string;
	encryptionKey: string;
	/** n8n's internal task broker (one per n8n process on a machine); n8n's default 5679 if unset. */
	brokerPort?: number;
	/** The Node.js n8n runs on: its task runner is started as `node` from PATH, so it comes first. */
	nodeBinDir?: string;
	/**
	 * `production` (default; compose, benchmarks, tests): N8N_PRODUCTION_SETTINGS; `development`
	 * (`npm start`): N8N_DEVELOPMENT_SETTINGS; `n8n-defaults`: n8n's own (benchmarks).
	 */
	tuning?: N8nTuning;
	/** Queue mode: executions go through Redis to workers. */
	queue?: QueueSettings;
}

export type N8nTuning = 'production' | 'development' | 'n8n-defaults';

export interface QueueSettings {
	/** redis://[user:password@]host:port[/db] */
	redisUrl: string;
	/** Prefix of every Redis key and channel: several deployments (test runs) can share one Redis. */
	prefix: string;
}

/**
 * What a production n8n runs with; docs/scaling.md explains each setting, what it buys and what it
 * costs. Measured with `npm run bench:n8n` (tuned against untuned floor in the same run).
 */
export const N8N_PRODUCTION_SETTINGS = {
	// n8n's secure `vm` expression engine gives every execution a fresh V8 isolate; created lazily,
	// only an execution that evaluates an expression pays for one
	N8N_EXPRESSION_ENGINE: 'vm',
	N8N_EXPRESSION_ENGINE_LAZY_ACQUIRE: 'true',
	// successful production executions are not stored (the processor's runs and audit events are
	// the record of every lead); failed ones are, for the editor's execution list
	EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none',
	EXECUTIONS_DATA_SAVE_ON_ERROR: 'all',
	EXECUTIONS_DATA_SAVE_ON_PROGRESS: 'false',
	EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS: 'true',
	EXECUTIONS_DATA_PRUNE: 'true',
	EXECUTIONS_DATA_MAX_AGE: '168',
	EXECUTIONS_DATA_PRUNE_MAX_COUNT: '10000',
	N8N_LOG_LEVEL: 'warn',
	DB_POSTGRESDB_POOL_SIZE: '8',
} as const;

/**
 * `npm start`: the production settings, except that successful executions are kept so an operator
 * learning the workflow can open one in the editor; pruned after 3 days or beyond 2,000, so a
 * development database stays small. README.md (Tuning) says which is which and why.
 */
export const N8N_DEVELOPMENT_SETTINGS = {
	...N8N_PRODUCTION_SETTINGS,
	EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all',
	EXECUTIONS_DATA_MAX_AGE: '72',
	EXECUTIONS_DATA_PRUNE_MAX_COUNT: '2000',
} as const;

const TUNING: Record<N8nTuning, Readonly<Record<string, string>>> = {
	production: N8N_PRODUCTION_SETTINGS,
	development: N8N_DEVELOPMENT_SETTINGS,
	'n8n-defaults': {},
};

/** Worker processes of a queue-mode deployment run this many executions at once. */
export const N8N_WORKER_CONCURRENCY = 10;

/** How n8n runs here (docs/scaling.md): on Postgres, offline, files only in alerts/, tuned. */
export function n8nEnv(config: N8nEnvironment): NodeJS.ProcessEnv {
	const server = new URL(config.serverUrl);
	return {
		PATH: config.nodeBinDir ? `${config.nodeBinDir}:${process.env.PATH}` : process.env.PATH,
		HOME: process.env.HOME,
		N8N_USER_FOLDER: config.userFolder,
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: server.hostname,
		DB_POSTGRESDB_PORT: server.port || '5432',
		DB_POSTGRESDB_DATABASE: config.database,
		DB_POSTGRESDB_USER: decodeURIComponent(server.username),
		DB_POSTGRESDB_PASSWORD: decodeURIComponent(server.password),
		// n8n's production mode, as in n8n's own image: an HTTP error answer carries no stack trace
		// and no install path (n8n adds `stacktrace` to every error answer when NODE_ENV is unset)
		NODE_ENV: 'production',
		N8N_PORT: String(config.port),
		N8N_LISTEN_ADDRESS: '127.0.0.1',
		N8N_ENCRYPTION_KEY: config.encryptionKey,
		N8N_DIAGNOSTICS_ENABLED: 'false',
		N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
		N8N_TEMPLATES_ENABLED: 'false',
		N8N_PERSONALIZATION_ENABLED: 'false',
		N8N_SECURE_COOKIE: 'false',
		// the shipped workflows write no files (the processor writes the alert files) and read no
		// environment variable; an Alert Router set to write files itself may write here only
		N8N_RESTRICT_FILE_ACCESS_TO: config.alertsDir,
		N8N_BLOCK_ENV_ACCESS_IN_NODE: 'true',
		...(config.brokerPort ? { N8N_RUNNERS_BROKER_PORT: String(config.brokerPort) } : {}),
		...TUNING[config.tuning ?? 'production'],
		...(config.queue ? queueEnv(config.queue) : {}),
	};
}

/** n8n's queue mode on Redis (the same names compose uses). */
export function queueEnv(queue: QueueSettings): Record<string, string> {
	const url = new URL(queue.redisUrl);
	if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
		throw new Error(`REDIS_URL must be a redis:// URL, not ${url.protocol}//…`);
	const db = url.pathname.replace(/^\//, '');
	return {
		EXECUTIONS_MODE: 'queue',
		QUEUE_BULL_REDIS_HOST: url.hostname,
		QUEUE_BULL_REDIS_PORT: url.port || '6379',
		...(db ? { QUEUE_BULL_REDIS_DB: db } : {}),
		...(url.username ? { QUEUE_BULL_REDIS_USERNAME: decodeURIComponent(url.username) } : {}),
		...(url.password ? { QUEUE_BULL_REDIS_PASSWORD: decodeURIComponent(url.password) } : {}),
		...(url.protocol === 'rediss:' ? { QUEUE_BULL_REDIS_TLS: 'true' } : {}),
		QUEUE_BULL_PREFIX: queue.prefix,
		// n8n's own keys and pub/sub channels (commands between main and workers)
		N8N_REDIS_KEY_PREFIX: queue.prefix,
		// leads reach the webhook processes; main serves the editor, the API and the schedules
		N8N_DISABLE_PRODUCTION_MAIN_PROCESS: 'true',
		// a worker's /healthz and /healthz/readiness (its port is set per worker)
		QUEUE_HEALTH_CHECK_ACTIVE: 'true',
	};
}

/** One n8n CLI command (import, export, publish), run while n8n itself is stopped. */
export function n8nCommand(
	install: N8nInstall,
	env: NodeJS.ProcessEnv,
	args: string[],
	log: (line: string) => void,
): Promise<string> {
	return run(install.node, [install.n8nBin, ...args], env.N8N_USER_FOLDER!, log, env);
}
