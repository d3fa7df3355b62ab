import type { PostgresServer } from '@lead-intake-hub/stack';

export default async function globalTeardown(): Promise<void> {
	await (globalThis as { lihPostgres?: PostgresServer }).lihPostgres?.stop();
}
