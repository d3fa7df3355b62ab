import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startProcessor } from './processor.js';

/** The processor service: `node processor/dist/src/main.js` with the environment of SPEC 6. */
async function main(): Promise<void> {
	const config = loadConfig();
	const logger = createLogger(config.LOG_LEVEL);
	const processor = await startProcessor(config, { logger });
	logger.info({ port: config.PORT, fault_injection: config.FAULT_INJECTION }, 'processor listening');

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
	if (error instanceof ConfigError) console.error(error.message);
	else console.error('Processor failed to start:', error);
	process.exit(1);
});
