import postgres from 'postgres';

export interface PostgresServer {
	/** A URL with rights to create databases. */
	adminUrl: string;
	embedded: boolean;
	stop(): Promise<void>;
}

export const EMBEDDED_USER = 'postgres';
export const EMBEDDED_PASSWORD = 'postgres';

export function embeddedAdminUrl(port: number): string {
	return `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`;
}

/** The same server, another database. */
export function databaseUrl(serverUrl: string, database: string): string {
	const url = new URL(serverUrl);
	url.pathname = `/${database}`;
	return url.toString();
}

export async function createDatabase(serverUrl: string, name: string): Promise<string> {
	await withAdmin(serverUrl, async (sql) => {
		await sql.unsafe(`CREATE DATABASE ${quote(name)}`);
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

async function withAdmin(
	serverUrl: string,
	work: (sql: postgres.Sql) => Promise<void>,
): Promise<void> {
	const sql = postgres(serverUrl, { max: 1, onnotice: () => undefined });
	try {
		await work(sql);
	} finally {
		await sql.end();
	}
}

function quote(identifier: string): string {
	if (!/^[a-z_][a-z0-9_]*$/.test(identifier))
		throw new Error(`unsafe database name: ${identifier}`);
	return `"${identifier}"`;
}
