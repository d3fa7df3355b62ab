import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The processor package folder, whether running from `src/` (tests) or `dist/src/` (built). */
function findPackageRoot(): string {
	let dir = dirname(fileURLToPath(import.meta.url));
	while (!existsSync(join(dir, 'package.json'))) {
		const parent = dirname(dir);
		if (parent === dir) throw new Error('processor package.json not found');
		dir = parent;
	}
	return dir;
}

const packageRoot = findPackageRoot();
export const defaultRulesFile = join(packageRoot, 'config', 'rules.json');
export const defaultMappingFile = join(packageRoot, 'config', 'crm-mapping.json');
export const defaultMigrationsDir = join(packageRoot, '..', 'db', 'migrations');
