import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { signingSecret, stackSettings, type StackSettings } from './dev-settings.js';
import { n8nEnv } from './n8n/cli.js';
import { ensureN8n } from './n8n/install.js';
import { startN8n } from './n8n/n8n-service.js';
import { freePort } from './ports.js';
import { createDatabase, dropDatabase, embeddedAdminUrl, ensureDatabase } from './postgres.js';
import {
	alertsDir as defaultAlertsDir,
	dataDir,
	mocksMain,
	n8nUserFolder as defaultN8nUserFolder,
	postgresServiceMain,
	processorMain,
} from './repo.js';
import { answersOk, startService, type Service, type ServiceSpec } from './services.js';

export interface StackPorts {
	processor: number;
	crm: number;
	jiraConfluence: number;
	/** The embedded Postgres (unused when DATABASE_URL is set). */
	postgres: number;
	n8n: number;
}

export const DEFAULT_PORTS: StackPorts = {
	processor: 8000,
	crm: 9001,
	jiraConfluence: 9002,
	postgres: 54329,
	n8n: 5678,
};

export interface LocalStackOptions {
	/** Ports to use; 0 picks a free one. Defaults: 8000, 9001, 9002 (DEFAULT_PORTS). */
	ports?: Partial<StackPorts>;
	/** A database of its own, removed at stop (benchmarks, end-to-end tests). */
	throwaway?: boolean;
	alertsDir?: string;
	/** Extra processor environment (e.g. a higher rate limit for a benchmark). */
	processorEnv?: Record<string, string>;
	/** Also n8n with our nodes and workflows (installed into the cache on first use). */
	n8n?: boolean;
	/** Benchmarks: more n8n environment and more workflow files to import and publish. */
	n8nExtras?: { env?: Record<string, string>; workflowFiles?: string[] };
	onLine?: (service: string, line: string) => void;
	/** Progress of the slow steps (n8n install and setup). */
	log?: (line: string) => void;
}

export interface LocalStack {
	urls: { processor: string; crm: string; jiraConfluence: string; n8n: string | null };
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
	/** Resolves when any service exits on its own (a crash): the stack is no longer whole. */
	failure: Promise<string>;
	/** Stops everything, services first and Postgres last. */
	stop(): Promise<void>;
}

/**
 * Postgres (embedded unless DATABASE_URL is set), the processor and both mocks, each a process
 * of its own. `npm start`, the benchmarks and the end-to-end tests all start the stack this way.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
	const ports = await resolvePorts({
		...DEFAULT_PORTS,
		...portsFromEnvironment(),
		...options.ports,
	});
	const settings = stackSettings();
	const alertsDir = options.alertsDir ?? defaultAlertsDir;
	const onLine = options.onLine ?? (() => undefined);
	const log = options.log ?? (() => undefined);
	const runId = randomBytes(4).toString('hex');
	const existingServer = process.env.DATABASE_URL;
	const postgresDataDir = existingServer
		? null
		: join(dataDir, options.throwaway ? `postgres-${runId}` : 'postgres');
	const throwawayDb = options.throwaway ? `lih_${runId}` : null;
	const n8nDatabase = options.throwaway ? `lih_${runId}_n8n` : 'n8n';
	const n8nUserFolder = options.throwaway ? join(dataDir, `n8n-${runId}`) : defaultN8nUserFolder;
	const running: Service[] = [];
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
		if (options.throwaway && options.n8n) await rm(n8nUserFolder, { recursive: true, force: true });
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
		const n8nInstall = options.n8n ? await ensureN8n(log) : null;
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
		const urls = {
			processor: `http://127.0.0.1:${ports.processor}`,
			crm: `http://127.0.0.1:${ports.crm}`,
			jiraConfluence: `http://127.0.0.1:${ports.jiraConfluence}`,
			n8n: n8nInstall ? `http://127.0.0.1:${ports.n8n}` : null,
		};
		const env = { ...process.env, HOST: '127.0.0.1' };
		const listening = (line: string) => line.includes('listening on');
		await start([
			{
				name: 'mock-crm',
				command: process.execPath,
				args: [mocksMain, 'crm'],
				env: { ...env, PORT: String(ports.crm), CRM_TOKEN: settings.CRM_TOKEN },
				readyWhen: listening,
			},
			{
				name: 'mock-jira-confluence',
				command: process.execPath,
				args: [mocksMain, 'jira-confluence'],
				env: { ...env, PORT: String(ports.jiraConfluence), ALERTS_DIR: alertsDir },
				readyWhen: listening,
			},
			{
				name: 'processor',
				command: process.execPath,
				args: [processorMain],
				env: {
					...env,
					...processorSettings(settings),
					DATABASE_URL: databaseUrl,
					PORT: String(ports.processor),
					MOCK_CRM_URL: `${urls.crm}/leads/upsert`,
					MOCK_JC_URL: urls.jiraConfluence,
					ALERTS_DIR: alertsDir,
					...options.processorEnv,
				},
				readyCheck: answersOk(`${urls.processor}/health`),
			},
		]);
		let n8nDatabaseUrl: string | null = null;
		let n8nEnvironment: NodeJS.ProcessEnv | null = null;
		if (n8nInstall) {
			n8nDatabaseUrl = await ensureDatabase(serverUrl, n8nDatabase);
			n8nEnvironment = {
				...n8nEnv({
					userFolder: n8nUserFolder,
					serverUrl,
					database: n8nDatabase,
					port: ports.n8n,
					alertsDir,
					encryptionKey: settings.N8N_ENCRYPTION_KEY,
				}),
				...options.n8nExtras?.env,
			};
			running.push(
				await startN8n({
					env: n8nEnvironment,
					userFolder: n8nUserFolder,
					port: ports.n8n,
					extraWorkflowFiles: options.n8nExtras?.workflowFiles ?? [],
					install: n8nInstall,
					processorUrl: urls.processor,
					jiraConfluenceUrl: urls.jiraConfluence,
					hmacSecret: signingSecret(settings),
					serviceToken: settings.SERVICE_TOKEN,
					owner: { email: settings.N8N_OWNER_EMAIL, password: settings.N8N_OWNER_PASSWORD },
					log,
					onLine: (line) => onLine('n8n', line),
				}),
			);
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
			n8nEnv: n8nEnvironment,
			serverUrl,
			postgresDataDir,
			ports,
			settings,
			alertsDir,
			failure,
			stop,
		};
	} catch (error) {
		await stop();
		throw error;
	}
}

/** The settings the processor reads (n8n's own stay with n8n). */
function processorSettings(settings: StackSettings): Record<string, string> {
	const {
		N8N_ENCRYPTION_KEY: _key,
		N8N_OWNER_EMAIL: _email,
		N8N_OWNER_PASSWORD: _password,
		...processor
	} = settings;
	return { ...processor };
}

/** PORT moves the processor, as for the processor itself. */
function portsFromEnvironment(): Partial<StackPorts> {
	return process.env.PORT ? { processor: Number(process.env.PORT) } : {};
}

async function resolvePorts(ports: StackPorts): Promise<StackPorts> {
	const resolved = { ...ports };
	for (const name of Object.keys(resolved) as (keyof StackPorts)[]) {
		if (resolved[name] === 0) resolved[name] = await freePort();
	}
	return resolved;
}
