import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is stack/src/repo.ts or stack/dist/repo.js). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Local state (embedded Postgres data, n8n user folders): LIH_DATA_DIR, else the git-ignored .data/. */
export const dataDir = process.env.LIH_DATA_DIR
	? resolve(process.env.LIH_DATA_DIR)
	: join(repoRoot, '.data');
export const alertsDir = join(repoRoot, 'alerts');
export const processorMain = join(repoRoot, 'processor', 'dist', 'src', 'main.js');
export const mocksMain = join(repoRoot, 'mocks', 'dist', 'main.js');
export const lifelineMain = join(repoRoot, 'stack', 'dist', 'lifeline.js');
export const postgresServiceMain = join(repoRoot, 'stack', 'dist', 'postgres-service.js');
export const workflowsDir = join(repoRoot, 'workflows');
export const n8nUserFolder = join(dataDir, 'n8n');
