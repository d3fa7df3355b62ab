import type { N8nInstall } from './install.js';
import { run } from './install.js';

export interface N8nEnvironment {
	userFolder: string;
	/** The Postgres server (a URL with rights on `database`). */
	serverUrl: string;
	database: string;
	port: number;
	alertsDir: string;
	encryptionKey: string;
}

/** How n8n runs here (docs/operations.md, "n8n"): on Postgres, quiet, offline, files only in alerts/. */
export function n8nEnv(config: N8nEnvironment): NodeJS.ProcessEnv {
	const server = new URL(config.serverUrl);
	return {
		PATH: process.env.PATH,
		HOME: process.env.HOME,
		N8N_USER_FOLDER: config.userFolder,
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: server.hostname,
		DB_POSTGRESDB_PORT: server.port || '5432',
		DB_POSTGRESDB_DATABASE: config.database,
		DB_POSTGRESDB_USER: decodeURIComponent(server.username),
		DB_POSTGRESDB_PASSWORD: decodeURIComponent(server.password),
		N8N_PORT: String(config.port),
		N8N_LISTEN_ADDRESS: '127.0.0.1',
		N8N_ENCRYPTION_KEY: config.encryptionKey,
		N8N_DIAGNOSTICS_ENABLED: 'false',
		N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
		N8N_TEMPLATES_ENABLED: 'false',
		N8N_PERSONALIZATION_ENABLED: 'false',
		N8N_SECURE_COOKIE: 'false',
		// the Alert Router writes alert files here, and only here
		N8N_RESTRICT_FILE_ACCESS_TO: config.alertsDir,
		ALERTS_DIR: config.alertsDir,
		// the Alert Router's default directory is the expression {{ $env.ALERTS_DIR }}
		N8N_BLOCK_ENV_ACCESS_IN_NODE: 'false',
	};
}

/** One n8n CLI command (import, export, publish), run while n8n itself is stopped. */
export function n8nCommand(
	install: N8nInstall,
	env: NodeJS.ProcessEnv,
	args: string[],
	log: (line: string) => void,
): Promise<string> {
	return run(install.node, [install.n8nBin, ...args], env.N8N_USER_FOLDER!, log, env);
}
