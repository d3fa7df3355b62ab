import { cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { freePort } from '../ports.js';
import { answersOk, startService, type Service } from '../services.js';
import { N8N_WORKER_CONCURRENCY, n8nEnv, type N8nTuning, type QueueSettings } from './cli.js';
import type { N8nInstall } from './install.js';
import { n8nReady, startN8n } from './n8n-service.js';

export interface N8nDeploymentOptions {
	install: N8nInstall;
	/** Service names start with it: `n8n`, `n8n-webhook`, `n8n-worker-1` ... */
	name: string;
	/** The main process's user folder; webhook and worker processes get folders beside it. */
	userFolder: string;
	serverUrl: string;
	database: string;
	/** The main process (editor, API); in queue mode also `webhook`, where leads go. 0: a free one. */
	ports: { main: number; webhook?: number };
	alertsDir: string;
	encryptionKey: string;
	tuning: N8nTuning;
	/** Queue mode: a main, `webhooks` webhook processes (default 1) and `workers` workers on Redis. */
	queue?: QueueSettings & { workers: number; webhooks?: number };
	/** More environment for every process (benchmarks). */
	extraEnv?: Record<string, string>;
	extraWorkflowFiles: string[];
	processorUrl: string;
	jiraConfluenceUrl: string;
	hmacSecret: string;
	eventsSecret: string;
	serviceToken: string;
	owner: { email: string; password: string };
	log: (line: string) => void;
	onLine: (service: string, line: string) => void;
}

export interface N8nDeployment {
	/** The editor and API (main). */
	editorUrl: string;
	/** Where lead sources post: main in regular mode, the (first) webhook process in queue mode. */
	webhookUrl: string;
	/** Every process that serves production webhooks. */
	webhookUrls: string[];
	/** The main process's environment, for n8n CLI commands (export). */
	env: NodeJS.ProcessEnv;
	/** Every process, main first. */
	services: Service[];
	/** Every user folder, to remove a throwaway deployment. */
	userFolders: string[];
}

/**
 * n8n as one process (regular mode), or in queue mode as a main process, a webhook process and
 * workers sharing one database and one Redis. Every process has its own user folder with our
 * packed node package installed in it: a package present on main but missing on a worker is
 * n8n's classic queue-mode failure, so each process gets its own copy of main's installed nodes.
 */
export async function startN8nDeployment(options: N8nDeploymentOptions): Promise<N8nDeployment> {
	const { install, queue } = options;
	const mainPort = options.ports.main || (await freePort());
	const base = {
		serverUrl: options.serverUrl,
		database: options.database,
		alertsDir: options.alertsDir,
		encryptionKey: options.encryptionKey,
		nodeBinDir: dirname(install.node),
		tuning: options.tuning,
		queue,
	};
	const env = {
		...n8nEnv({
			...base,
			userFolder: options.userFolder,
			port: mainPort,
			brokerPort: await freePort(),
		}),
		...options.extraEnv,
	};
	const services: Service[] = [];
	const userFolders = [options.userFolder];
	try {
		services.push(
			await startN8n({
				name: options.name,
				env,
				userFolder: options.userFolder,
				port: mainPort,
				extraWorkflowFiles: options.extraWorkflowFiles,
				install,
				processorUrl: options.processorUrl,
				jiraConfluenceUrl: options.jiraConfluenceUrl,
				hmacSecret: options.hmacSecret,
				eventsSecret: options.eventsSecret,
				serviceToken: options.serviceToken,
				owner: options.owner,
				servesWebhooks: !queue,
				log: options.log,
				onLine: (line) => options.onLine(options.name, line),
			}),
		);
		const editorUrl = `http://127.0.0.1:${mainPort}`;
		if (!queue) {
			return {
				editorUrl,
				webhookUrl: editorUrl,
				webhookUrls: [editorUrl],
				env,
				services,
				userFolders,
			};
		}

		const webhooks = queue.webhooks ?? 1;
		options.log(
			`Starting ${webhooks === 1 ? 'the n8n webhook process' : `${webhooks} n8n webhook processes`} and ${queue.workers} workers (queue mode) ...`,
		);
		const webhookPorts = [options.ports.webhook || (await freePort())];
		while (webhookPorts.length < webhooks) webhookPorts.push(await freePort());
		const roles = [
			...webhookPorts.map((port, index) => ({
				name: `${options.name}-webhook${index === 0 ? '' : `-${index + 1}`}`,
				args: ['webhook'],
				port,
			})),
			...Array.from({ length: queue.workers }, (_, index) => ({
				name: `${options.name}-worker-${index + 1}`,
				args: ['worker', `--concurrency=${N8N_WORKER_CONCURRENCY}`],
				port: 0,
			})),
		];
		const started = await Promise.allSettled(
			roles.map(async (role) => {
				const userFolder = `${options.userFolder}-${role.name.slice(options.name.length + 1)}`;
				userFolders.push(userFolder);
				await copyInstalledNodes(options.userFolder, userFolder);
				const healthPort = role.port || (await freePort());
				const processEnv = {
					...n8nEnv({ ...base, userFolder, port: healthPort, brokerPort: await freePort() }),
					...(role.port ? {} : { QUEUE_HEALTH_CHECK_PORT: String(healthPort) }),
					N8N_WORKER_SERVER_ADDRESS: '127.0.0.1',
					...options.extraEnv,
				};
				return startService({
					name: role.name,
					command: install.node,
					args: [install.n8nBin, ...role.args],
					env: processEnv,
					cwd: userFolder,
					readyCheck: role.port
						? () => n8nReady(`http://127.0.0.1:${role.port}`, { api: false, webhooks: true })
						: answersOk(`http://127.0.0.1:${healthPort}/healthz/readiness`),
					readyTimeoutMs: 120_000,
					onLine: (line) => options.onLine(role.name, line),
				});
			}),
		);
		for (const result of started) if (result.status === 'fulfilled') services.push(result.value);
		const failed = started.find((result) => result.status === 'rejected');
		if (failed) throw failed.reason;
		return {
			editorUrl,
			webhookUrl: `http://127.0.0.1:${webhookPorts[0]}`,
			webhookUrls: webhookPorts.map((port) => `http://127.0.0.1:${port}`),
			env,
			services,
			userFolders,
		};
	} catch (error) {
		for (const service of services.reverse()) await service.stop();
		throw error;
	}
}

/** The nodes main has installed (our packed package), copied into another process's folder. */
async function copyInstalledNodes(mainFolder: string, userFolder: string): Promise<void> {
	const target = join(userFolder, '.n8n', 'nodes');
	await rm(target, { recursive: true, force: true });
	await mkdir(dirname(target), { recursive: true });
	await cp(join(mainFolder, '.n8n', 'nodes'), target, { recursive: true });
}
