import { loadConfig } from '../../src/config.js';
import { connect } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrate.js';
import { saveRulesVersion } from '../../src/db/rules-versions.js';
import { DEFAULT_DUPLICATE_SETTINGS, type DuplicateSettings } from '../../src/intake/ruleset.js';
import { changedSections, readSeedDocument } from '../../src/rules/document.js';

/*
 * Most tests send the same person under many keys and are not about the same-person check: in a
 * database of their own, rules version 1 is seeded with it off (window_hours 0) before the
 * processor starts. Tests of the check ask for the shipped settings or their own.
 */

/**
 * Version 1 as the processor would seed it from the files, with other duplicate settings
 * (migrating first, as the processor does at its start; it then finds the version and keeps it).
 * Nothing is done when the database holds a version already.
 */
export async function seedRulesVersion(
	databaseUrl: string,
	config: ReturnType<typeof loadConfig>,
	duplicates: Partial<DuplicateSettings>,
): Promise<void> {
	const sql = connect(databaseUrl, { maxConnections: 1 });
	try {
		await migrate(sql, config.MIGRATIONS_DIR);
		const [existing] = await sql`SELECT 1 FROM rules_versions LIMIT 1`;
		if (existing) return;
		const files = await readSeedDocument(config.RULES_FILE, config.CRM_MAPPING_FILE);
		const document = { ...files, duplicates: { ...DEFAULT_DUPLICATE_SETTINGS, ...duplicates } };
		await saveRulesVersion(sql, {
			previousVersion: null,
			document,
			changedBy: 'system',
			note: 'the first version, from RULES_FILE and CRM_MAPPING_FILE (test settings)',
			changed: changedSections(null, document),
			restores: null,
			actor: 'system',
			correlationId: null,
		});
	} finally {
		await sql.end();
	}
}
