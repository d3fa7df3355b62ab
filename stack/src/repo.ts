import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is stack/src/repo.ts or stack/dist/repo.js). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = join(repoRoot, '.data');
export const alertsDir = join(repoRoot, 'alerts');
export const processorMain = join(repoRoot, 'processor', 'dist', 'src', 'main.js');
export const mocksMain = join(repoRoot, 'mocks', 'dist', 'main.js');
export const postgresServiceMain = join(repoRoot, 'stack', 'dist', 'postgres-service.js');
export const workflowsDir = join(repoRoot, 'workflows');
export const n8nUserFolder = join(dataDir, 'n8n');
