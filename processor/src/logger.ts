import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Request bodies are never logged; errors are reduced to type, code,
 * message and stack, so no database detail or payload value can leak into a log line.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
	return pino(
		{
			level,
			base: { service: 'processor' },
			serializers: { err: serializeError },
		},
		destination,
	);
}

function serializeError(error: unknown) {
	if (!(error instanceof Error)) return { message: String(error) };
	return {
		type: error.name,
		code: (error as { code?: unknown }).code,
		message: error.message,
		stack: error.stack,
	};
}
