import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { signingSecret, stackSettings, type StackSettings } from './dev-settings.js';
import type { N8nTuning } from './n8n/cli.js';
import { startN8nDeployment, type N8nDeployment } from './n8n/deployment.js';
import { ensureN8n, ensureNode } from './n8n/install.js';
import { freePort, listensFree } from './ports.js';
import { deleteRedisKeys } from './redis.js';
import { createDatabase, dropDatabase, embeddedAdminUrl, ensureDatabase } from './postgres.js';
import {
	alertsDir as defaultAlertsDir,
	dataDir,
	mocksMain,
	n8nUserFolder as defaultN8nUserFolder,
	postgresServiceMain,
	processorMain,
} from './repo.js';
import {
	answersOk,
	ServiceError,
	startService,
	type Service,
	type ServiceSpec,
} from './services.js';

/** The Lead Outcome Trigger's path in workflows/lead-outcomes.json: where the processor's events go. */
export const EVENTS_PATH = 'lead-outcomes';
/** The event types that workflow's trigger picks: the processor sends only these (EVENTS_TYPES). */
export const SHIPPED_EVENT_TYPES = 'lead.failed,lead.dead,lead.resolved';

export interface StackPorts {
	processor: number;
	crm: number;
	jiraConfluence: number;
	/** The embedded Postgres (unused when DATABASE_URL is set). */
	postgres: number;
	/** n8n's editor and API (and its webhooks in regular mode). */
	n8n: number;
	/** The n8n webhook process of the scaled stack (where leads go there). */
	n8nWebhook: number;
}

export const DEFAULT_PORTS: StackPorts = {
	processor: 8000,
	crm: 9001,
	jiraConfluence: 9002,
	postgres: 54329,
	n8n: 5678,
	n8nWebhook: 5680,
};

/** The scaled topology: n8n in queue mode and processor replicas behind one address. */
interface ScaleOptions {
	/** redis://host:port[/db]; the machines here run one at 127.0.0.1:6379. */
	redisUrl: string;
	/** Prefix of every Redis key and channel (default `lih`; a throwaway stack gets its own, removed at stop). */
	queuePrefix?: string;
	/** n8n worker processes (default 2). */
	workers?: number;
	/** Processor processes on the one processor port (default 2). */
	processors?: number;
	/** n8n webhook processes (default 1); leads go to the first (`urls.n8nWebhook`). */
	webhooks?: number;
}

export interface LocalStackOptions {
	/** Ports to use; 0 picks a free one. Defaults: DEFAULT_PORTS. */
	ports?: Partial<StackPorts>;
	/** A database of its own, removed at stop (benchmarks, end-to-end tests). */
	throwaway?: boolean;
	/** The embedded Postgres's extra server settings (a benchmark's instruments). */
	postgresSettings?: Record<string, string>;
	/** Default: ALERTS_DIR, else alerts/ in the repository. */
	alertsDir?: string;
	/** Extra processor environment (e.g. a higher rate limit for a benchmark). */
	processorEnv?: Record<string, string>;
	/** Also n8n with our nodes and workflows (installed into the cache on first use). */
	n8n?: boolean;
	/** Queue mode and processor replicas instead of one n8n and one processor. */
	scale?: ScaleOptions;
	/** Which n8n (default: the pinned N8N_VERSION); the version smoke test runs others. */
	n8nVersion?: string;
	/** n8n's settings (default `production`; `npm start` runs `development`: see cli.ts). */
	n8nTuning?: N8nTuning;
	/** Benchmarks: more n8n environment and more workflow files to import and publish. */
	n8nExtras?: { env?: Record<string, string>; workflowFiles?: string[] };
	onLine?: (service: string, line: string) => void;
	/** Progress of the slow steps (n8n install and setup). */
	log?: (line: string) => void;
}

export interface LocalStack {
	urls: {
		processor: string;
		crm: string;
		jiraConfluence: string;
		/** n8n's editor and API (null without n8n). */
		n8n: string | null;
		/** Where lead sources post (`/webhook/lead-intake`): n8n itself, or its webhook process. */
		n8nWebhook: string | null;
		/** Every n8n process that takes production webhooks (empty without n8n). */
		n8nWebhooks: string[];
	};
	/** n8n's own database (null without n8n). */
	n8nDatabaseUrl: string | null;
	/** The environment n8n CLI commands need for this stack's n8n (null without n8n). */
	n8nEnv: NodeJS.ProcessEnv | null;
	/** The processor's database. */
	databaseUrl: string;
	/** A URL that may create databases on the same server (n8n gets one there). */
	serverUrl: string;
	/** Where the embedded Postgres keeps its data; null with DATABASE_URL. */
	postgresDataDir: string | null;
	ports: StackPorts;
	settings: StackSettings;
	alertsDir: string;
	/** The scaled stack's settings (null for the regular one). */
	scale: Required<ScaleOptions> | null;
	/** Every running service, in start order (tests kill one to prove the rest copes). */
	services: readonly Service[];
	/** Resolves when any service exits on its own (a crash): the stack is no longer whole. */
	failure: Promise<string>;
	/** Stops everything, services first and Postgres last. */
	stop(): Promise<void>;
}

/**
 * Postgres (embedded unless DATABASE_URL is set), the processor, both mocks and n8n, each a
 * process of its own behind a lifeline (services.ts), so nothing outlives the launcher.
 * `npm start`, the benchmarks and the end-to-end tests all start the stack this way.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
	const ports = await resolvePorts(
		{ ...DEFAULT_PORTS, ...portsFromEnvironment(), ...options.ports },
		{
			postgres: !process.env.DATABASE_URL,
			n8n: options.n8n === true || options.scale !== undefined,
			n8nWebhook: options.scale !== undefined,
		},
	);
	const settings = stackSettings();
	const alertsDir = options.alertsDir ?? alertsDirFromEnvironment() ?? defaultAlertsDir;
	await mkdir(alertsDir, { recursive: true });
	const onLine = options.onLine ?? (() => undefined);
	const log = options.log ?? (() => undefined);
	const runId = randomBytes(4).toString('hex');
	const scale = options.scale
		? {
				redisUrl: options.scale.redisUrl,
				// the development stack keeps its queue across runs; a throwaway one has its own
				queuePrefix: options.scale.queuePrefix ?? (options.throwaway ? `lih-${runId}` : 'lih'),
				workers: options.scale.workers ?? 2,
				processors: options.scale.processors ?? 2,
				webhooks: options.scale.webhooks ?? 1,
			}
		: null;
	const existingServer = process.env.DATABASE_URL;
	const postgresDataDir = existingServer
		? null
		: join(dataDir, options.throwaway ? `postgres-${runId}` : 'postgres');
	const throwawayDb = options.throwaway ? `lih_${runId}` : null;
	// the development n8n is one, whichever mode runs it: edits made in the editor stay
	const n8nDatabase = options.throwaway ? `lih_${runId}_n8n` : 'n8n';
	const n8nUserFolder = options.throwaway ? join(dataDir, `n8n-${runId}`) : defaultN8nUserFolder;
	const running: Service[] = [];
	let n8nDeployment: N8nDeployment | null = null;
	let stopping = false;

	const stop = async () => {
		stopping = true;
		for (const service of running.splice(0).reverse()) {
			if (service.name === 'postgres' && throwawayDb && existingServer) continue;
			await service.stop();
		}
		if (throwawayDb && existingServer) {
			await dropDatabase(existingServer, throwawayDb);
			if (options.n8n) await dropDatabase(existingServer, n8nDatabase);
		}
		if (options.throwaway && options.n8n) {
			const folders = n8nDeployment?.userFolders ?? [n8nUserFolder];
			for (const folder of folders) await rm(folder, { recursive: true, force: true });
			if (scale) await deleteRedisKeys(scale.redisUrl, scale.queuePrefix).catch(() => 0);
		}
	};
	const start = async (specs: Omit<ServiceSpec, 'onLine'>[]) => {
		const results = await Promise.allSettled(
			specs.map((spec) => startService({ ...spec, onLine: (line) => onLine(spec.name, line) })),
		);
		for (const result of results) if (result.status === 'fulfilled') running.push(result.value);
		const failed = results.find((result) => result.status === 'rejected');
		if (failed) throw failed.reason;
	};

	try {
		const n8nInstall = options.n8n ? await ensureN8n(log, options.n8nVersion) : null;
		// the processor and the mocks run on the Node.js of n8n and of the image, not the launcher's
		const node = n8nInstall?.node ?? (await ensureNode(log));
		if (postgresDataDir) {
			await start([
				{
					name: 'postgres',
					command: process.execPath,
					args: [postgresServiceMain],
					env: {
						...process.env,
						LIH_PG_DATA_DIR: postgresDataDir,
						LIH_PG_PORT: String(ports.postgres),
						LIH_PG_THROWAWAY: options.throwaway ? '1' : '0',
						LIH_PG_SETTINGS: JSON.stringify(options.postgresSettings ?? {}),
					},
					readyWhen: (line) => line.startsWith('postgres ready'),
					readyTimeoutMs: 60_000,
				},
			]);
		}
		const serverUrl = existingServer ?? embeddedAdminUrl(ports.postgres);
		const databaseUrl = throwawayDb
			? await createDatabase(serverUrl, throwawayDb)
			: (existingServer ?? (await ensureDatabase(serverUrl, 'lead_intake')));
		const processorEnv = processorEnvironment({
			env: process.env,
			settings,
			databaseUrl,
			port: ports.processor,
			crmUrl: `http://127.0.0.1:${ports.crm}/leads/upsert`,
			jiraConfluenceUrl: `http://127.0.0.1:${ports.jiraConfluence}`,
			alertsDir,
			processors: scale?.processors,
			// outcome events go to the lead-outcomes workflow's production webhook (where leads go)
			eventsUrl: options.n8n
				? `http://127.0.0.1:${scale ? ports.n8nWebhook : ports.n8n}/webhook/${EVENTS_PATH}`
				: undefined,
			extra: options.processorEnv,
		});
		const urls = {
			processor: `http://${connectableHost(processorEnv.HOST!)}:${ports.processor}`,
			crm: `http://127.0.0.1:${ports.crm}`,
			jiraConfluence: `http://127.0.0.1:${ports.jiraConfluence}`,
			n8n: null as string | null,
			n8nWebhook: null as string | null,
			n8nWebhooks: [] as string[],
		};
		const mockEnv = { ...process.env, HOST: '127.0.0.1' };
		const listening = (line: string) => line.includes('listening on');
		await start([
			{
				name: 'mock-crm',
				command: node,
				args: [mocksMain, 'crm'],
				env: { ...mockEnv, PORT: String(ports.crm), CRM_TOKEN: settings.CRM_TOKEN },
				readyWhen: listening,
			},
			{
				name: 'mock-jira-confluence',
				command: node,
				args: [mocksMain, 'jira-confluence'],
				env: { ...mockEnv, PORT: String(ports.jiraConfluence) },
				readyWhen: listening,
			},
			{
				name: 'processor',
				command: node,
				args: [processorMain],
				env: processorEnv,
				readyCheck: answersOk(`${urls.processor}/health`),
			},
		]);
		let n8nDatabaseUrl: string | null = null;
		if (n8nInstall) {
			n8nDatabaseUrl = await ensureDatabase(serverUrl, n8nDatabase);
			n8nDeployment = await startN8nDeployment({
				install: n8nInstall,
				name: 'n8n',
				userFolder: n8nUserFolder,
				serverUrl,
				database: n8nDatabase,
				ports: { main: ports.n8n, webhook: ports.n8nWebhook },
				alertsDir,
				encryptionKey: settings.N8N_ENCRYPTION_KEY,
				tuning: options.n8nTuning ?? 'production',
				queue: scale
					? {
							redisUrl: scale.redisUrl,
							prefix: scale.queuePrefix,
							workers: scale.workers,
							webhooks: scale.webhooks,
						}
					: undefined,
				extraEnv: options.n8nExtras?.env,
				extraWorkflowFiles: options.n8nExtras?.workflowFiles ?? [],
				processorUrl: urls.processor,
				jiraConfluenceUrl: processorEnv.MOCK_JC_URL!,
				hmacSecret: signingSecret(settings),
				eventsSecret: settings.EVENTS_SECRET,
				serviceToken: settings.SERVICE_TOKEN,
				owner: { email: settings.N8N_OWNER_EMAIL, password: settings.N8N_OWNER_PASSWORD },
				log,
				onLine,
			});
			running.push(...n8nDeployment.services);
			urls.n8n = n8nDeployment.editorUrl;
			urls.n8nWebhook = n8nDeployment.webhookUrl;
			urls.n8nWebhooks = n8nDeployment.webhookUrls;
		}
		const failure = Promise.race(
			running.map((service) =>
				service.exited.then(
					(code) =>
						new Promise<string>((resolve) => {
							if (!stopping) resolve(`${service.name} exited unexpectedly (code ${code})`);
						}),
				),
			),
		);
		return {
			urls,
			databaseUrl,
			n8nDatabaseUrl,
			n8nEnv: n8nDeployment?.env ?? null,
			serverUrl,
			postgresDataDir,
			ports,
			settings,
			alertsDir,
			scale,
			services: running,
			failure,
			stop,
		};
	} catch (error) {
		await stop();
		throw error;
	}
}

export interface ProcessorEnvironmentInput {
	/** The launcher's environment: every processor variable set there reaches the processor. */
	env: NodeJS.ProcessEnv;
	settings: StackSettings;
	databaseUrl: string;
	port: number;
	/** The mocks' URLs, used unless CRM_URL (or its old name MOCK_CRM_URL) / MOCK_JC_URL point elsewhere. */
	crmUrl: string;
	jiraConfluenceUrl: string;
	alertsDir: string;
	/** Processor processes (PROCESSOR_WORKERS) of the scaled stack. */
	processors?: number;
	/** n8n's Lead Outcome Trigger, when n8n is part of the stack: the processor's EVENTS_URL. */
	eventsUrl?: string;
	extra?: Record<string, string>;
}

/**
 * The processor's environment in the local stack: the launcher's own (so every documented
 * variable works as it does for the processor alone), the development settings for what is not
 * set, and the stack's wiring (database, port, the mocks) where the user has not chosen otherwise.
 */
export function processorEnvironment(input: ProcessorEnvironmentInput): NodeJS.ProcessEnv {
	const { env } = input;
	return {
		...env,
		...processorSettings(input.settings),
		HOST: env.HOST || '127.0.0.1',
		DATABASE_URL: input.databaseUrl,
		PORT: String(input.port),
		// the user's CRM, under either name (the processor reads the old one with a warning)
		CRM_URL: env.CRM_URL || (env.MOCK_CRM_URL ? undefined : input.crmUrl),
		MOCK_JC_URL: env.MOCK_JC_URL || input.jiraConfluenceUrl,
		ALERTS_DIR: input.alertsDir,
		// the stack's n8n runs this repository's nodes, which sign the source
		WEBHOOK_UNSIGNED_SOURCE: env.WEBHOOK_UNSIGNED_SOURCE || 'off',
		// the scaled stack's processor processes, unless the user chose how many
		...(input.processors && !env.PROCESSOR_WORKERS
			? { PROCESSOR_WORKERS: String(input.processors) }
			: {}),
		...(input.eventsUrl && !env.EVENTS_URL
			? {
					EVENTS_URL: input.eventsUrl,
					EVENTS_TYPES: env.EVENTS_TYPES || SHIPPED_EVENT_TYPES,
				}
			: {}),
		...input.extra,
	};
}

/** The settings the processor reads (n8n's own stay with n8n). */
function processorSettings(settings: StackSettings): Record<string, string> {
	const {
		N8N_ENCRYPTION_KEY: _key,
		N8N_OWNER_EMAIL: _email,
		N8N_OWNER_PASSWORD: _password,
		LEAD_SOURCE_API_KEY: _sourceKey,
		...processor
	} = settings;
	return { ...processor };
}

/** ALERTS_DIR as the user meant it: relative to where they ran `npm start` (npm's INIT_CWD). */
export function alertsDirFromEnvironment(env: NodeJS.ProcessEnv = process.env): string | null {
	return env.ALERTS_DIR ? resolve(env.INIT_CWD ?? process.cwd(), env.ALERTS_DIR) : null;
}

/** PORT moves the processor, as for the processor itself. */
function portsFromEnvironment(): Partial<StackPorts> {
	return process.env.PORT ? { processor: Number(process.env.PORT) } : {};
}

/** A wildcard listen address is reached on the loopback address. */
function connectableHost(host: string): string {
	if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
	return host.includes(':') ? `[${host}]` : host;
}

/**
 * 0 becomes a free port; a fixed port this stack will use must be free now. Checked before
 * anything starts: a service already answering there (another stack, a compose processor) would
 * pass the readiness check of ours, which then fails to bind, after "running" was printed.
 */
async function resolvePorts(
	ports: StackPorts,
	used: Partial<Record<keyof StackPorts, boolean>>,
): Promise<StackPorts> {
	const resolved = { ...ports };
	for (const name of Object.keys(resolved) as (keyof StackPorts)[]) {
		if (used[name] === false) continue;
		if (resolved[name] === 0) resolved[name] = await freePort();
		else if (!(await listensFree(resolved[name]))) {
			const error = new ServiceError(
				`The ${PORT_NAMES[name]} cannot start: port ${resolved[name]} is already in use${name === 'processor' ? ' (set PORT to use another one)' : ''}`,
			);
			error.portInUse = resolved[name];
			throw error;
		}
	}
	return resolved;
}

const PORT_NAMES: Record<keyof StackPorts, string> = {
	processor: 'processor',
	crm: 'mock CRM',
	jiraConfluence: 'mock Jira/Confluence',
	postgres: 'embedded Postgres',
	n8n: 'n8n editor',
	n8nWebhook: 'n8n webhook process',
};
