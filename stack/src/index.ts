export { signingSecret, stackSettings, type StackSettings } from './dev-settings.js';
export { DEFAULT_PORTS, startLocalStack, type LocalStack, type LocalStackOptions, type StackPorts } from './local-stack.js';
export { freePort } from './ports.js';
export { createDatabase, databaseUrl, dropDatabase, ensureDatabase, type PostgresServer } from './postgres.js';
export { repoRoot } from './repo.js';
