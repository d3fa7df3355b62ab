import postgres from 'postgres';

export type Sql = postgres.Sql;

export interface ConnectionOptions {
	maxConnections?: number;
}

export function connect(databaseUrl: string, options: ConnectionOptions = {}): Sql {
	return postgres(databaseUrl, {
		max: options.maxConnections ?? 10,
		// fail fast while Postgres is down, so /health can answer 503 instead of hanging
		connect_timeout: 3,
		idle_timeout: 60,
		onnotice: () => undefined,
		connection: { application_name: 'lead-intake-processor' },
	});
}

/** True for errors that mean "the database cannot be reached", as opposed to a bad query. */
export function isConnectionError(error: unknown): boolean {
	const code = (error as { code?: string } | null)?.code;
	return (
		code === 'ECONNREFUSED' ||
		code === 'ECONNRESET' ||
		code === 'ETIMEDOUT' ||
		code === 'CONNECT_TIMEOUT' ||
		code === 'CONNECTION_CLOSED' ||
		code === 'CONNECTION_ENDED' ||
		code === 'CONNECTION_DESTROYED' ||
		code === '57P01' || // admin_shutdown
		code === '57P03' // cannot_connect_now
	);
}
