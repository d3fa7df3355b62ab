import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { stackSettings } from '../src/dev-settings.js';
import { ensureDockerCompose } from '../src/docker-compose.js';
import { N8N_PRODUCTION_SETTINGS, n8nEnv, queueEnv } from '../src/n8n/cli.js';
import { N8N_VERSION, NODE_VERSION } from '../src/n8n/install.js';
import { repoRoot } from '../src/repo.js';

/**
 * docker-compose.yml as Debian's docker-compose renders it (no Docker engine needed), and the
 * invariants a production compose file must keep: secrets only from .env, pinned images,
 * healthchecks, no published database, and n8n configured exactly like the local stack.
 */
const composeFile = join(repoRoot, 'docker-compose.yml');
const availability = await ensureDockerCompose((line) => console.log(line));
if (availability.command === null) console.warn(`compose tests skipped: ${availability.reason}`);
const withCompose = availability.command ? test : test.skip;

interface Service {
	image?: string;
	build?: { target?: string };
	profiles?: string[];
	command?: string[];
	environment?: Record<string, string>;
	healthcheck?: { test?: string[] };
	ports?: unknown[];
	volumes?: (string | { source?: string; target?: string })[];
	scale?: number;
	networks?: Record<string, { aliases?: string[] } | null>;
}

const SECRETS = [
	'POSTGRES_PASSWORD',
	'WEBHOOK_HMAC_SECRET',
	'EMAIL_HASH_SALT',
	'LEAD_ENCRYPTION_KEY',
	'LEAD_SOURCE_API_KEY',
	'SERVICE_TOKEN',
	'CRM_TOKEN',
	'EVENTS_SECRET',
	'N8N_ENCRYPTION_KEY',
];

let workDir: string;
let raw: string;
let example: string;

beforeAll(async () => {
	workDir = await mkdtemp(join(tmpdir(), 'lih-compose-'));
	raw = await readFile(composeFile, 'utf8');
	example = await readFile(join(repoRoot, '.env.example'), 'utf8');
});

afterAll(async () => {
	await rm(workDir, { recursive: true, force: true });
});

/** `docker-compose config` with only `env` (and PATH) in its environment. */
function composeConfig(envFile: string, env: Record<string, string> = {}) {
	const result = spawnSync(
		availability.command!,
		['--file', composeFile, '--env-file', envFile, 'config'],
		{ cwd: workDir, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } },
	);
	return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** .env.example with every empty value filled in (hex, as it recommends). */
async function filledEnvFile(): Promise<string> {
	const file = join(workDir, 'filled.env');
	const filled = example.replace(
		/^([A-Z0-9_]+)=$/gm,
		(_, name: string) => `${name}=${Buffer.from(name).toString('hex').padEnd(40, '0')}`,
	);
	await writeFile(file, filled);
	return file;
}

withCompose(
	'without the secrets in .env, compose refuses to start and says which one',
	async () => {
		const empty = join(workDir, 'empty.env');
		await writeFile(empty, '');
		const result = composeConfig(empty);
		expect(result.code).not.toBe(0);
		expect(result.stderr).toMatch(/set [A-Z0-9_]+ in \.env \(see \.env\.example\)/);
	},
);

withCompose(
	'a .env that still names the CRM MOCK_CRM_URL is refused, naming CRM_URL (never the mock by mistake)',
	async () => {
		const file = join(workDir, 'old-names.env');
		const filled = await readFile(await filledEnvFile(), 'utf8');
		await writeFile(
			file,
			filled.replace(/^CRM_URL=.*$/m, 'MOCK_CRM_URL=https://crm.example.com/leads/upsert'),
		);
		const result = composeConfig(file);
		expect(result.code).not.toBe(0);
		expect(result.stderr).toContain('set CRM_URL in .env (see .env.example)');
	},
);

test('.env.example documents every variable compose reads; no secret has a default', () => {
	const read = new Set([...raw.matchAll(/\$\{([A-Z0-9_]+)/g)].map((match) => match[1]!));
	const documented = new Set([...example.matchAll(/^#?([A-Z0-9_]+)=/gm)].map((match) => match[1]!));
	expect([...read].filter((name) => !documented.has(name))).toEqual([]);
	// the secrets: empty in the example, required (`:?`) wherever compose reads them
	const empty = [...example.matchAll(/^([A-Z0-9_]+)=$/gm)].map((match) => match[1]!);
	expect(empty.sort()).toEqual([...SECRETS].sort());
	for (const secret of SECRETS) {
		const uses = [...raw.matchAll(new RegExp(`\\$\\{${secret}([^}]*)\\}`, 'g'))];
		expect(uses.length).toBeGreaterThan(0);
		for (const use of uses) expect([secret, use[1]!.slice(0, 2)]).toEqual([secret, ':?']);
	}
	// the same names the local stack uses for them
	const local = Object.keys(stackSettings({}));
	for (const secret of SECRETS.filter((name) => name !== 'POSTGRES_PASSWORD'))
		expect(local).toContain(secret);
});

describe('the rendered compose file', () => {
	let services: Record<string, Service>;
	const n8nServices = () =>
		Object.entries(services).filter(([, service]) => service.build?.target === 'n8n');

	beforeAll(async () => {
		if (!availability.command) return;
		const result = composeConfig(await filledEnvFile());
		expect(result.stderr).toBe('');
		expect(result.code).toBe(0);
		services = (parse(result.stdout) as { services: Record<string, Service> }).services;
	});

	withCompose('pins every image it pulls, and builds from pinned images', async () => {
		const pinned = /^[\w./-]+:\d+\.\d+(\.\d+)?(-[\w.-]+)?(@sha256:[0-9a-f]{64})?$/;
		for (const [name, service] of Object.entries(services)) {
			if (service.build) continue;
			expect([name, service.image]).toEqual([name, expect.stringMatching(pinned)]);
		}
		const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
		const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]!);
		for (const base of bases) expect(base).toMatch(pinned);
		// n8n in containers is the n8n the local stack runs
		expect(bases).toContain(`n8nio/n8n:${N8N_VERSION}`);
		// and the processor runs on the Node.js the local stack runs n8n on
		expect(bases.filter((base) => base.startsWith('node:'))).toEqual([
			`node:${NODE_VERSION}-bookworm-slim`,
			`node:${NODE_VERSION}-bookworm-slim`,
		]);
	});

	withCompose('gives every long-running service a healthcheck', () => {
		for (const [name, service] of Object.entries(services)) {
			if (name === 'n8n-setup') continue;
			expect([name, (service.healthcheck?.test?.length ?? 0) > 1]).toEqual([name, true]);
		}
	});

	withCompose('publishes neither Postgres nor Redis', () => {
		expect(services.postgres!.ports).toBeUndefined();
		expect(services.redis!.ports).toBeUndefined();
	});

	withCompose(
		'publishes the processor and the mocks on this host only: n8n alone faces the network',
		() => {
			const published = (name: string) =>
				(services[name]!.ports ?? []).map((port: unknown) =>
					// "127.0.0.1:8000:8000/tcp" (docker-compose 1) or { host_ip } (compose 2)
					typeof port === 'string'
						? port.split(':').length === 3
							? port.split(':')[0]
							: undefined
						: (port as { host_ip?: string }).host_ip,
				);
			// the mock CRM answers GET /leads (every lead it holds) and /admin/* without a token
			for (const name of ['processor', 'mock-crm', 'mock-jira-confluence'])
				expect([name, published(name)]).toEqual([name, ['127.0.0.1']]);
			expect(published('n8n')).toEqual([undefined]);
		},
	);

	withCompose(
		'runs every n8n process from our n8n image (no bind-mounted dist/), configured like the local stack',
		() => {
			const local = n8nEnv({
				userFolder: '/unused',
				serverUrl: 'postgres://u:p@db:5432/postgres',
				database: 'n8n',
				port: 5678,
				alertsDir: '/alerts',
				encryptionKey: 'unused',
			});
			// what only a process on the developer's machine needs
			const machineOnly = ['PATH', 'HOME', 'N8N_USER_FOLDER', 'N8N_PORT', 'N8N_LISTEN_ADDRESS'];
			const names = Object.keys(local).filter((name) => !machineOnly.includes(name));
			const n8n = n8nServices();
			expect(n8n.map(([name]) => name).sort()).toEqual(
				['n8n', 'n8n-main', 'n8n-setup', 'n8n-webhook', 'n8n-worker'].sort(),
			);
			for (const [name, service] of n8n) {
				expect([name, service.image]).toEqual([name, n8n[0]![1].image]);
				const env = service.environment ?? {};
				expect([name, names.filter((variable) => !(variable in env))]).toEqual([name, []]);
				for (const [variable, value] of Object.entries(N8N_PRODUCTION_SETTINGS))
					expect([name, variable, env[variable]]).toEqual([name, variable, value]);
				for (const volume of service.volumes ?? [])
					expect(JSON.stringify(volume)).not.toMatch(/dist/);
			}
		},
	);

	withCompose(
		'the scale profile is the topology of npm start -- --scale: main, webhook process, two workers on Redis, two processor processes',
		() => {
			const scale = Object.entries(services).filter(([, service]) =>
				service.profiles?.includes('scale'),
			);
			expect(scale.map(([name]) => name).sort()).toEqual(
				['n8n-main', 'n8n-webhook', 'n8n-worker', 'redis'].sort(),
			);
			const queue = queueEnv({ redisUrl: 'redis://redis:6379', prefix: 'lih' });
			for (const [name, service] of scale.filter(([name]) => name !== 'redis')) {
				const env = service.environment!;
				for (const [variable, value] of Object.entries(queue))
					expect([name, variable, env[variable]]).toEqual([name, variable, value]);
			}
			expect(services['n8n-main']!.command).toBeUndefined();
			expect(services['n8n-webhook']!.command).toEqual(['webhook']);
			expect(services['n8n-worker']!.command![0]).toBe('worker');
			expect(services['n8n-worker']!.scale).toBe(2);
			expect(services.processor!.environment!.PROCESSOR_WORKERS).toBe('2');
			// the single topology's n8n is not part of it
			expect(services.n8n!.profiles).toEqual(['single']);
			// outcome events reach the production webhooks in both profiles: the host of EVENTS_URL
			// is the single n8n, and in this profile the webhook process's alias (main has none)
			const eventsHost = new URL(services.processor!.environment!.EVENTS_URL!).hostname;
			expect(eventsHost).toBe('n8n');
			expect(services['n8n-webhook']!.networks?.default?.aliases).toEqual([eventsHost]);
			expect(services['n8n-main']!.environment!.N8N_DISABLE_PRODUCTION_MAIN_PROCESS).toBe('true');
		},
	);

	withCompose("the processor's environment is a valid processor configuration", async () => {
		const { loadConfig } = (await import(
			join(repoRoot, 'processor', 'dist', 'src', 'config.js')
		)) as {
			loadConfig: (env: Record<string, string>) => {
				PROCESSOR_WORKERS: number;
				WEBHOOK_UNSIGNED_SOURCE: boolean;
			};
		};
		const config = loadConfig(services.processor!.environment!);
		expect(config.PROCESSOR_WORKERS).toBe(2);
		// every n8n here runs the image's nodes, which sign the source
		expect(config.WEBHOOK_UNSIGNED_SOURCE).toBe(false);
	});
});
