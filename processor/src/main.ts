import cluster, { type Worker } from 'node:cluster';
import { ConfigError, loadConfig, renamedSettingWarnings, type Config } from './config.js';
import { isConnectionError } from './db/connection.js';
import { createLogger, type Logger } from './logger.js';
import { startProcessor } from './processor.js';

/**
 * The processor service: `node processor/dist/src/main.js`, configured by its environment.
 * With PROCESSOR_WORKERS > 1 this process only supervises: that many processor processes share
 * its port (Node's cluster module hands each connection to one of them), all on one database,
 * which already makes concurrent processors safe (idempotent intake, DLQ claims with leases).
 */
async function main(): Promise<void> {
	const config = loadConfig();
	const root = createLogger(config.LOG_LEVEL);
	if (cluster.isPrimary) for (const warning of renamedSettingWarnings()) root.warn(warning);
	if (config.PROCESSOR_WORKERS > 1 && cluster.isPrimary) return supervise(config, root);
	await serve(config, root);
}

async function serve(config: Config, root: Logger): Promise<void> {
	const logger = cluster.isWorker ? root.child({ worker: cluster.worker!.id }) : root;
	surviveLostConnectionSetup(logger);
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

/**
 * postgres.js (3.4.9) begins every new connection with a query for the database's array types
 * and drops that query's promise (a defect of that version): when the database goes away while a
 * connection is being set up, the rejection reaches no one and Node would end the process with
 * every request in flight. The processor's own queries get their own errors (and answer 503);
 * this one is logged and the process stays up. Any other unhandled rejection is still fatal.
 */
function surviveLostConnectionSetup(logger: Logger): void {
	process.on('unhandledRejection', (reason) => {
		if (!isConnectionError(reason)) throw reason;
		logger.warn({ err: reason }, 'a database connection was lost while it was being set up');
	});
}

/** Restarts within this window beyond this count mean a worker cannot stay up: give up. */
const RESTART_WINDOW_MS = 60_000;
const MAX_RESTARTS = 5;

/**
 * Starts the workers and keeps them running: a worker that dies is replaced; one that dies
 * before it ever listened is a failed start, and so is a worker that keeps dying. Either stops
 * the others and exits 1 (the worker has said why). SIGTERM/SIGINT stop every worker in its
 * own order. Should this process be killed outright, its workers exit with it (cluster workers
 * leave when their channel to the primary closes).
 */
function supervise(config: Config, logger: Logger): void {
	const listening = new Set<number>();
	const restarts: number[] = [];
	let stopping = false;

	const workers = () => Object.values(cluster.workers ?? {}).filter(Boolean) as Worker[];
	const stopAll = (code: number) => {
		if (stopping) return;
		stopping = true;
		if (workers().length === 0) process.exit(code);
		for (const worker of workers()) worker.process.kill('SIGTERM');
		cluster.on('exit', () => {
			if (workers().length === 0) process.exit(code);
		});
	};

	cluster.on('listening', (worker) => {
		listening.add(worker.id);
		if (listening.size === config.PROCESSOR_WORKERS) {
			logger.info({ port: config.PORT, workers: config.PROCESSOR_WORKERS }, 'processors listening');
		}
	});
	cluster.on('exit', (worker, code, signal) => {
		if (stopping) return;
		if (!listening.has(worker.id)) return stopAll(1);
		const now = Date.now();
		restarts.push(now);
		while (restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
		if (restarts.length > MAX_RESTARTS) {
			logger.error(
				{ restarts: restarts.length, window_s: RESTART_WINDOW_MS / 1000 },
				'processor workers keep dying; giving up',
			);
			return stopAll(1);
		}
		logger.error({ worker: worker.id, code, signal }, 'processor worker died; starting another');
		cluster.fork();
	});
	for (let index = 0; index < config.PROCESSOR_WORKERS; index++) cluster.fork();
	process.on('SIGINT', () => stopAll(0));
	process.on('SIGTERM', () => stopAll(0));
}

main().catch((error: unknown) => {
	console.error(`Processor failed to start: ${explain(error)}`);
	process.exit(1);
});

/** One sentence for the person starting the processor; never a stack trace. */
function explain(error: unknown): string {
	const { code, port } = error as { code?: string; port?: number };
	if (error instanceof ConfigError) return error.message;
	if (code === 'EADDRINUSE') return `port ${port} is already in use (set PORT to use another one)`;
	if (isConnectionError(error)) return `cannot reach the database at DATABASE_URL (${code})`;
	const message = error instanceof Error ? error.message : String(error);
	return `${message}${code ? ` (${code})` : ''}; this is unexpected, please report it with this line`;
}
