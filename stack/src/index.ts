export { signingSecret, stackSettings, type StackSettings } from './dev-settings.js';
export {
	DEFAULT_PORTS,
	startLocalStack,
	type LocalStack,
	type LocalStackOptions,
	type ScaleOptions,
	type StackPorts,
} from './local-stack.js';
export { freePort } from './ports.js';
export { deleteRedisKeys, redisReachable } from './redis.js';
export {
	LEAD_WEBHOOK_PATH,
	leadSource,
	sampleLead,
	type LeadAnswer,
	type LeadSource,
	type LeadSourceOptions,
} from './lead-source.js';
export {
	createDatabase,
	databaseUrl,
	dropDatabase,
	ensureDatabase,
	type PostgresServer,
} from './postgres.js';
export { repoRoot } from './repo.js';
export { ensureN8n, type N8nInstall } from './n8n/install.js';
export { exportWorkflows } from './n8n/n8n-service.js';
export { workflowsDir } from './repo.js';
export {
	CHROMIUM_ARGS,
	CHROMIUM_PATH,
	ensureChromium,
	type ChromiumAvailability,
} from './chromium.js';
