import postgres from 'postgres';

export type Sql = postgres.Sql;
/** A connection pool or one of its transactions: what a statement can run on. */
export type Queryable = Sql | postgres.TransactionSql;

export interface ConnectionOptions {
	maxConnections?: number;
	/** Server-side limit on any one statement: nothing holds a connection forever. */
	statementTimeoutMs?: number;
	/**
	 * Server-side limit on any one wait for a lock, table locks included (unset: no limit below
	 * the statement's). A statement cannot set it for the table locks it takes before it runs.
	 */
	lockTimeoutMs?: number;
	/**
	 * The outcome event types this process writes (migration 0017); others its statements would
	 * write are skipped. Unset: every type.
	 */
	eventTypes?: readonly string[];
}

export function connect(databaseUrl: string, options: ConnectionOptions = {}): Sql {
	return postgres(databaseUrl, {
		max: options.maxConnections ?? 10,
		// fail fast while Postgres is down, so requests answer 503 instead of hanging
		connect_timeout: 2,
		// the library's default reconnect backoff grows to 20 s after a few failed connects:
		// capped so the processor is back within a second of Postgres
		backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
		idle_timeout: 60,
		onnotice: () => undefined,
		connection: {
			application_name: 'lead-intake-processor',
			statement_timeout: options.statementTimeoutMs ?? 30_000,
			idle_in_transaction_session_timeout: 60_000,
			...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
			...(options.eventTypes ? { 'lead_intake.event_types': options.eventTypes.join(',') } : {}),
		},
	});
}

const CONNECTION_ERROR_CODES = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'ETIMEDOUT',
	'EHOSTUNREACH',
	'ENOTFOUND',
	'EPIPE',
	'CONNECT_TIMEOUT',
	'CONNECTION_CLOSED',
	'CONNECTION_ENDED',
	'CONNECTION_DESTROYED',
	'DB_DEADLINE',
	'57P01', // admin_shutdown
	'57P02', // crash_shutdown
	'57P03', // cannot_connect_now
	'53300', // too_many_connections
	'57014', // query_canceled: DB_STATEMENT_TIMEOUT_MS ran out (locks held, a stalled server)
]);

/**
 * Rows another statement holds for longer than a statement waits: an erasure's lock timeout ran
 * out (55P03), it kept finding writers of its runs (migration 0018), or it deadlocked with one
 * each time it tried (40P01). Busy, not broken.
 */
export function isBusyError(error: unknown): boolean {
	const code = (error as { code?: string } | null)?.code;
	return code === '55P03' || code === ERASURE_MISSED_ROWS || code === DEADLOCK_DETECTED;
}

/** Postgres's deadlock_detected: one of the statements was rolled back, whole. */
export const DEADLOCK_DETECTED = '40P01';

/** The SQLSTATE erasure_saw_every_row raises (migration 0018). */
export const ERASURE_MISSED_ROWS = 'LIH01';

/** True for errors that mean "the database cannot be reached now", as opposed to a bad query. */
export function isConnectionError(error: unknown): boolean {
	const code = (error as { code?: string } | null)?.code;
	return code !== undefined && CONNECTION_ERROR_CODES.has(code);
}
