import type postgres from 'postgres';
import type { EventPayloads } from '../vocabulary.js';
import type { Sql } from './connection.js';

/*
 * rules_versions: every saved rules document, newest in force. Rows are only ever added, each
 * with its `rules_changed` audit event in the same statement; a trigger announces each new
 * version on the channel RULES_CHANNEL when it commits (db/migrations/0007_rules_versions.sql).
 */

export const RULES_CHANNEL = 'lih_rules_changed';

export interface RulesVersionSummary {
	version: number;
	changed_by: string;
	note: string | null;
	changed: string[];
	restores: number | null;
	created_at: Date;
}

export interface RulesVersionRow extends RulesVersionSummary {
	document: unknown;
}

const SUMMARY = ['version', 'changed_by', 'note', 'changed', 'restores', 'created_at'];

/** The newest version's number, or null when there is none: what the poll asks. */
export async function newestRulesVersion(sql: Sql): Promise<number | null> {
	const [row] = await sql<{ version: number | null }[]>`
		SELECT max(version) AS version FROM rules_versions`;
	return row!.version;
}

/**
 * The region each saved version read national phone numbers in (`duplicates.default_phone_region`;
 * `fallback` for a document without one).
 */
export async function phoneRegionOfVersions(
	sql: Sql,
	fallback: string,
): Promise<Map<number, string>> {
	const rows = await sql<{ version: number; region: string }[]>`
		SELECT version, coalesce(document->'duplicates'->>'default_phone_region', ${fallback}) AS region
		FROM rules_versions`;
	return new Map(rows.map((row) => [row.version, row.region]));
}

/** The version in force: the newest one. */
export async function currentRulesVersion(sql: Sql): Promise<RulesVersionRow | null> {
	const [row] = await sql<RulesVersionRow[]>`
		SELECT ${sql([...SUMMARY, 'document'])} FROM rules_versions ORDER BY version DESC LIMIT 1`;
	return row ?? null;
}

export async function findRulesVersion(sql: Sql, version: number): Promise<RulesVersionRow | null> {
	const [row] = await sql<RulesVersionRow[]>`
		SELECT ${sql([...SUMMARY, 'document'])} FROM rules_versions WHERE version = ${version}`;
	return row ?? null;
}

/** Versions newest first, without their documents; `before` pages back. */
export async function listRulesVersions(
	sql: Sql,
	page: { limit: number; before: number | null },
): Promise<RulesVersionSummary[]> {
	const before = page.before === null ? sql`` : sql`WHERE version < ${page.before}`;
	return sql<RulesVersionSummary[]>`
		SELECT ${sql(SUMMARY)} FROM rules_versions ${before} ORDER BY version DESC LIMIT ${page.limit}`;
}

export interface NewRulesVersion {
	/** The version this one follows: it is saved only while that is still the newest. */
	previousVersion: number | null;
	document: postgres.JSONValue;
	changedBy: string;
	note: string | null;
	changed: string[];
	restores: number | null;
	/** The audit row's actor: `operator` through the API, `system` for the seed. */
	actor: 'operator' | 'system';
	correlationId: string | null;
}

/**
 * Saves the next version and its `rules_changed` event, in one statement, only while
 * `previousVersion` is still the newest one (null: while there is none). Two saves racing from
 * the same version compute the same number: the primary key lets one through, the other gets
 * null (as does a save whose previous version is no longer the newest).
 */
export async function saveRulesVersion(
	sql: Sql,
	next: NewRulesVersion,
): Promise<RulesVersionRow | null> {
	const version = (next.previousVersion ?? 0) + 1;
	const payload: EventPayloads['rules_changed'] = {
		version,
		previous_version: next.previousVersion,
		changed_by: next.changedBy,
		note: next.note,
		changed: next.changed,
		restores: next.restores,
	};
	const [row] = await sql<RulesVersionRow[]>`
		WITH saved AS (
			INSERT INTO rules_versions (version, document, changed_by, note, changed, restores)
			SELECT ${version}, ${sql.json(next.document)}, ${next.changedBy}, ${next.note},
				${next.changed}::text[], ${next.restores}
			WHERE (SELECT coalesce(max(version), 0) FROM rules_versions) = ${version - 1}
			ON CONFLICT (version) DO NOTHING
			RETURNING ${sql([...SUMMARY, 'document'])}
		), audited AS (
			INSERT INTO audit_events (run_id, event_type, actor, payload, correlation_id)
			SELECT NULL, 'rules_changed', ${next.actor}, ${sql.json(payload)}, ${next.correlationId}
			FROM saved
		)
		SELECT * FROM saved`;
	return row ?? null;
}
