import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@lead-intake-hub/stack/embedded-postgres';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * A real Postgres for the whole run: DATABASE_URL's server when set, else an embedded one in a
 * throwaway folder. Each test file creates its own database; the processor migrates it at start.
 */
export default async function globalSetup(): Promise<void> {
	const server = await startPostgres({
		dataDir: join(repoRoot, '.data', `test-postgres-${randomBytes(4).toString('hex')}`),
		throwaway: true,
	});
	process.env.LIH_TEST_SERVER_URL = server.adminUrl;
	(globalThis as { lihPostgres?: typeof server }).lihPostgres = server;
}
