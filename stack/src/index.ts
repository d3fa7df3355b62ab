export { freePort } from './ports.js';
export {
	createDatabase,
	databaseUrl,
	dropDatabase,
	ensureDatabase,
	startPostgres,
	type EmbeddedOptions,
	type PostgresServer,
} from './postgres.js';
