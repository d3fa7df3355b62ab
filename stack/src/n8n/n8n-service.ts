import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackSettings } from '../dev-settings.js';
import { repoRoot, workflowsDir } from '../repo.js';
import { startService, type Service } from '../services.js';
import { n8nCommand } from './cli.js';
import { run, type N8nInstall } from './install.js';
import { readWorkflowFiles, writeExportedWorkflows } from './workflows.js';

export interface N8nOptions {
	install: N8nInstall;
	/** n8n's environment (n8nEnv), the same one its CLI commands get. */
	env: NodeJS.ProcessEnv;
	userFolder: string;
	port: number;
	processorUrl: string;
	jiraConfluenceUrl: string;
	hmacSecret: string;
	/** The processor's EVENTS_SECRET: the Lead Outcome Trigger verifies its events with it. */
	eventsSecret: string;
	serviceToken: string;
	owner: { email: string; password: string };
	extraWorkflowFiles: string[];
	/** The service's name in logs and errors (default `n8n`). */
	name?: string;
	/** False for a queue-mode main (N8N_DISABLE_PRODUCTION_MAIN_PROCESS): webhook processes serve leads. */
	servesWebhooks?: boolean;
	log: (line: string) => void;
	onLine: (line: string) => void;
}

/** The lead source the lead intake workflow's trigger authenticates: its keys are `development/<key>`. */
export const DEVELOPMENT_SOURCE = 'development';

const CREDENTIAL_IDS = {
	processor: 'lihProcessorApi1',
	jiraConfluence: 'lihJiraConflue01',
	developmentSource: 'lihSourceDev0001',
	events: 'lihEventsApi0001',
};

/**
 * n8n as users get it: our packed package installed as a community package, the credentials and
 * workflow files imported and published, n8n started, an owner account set up. Workflows already
 * imported at the same version are left alone, so edits made in the editor survive a restart.
 */
export async function startN8n(options: N8nOptions): Promise<Service> {
	const { env } = options;
	await mkdir(join(options.userFolder, '.n8n', 'nodes'), { recursive: true });
	options.log('Installing the Lead Intake nodes into n8n (npm pack + install) ...');
	await installNodesPackage(options.userFolder, options.log);
	options.log('Importing credentials and workflows ...');
	await importCredentials(options, env);
	await importChangedWorkflows(options, env);
	for (const file of options.extraWorkflowFiles) await importAndPublish(options, env, file);

	options.log('Starting n8n (its first start migrates its database: up to a minute) ...');
	const service = await startService({
		name: options.name ?? 'n8n',
		command: options.install.node,
		args: [options.install.n8nBin, 'start'],
		env,
		cwd: options.userFolder,
		readyCheck: () =>
			n8nReady(`http://127.0.0.1:${options.port}`, {
				api: true,
				webhooks: options.servesWebhooks ?? true,
			}),
		readyTimeoutMs: 180_000,
		onLine: options.onLine,
	});
	try {
		await setUpOwner(options.port, options.owner);
	} catch (error) {
		await service.stop();
		throw error;
	}
	return service;
}

async function installNodesPackage(userFolder: string, log: (line: string) => void): Promise<void> {
	const packDir = join(userFolder, 'package');
	await mkdir(packDir, { recursive: true });
	const packed = (
		await run('npm', ['pack', '--silent', '--pack-destination', packDir], repoRoot, log)
	)
		.trim()
		.split('\n')
		.pop()!;
	const nodesDir = join(userFolder, '.n8n', 'nodes');
	if (!existsSync(join(nodesDir, 'package.json'))) {
		await writeFile(
			join(nodesDir, 'package.json'),
			'{ "name": "installed-nodes", "private": true }\n',
		);
	}
	// --legacy-peer-deps: n8n provides n8n-workflow; a copy of our own would shadow it
	await run(
		'npm',
		['install', '--no-audit', '--no-fund', '--legacy-peer-deps', join(packDir, packed)],
		nodesDir,
		log,
	);
}

async function importCredentials(options: N8nOptions, env: NodeJS.ProcessEnv): Promise<void> {
	const file = join(options.userFolder, 'lead-intake-credentials.json');
	await writeFile(
		file,
		JSON.stringify([
			{
				id: CREDENTIAL_IDS.processor,
				name: 'Lead Intake Processor',
				type: 'leadIntakeProcessorApi',
				data: {
					baseUrl: options.processorUrl,
					hmacSecret: options.hmacSecret,
					serviceToken: options.serviceToken,
				},
			},
			{
				id: CREDENTIAL_IDS.jiraConfluence,
				name: 'Lead Intake Jira/Confluence',
				type: 'leadIntakeJiraConfluenceApi',
				data: { baseUrl: options.jiraConfluenceUrl, apiToken: '' },
			},
			{
				// the lead-outcomes workflow's trigger verifies the processor's events with it
				id: CREDENTIAL_IDS.events,
				name: 'Lead Intake Events',
				type: 'leadIntakeEventsApi',
				data: { secret: options.eventsSecret, previousSecret: '' },
			},
			{
				// the lead source the lead intake workflow's trigger authenticates (docs/lead-sources.md)
				id: CREDENTIAL_IDS.developmentSource,
				name: 'Lead source: development',
				type: 'leadSourceApi',
				data: {
					sourceName: DEVELOPMENT_SOURCE,
					apiKey: stackSettings().LEAD_SOURCE_API_KEY,
					previousApiKey: '',
				},
			},
		]),
		{ mode: 0o600 },
	);
	await n8nCommand(options.install, env, ['import:credentials', `--input=${file}`], options.log);
}

/** Imports and publishes each workflow file whose version n8n does not have yet. */
async function importChangedWorkflows(options: N8nOptions, env: NodeJS.ProcessEnv): Promise<void> {
	const ledgerFile = importLedger(options.userFolder);
	const ledger = existsSync(ledgerFile)
		? (JSON.parse(await readFile(ledgerFile, 'utf8')) as Record<string, number>)
		: {};
	const workflows = await readWorkflowFiles(workflowsDir);
	for (const { file, workflow } of workflows.values()) {
		if ((ledger[workflow.id] ?? 0) >= workflow.version) continue;
		options.log(`  ${file}: version ${workflow.version}`);
		await importAndPublish(options, env, join(workflowsDir, file));
		ledger[workflow.id] = workflow.version;
		await writeFile(ledgerFile, JSON.stringify(ledger, null, 2));
	}
}

async function importAndPublish(
	options: N8nOptions,
	env: NodeJS.ProcessEnv,
	file: string,
): Promise<void> {
	const { id } = JSON.parse(await readFile(file, 'utf8')) as { id: string };
	await n8nCommand(options.install, env, ['import:workflow', `--input=${file}`], options.log);
	await n8nCommand(options.install, env, ['publish:workflow', `--id=${id}`], options.log);
}

/** Which version of each workflow file this n8n has imported. */
export function importLedger(userFolder: string): string {
	return join(userFolder, 'imported-workflows.json');
}

/**
 * Ready when n8n's API is up (the editor and owner setup need it) and/or the production webhook of
 * our published lead intake workflow is registered (it then refers a GET to POST). While n8n
 * migrates its database it answers every path 200 "n8n is starting up", and for a moment after
 * that 404 until its routes are registered: only its readiness endpoint and the settings as JSON
 * (registered after every other API route) say the API is there.
 */
export async function n8nReady(
	baseUrl: string,
	expect: { api: boolean; webhooks: boolean },
): Promise<boolean> {
	if (expect.api && !(await apiReady(baseUrl))) return false;
	if (!expect.webhooks) return true;
	const webhook = await fetch(`${baseUrl}/webhook/lead-intake`);
	return (
		webhook.status === 404 && (await webhook.text()).includes('Did you mean to make a POST request')
	);
}

async function apiReady(baseUrl: string): Promise<boolean> {
	if (!(await fetch(`${baseUrl}/healthz/readiness`)).ok) return false;
	const settings = await fetch(`${baseUrl}/rest/settings`);
	if (!settings.ok || !settings.headers.get('content-type')?.includes('application/json')) {
		await settings.body?.cancel();
		return false;
	}
	const body = (await settings.json()) as { data?: unknown };
	return typeof body.data === 'object' && body.data !== null;
}

/** The editor needs an owner account; set up once (n8n answers 400 once there is one). */
async function setUpOwner(port: number, owner: { email: string; password: string }): Promise<void> {
	const response = await fetch(`http://127.0.0.1:${port}/rest/owner/setup`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({
			email: owner.email,
			firstName: 'Lead',
			lastName: 'Operator',
			password: owner.password,
		}),
	});
	if (!response.ok && response.status !== 400)
		throw new Error(`n8n owner setup answered HTTP ${response.status}`);
}

/** n8n's workflows into `targetDir` as workflow files (see writeExportedWorkflows). */
export async function exportWorkflows(
	install: N8nInstall,
	env: NodeJS.ProcessEnv,
	targetDir: string,
	log: (line: string) => void,
): Promise<string[]> {
	const exportDir = await mkdtemp(join(tmpdir(), 'lih-export-'));
	try {
		await n8nCommand(
			install,
			env,
			['export:workflow', '--all', '--separate', `--output=${exportDir}/`],
			log,
		);
		return await writeExportedWorkflows(exportDir, workflowsDir, targetDir);
	} finally {
		await rm(exportDir, { recursive: true, force: true });
	}
}
