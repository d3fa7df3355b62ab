import { loadConfig } from '../../src/config.js';
import type { DuplicateSettings } from '../../src/intake/ruleset.js';
import { seedRulesVersion } from './rules-seed.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '@lead-intake-hub/stack';

/*
 * Real processes for the tests that kill or stop them: the built processor (npm test builds
 * before it runs jest) and an embedded Postgres of a test's own.
 */

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const processorMain = join(repoRoot, 'processor', 'dist', 'src', 'main.js');
const postgresMain = join(repoRoot, 'stack', 'dist', 'postgres-service.js');

interface ChildService {
	child: ChildProcess;
	/** Every line it printed so far. */
	lines: string[];
	/** Resolves with the first line (already printed or to come) that matches. */
	waitForLine(match: (line: string) => boolean): Promise<string>;
	exited: Promise<void>;
	kill(signal: NodeJS.Signals): Promise<void>;
}

function startChild(command: string, args: string[], env: NodeJS.ProcessEnv): ChildService {
	const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
	const lines: string[] = [];
	const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
	for (const stream of [child.stdout!, child.stderr!]) {
		createInterface({ input: stream }).on('line', (line) => {
			lines.push(line);
			for (const waiter of waiters.filter((candidate) => candidate.match(line))) {
				waiters.splice(waiters.indexOf(waiter), 1);
				waiter.resolve(line);
			}
		});
	}
	const exited = once(child, 'exit').then(() => undefined);
	return {
		child,
		lines,
		exited,
		waitForLine: (match) =>
			new Promise((resolve, reject) => {
				const seen = lines.find(match);
				if (seen) return resolve(seen);
				waiters.push({ match, resolve });
				void exited.then(() =>
					reject(new Error(`exited before the line; its output:\n${lines.join('\n')}`)),
				);
			}),
		async kill(signal) {
			if (child.exitCode === null && child.signalCode === null) child.kill(signal);
			await exited;
		},
	};
}

export interface ProcessorProcess extends ChildService {
	url: string;
}

/** The built processor as its own process, on a free port; resolves once it answers /livez. */
export async function startProcessorProcess(
	env: Record<string, string>,
	options: { duplicates?: Partial<DuplicateSettings> | 'shipped' } = {},
): Promise<ProcessorProcess> {
	const duplicates = options.duplicates ?? { window_hours: 0 };
	if (env.DATABASE_URL && duplicates !== 'shipped') {
		let config: ReturnType<typeof loadConfig> | null = null;
		try {
			config = loadConfig({ ...env });
		} catch {
			// settings the processor refuses: it will say so itself, and seeds nothing
		}
		if (config) await seedRulesVersion(env.DATABASE_URL, config, duplicates);
	}
	const port = await freePort();
	const service = startChild(process.execPath, [processorMain], {
		PATH: process.env.PATH,
		HOST: '127.0.0.1',
		PORT: String(port),
		...env,
	});
	await service.waitForLine((line) => line.includes('processor listening'));
	return { ...service, url: `http://127.0.0.1:${port}` };
}

export interface PostgresProcess extends ChildService {
	adminUrl: string;
}

/** An embedded Postgres of the test's own (data kept in `dataDir` across stop and start). */
export async function startPostgresProcess(
	dataDir: string,
	port: number,
): Promise<PostgresProcess> {
	const env: NodeJS.ProcessEnv = {
		...process.env,
		LIH_PG_DATA_DIR: dataDir,
		LIH_PG_PORT: String(port),
		LIH_PG_THROWAWAY: '0',
	};
	delete env.DATABASE_URL;
	const service = startChild(process.execPath, [postgresMain], env);
	const ready = await service.waitForLine((line) => line.startsWith('postgres ready'));
	return { ...service, adminUrl: ready.slice('postgres ready '.length) };
}
