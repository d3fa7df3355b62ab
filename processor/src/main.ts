import { ConfigError, loadConfig } from './config.js';
import { isConnectionError } from './db/connection.js';
import { createLogger } from './logger.js';
import { startProcessor } from './processor.js';

/** The processor service: `node processor/dist/src/main.js` with the environment of SPEC 6. */
async function main(): Promise<void> {
	const config = loadConfig();
	const logger = createLogger(config.LOG_LEVEL);
	const processor = await startProcessor(config, { logger });
	logger.info(
		{ port: config.PORT, fault_injection: config.FAULT_INJECTION },
		'processor listening',
	);

	let stopping = false;
	const stop = async (signal: string) => {
		if (stopping) return;
		stopping = true;
		logger.info({ signal }, 'processor stopping');
		await processor.close();
		process.exit(0);
	};
	process.on('SIGINT', () => void stop('SIGINT'));
	process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
	console.error(`Processor failed to start: ${explain(error)}`);
	process.exit(1);
});

function explain(error: unknown): string {
	const { code, port } = error as { code?: string; port?: number };
	if (error instanceof ConfigError) return error.message;
	if (code === 'EADDRINUSE') return `port ${port} is already in use (set PORT to use another one)`;
	if (isConnectionError(error)) return `cannot reach the database at DATABASE_URL (${code})`;
	return String((error as Error)?.stack ?? error);
}
