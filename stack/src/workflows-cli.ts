import { rm } from 'node:fs/promises';
import { stackSettings } from './dev-settings.js';
import { n8nEnv } from './n8n/cli.js';
import { ensureN8n } from './n8n/install.js';
import { exportWorkflows, importLedger } from './n8n/n8n-service.js';
import { embeddedAdminUrl } from './postgres.js';
import { alertsDir, n8nUserFolder, workflowsDir } from './repo.js';
import { DEFAULT_PORTS } from './local-stack.js';

/**
 * `npm run workflows:export`: the local n8n's workflows back into workflows/ (edits made in the
 * editor become diffs; an edited workflow's version goes up by one).
 * Export talks to the local stack's database: run it while `npm start` is running.
 * `npm run workflows:import`: the next `npm start` imports and publishes every file again
 * (overwriting edits made in the editor since the last export).
 */
const command = process.argv[2];

async function main(): Promise<void> {
	if (command === 'import') {
		await rm(importLedger(n8nUserFolder), { force: true });
		console.log(
			'The next `npm start` imports and publishes every workflow file (restart it if it is running).',
		);
		return;
	}
	if (command !== 'export') throw new Error('usage: workflows-cli.js export|import');
	const settings = stackSettings();
	const install = await ensureN8n((line) => console.log(line));
	const env = n8nEnv({
		userFolder: n8nUserFolder,
		serverUrl: process.env.DATABASE_URL ?? embeddedAdminUrl(DEFAULT_PORTS.postgres),
		database: 'n8n',
		port: DEFAULT_PORTS.n8n,
		alertsDir,
		encryptionKey: settings.N8N_ENCRYPTION_KEY,
	});
	const changed = await exportWorkflows(install, env, workflowsDir, (line) => console.log(line));
	console.log(
		changed.length
			? `Updated: ${changed.join(', ')} (review with git diff)`
			: 'No workflow changed.',
	);
}

main().catch((error: Error) => {
	console.error(error.message);
	process.exit(1);
});
