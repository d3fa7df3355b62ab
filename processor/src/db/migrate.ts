import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from './connection.js';

const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/;

class MigrationError extends Error {}

/**
 * Applies the pending files of db/migrations in name order, all in one transaction, under an
 * advisory lock so that several processors starting together apply each file once. Returns
 * the versions applied; a second run applies nothing. An applied file whose statements were
 * edited since is refused rather than silently ignored (comments do not count).
 */
export async function migrate(sql: Sql, migrationsDir: string): Promise<string[]> {
	const files = (await readdir(migrationsDir)).filter((name) => MIGRATION_FILE.test(name)).sort();
	const migrations = await Promise.all(
		files.map(async (name) => {
			const text = await readFile(join(migrationsDir, name), 'utf8');
			return { version: name.replace(/\.sql$/, ''), text, checksum: sha256(statementsOf(text)) };
		}),
	);

	return sql.begin(async (tx) => {
		await tx`SELECT pg_advisory_xact_lock(hashtext('lead-intake-hub:migrations'))`;
		await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
			version text PRIMARY KEY,
			checksum text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`;
		const applied = new Map(
			(
				await tx<
					{ version: string; checksum: string }[]
				>`SELECT version, checksum FROM schema_migrations`
			).map((row) => [row.version, row.checksum]),
		);
		const appliedNow: string[] = [];
		for (const migration of migrations) {
			const recorded = applied.get(migration.version);
			if (recorded === migration.checksum) continue;
			if (recorded && sameStatements(recorded, migration)) {
				await tx`UPDATE schema_migrations SET checksum = ${migration.checksum} WHERE version = ${migration.version}`;
				continue;
			}
			if (recorded) {
				throw new MigrationError(
					`migration ${migration.version} was changed after it was applied; add a new migration instead`,
				);
			}
			await tx.unsafe(migration.text);
			await tx`INSERT INTO schema_migrations (version, checksum) VALUES (${migration.version}, ${migration.checksum})`;
			appliedNow.push(migration.version);
		}
		return appliedNow;
	});
}

function sha256(text: string): string {
	return createHash('sha256').update(text).digest('hex');
}

/** A migration's checksum covers its statements: a comment may be reworded once applied. */
function statementsOf(text: string): string {
	return text
		.split('\n')
		.filter((line) => !/^\s*--/.test(line))
		.map((line) => line.trimEnd())
		.join('\n')
		.trim();
}

/**
 * Checksums recorded before comments stopped counting: the whole file's. 0001's comments have
 * been reworded since; its statements are those of this checksum's file.
 */
const RECORDED_BEFORE: Record<string, string> = {
	'0001_initial_schema': 'fb576d565512345562dc34a29a123797b0dc539d569ef8900ecc175db7df84bf',
};

function sameStatements(recorded: string, migration: { version: string; text: string }): boolean {
	return recorded === sha256(migration.text) || recorded === RECORDED_BEFORE[migration.version];
}
