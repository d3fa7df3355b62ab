import { connect } from './db/connection.js';
import { migrate } from './db/migrate.js';
import { defaultMigrationsDir } from './paths.js';

/** `npm run migrate`: applies pending migrations to DATABASE_URL and says what it did. */
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
	console.error('DATABASE_URL is not set: point it at the database to migrate.');
	process.exit(1);
}
const sql = connect(databaseUrl, { maxConnections: 1 });
try {
	const applied = await migrate(sql, process.env.MIGRATIONS_DIR ?? defaultMigrationsDir);
	console.log(
		applied.length ? `Applied ${applied.join(', ')}` : 'Database is up to date; nothing to apply.',
	);
} catch (error) {
	console.error(`Migration failed: ${(error as Error).message}`);
	process.exitCode = 1;
} finally {
	await sql.end();
}
