import type { Sql } from '../db/connection.js';
import {
	currentRulesVersion,
	findRulesVersion,
	saveRulesVersion,
	type RulesVersionRow,
} from '../db/rules-versions.js';
import { HttpError } from '../errors.js';
import { compileRules } from '../intake/rules.js';
import { maskEmailsWithin } from '../pii/sanitize.js';
import {
	changedSections,
	ProposedDocumentSchema,
	RulesDocumentSchema,
	sameJson,
	type RulesDocument,
} from './document.js';
import { dryRun, type DryRunReport } from './dry-run.js';
import { newestValidVersion, type LiveRules } from './live-rules.js';
import { ERR } from '../error-codes.js';

/*
 * What the operator API does with rules: show, save (optimistically concurrent), roll back to a
 * version, dry-run a proposal. Every change is a new version with its audit event.
 */

export interface RulesDeps {
	sql: Sql;
	live: LiveRules;
}

export interface RulesChange {
	/** Save only while this version is in force (null: whatever is). */
	expectedVersion: number | null;
	changedBy: string;
	note: string | null;
	correlationId: string;
}

export type SavedRules = RulesVersionRow & { saved: boolean };

/** Saves racing this one that may overtake it before it gives up (each overtaking is a save). */
const MAX_ATTEMPTS = 5;

/**
 * Saves the document as the next version and puts it in force in this process before answering
 * (the others follow within seconds: rules/live-rules.ts). A document equal to the version in
 * force saves nothing (a retried save is harmless). With an expected version that is no longer in
 * force: 409, nothing saved.
 */
export async function saveRules(
	deps: RulesDeps,
	document: RulesDocument,
	change: RulesChange & { restores?: number },
): Promise<SavedRules> {
	for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		const newest = await currentRulesVersion(deps.sql);
		const inForce = await newestValidVersion(
			(version) => findRulesVersion(deps.sql, version),
			newest,
			0,
		);
		if (inForce && sameJson(inForce.document, document)) {
			await inForceHere(deps, inForce.row.version);
			return { ...inForce.row, saved: false };
		}
		if (change.expectedVersion !== null && inForce?.row.version !== change.expectedVersion) {
			throw new HttpError(
				409,
				ERR.rules_version_conflict,
				`The rules are at version ${inForce?.row.version ?? 'none'}, not ${change.expectedVersion}: someone saved since. Look at the version in force, apply your change to it and save again`,
				{ current_version: inForce?.row.version ?? null },
			);
		}
		const saved = await saveRulesVersion(deps.sql, {
			previousVersion: newest?.version ?? null,
			document,
			// the columns' limits, which the request was checked against before masking
			changedBy: maskEmailsWithin(change.changedBy, 100),
			note: change.note === null ? null : maskEmailsWithin(change.note, 1000),
			changed: changedSections(inForce?.document ?? null, document),
			restores: change.restores ?? null,
			actor: 'operator',
			correlationId: change.correlationId,
		});
		if (saved) {
			await inForceHere(deps, saved.version);
			return { ...saved, saved: true };
		}
		// another save came first: decide again against the version it made
	}
	throw new HttpError(
		503,
		ERR.rules_busy,
		'Other saves kept overtaking this one; try again',
		{},
		{ 'Retry-After': '1' },
	);
}

/**
 * Answers only once `version` is in force in this process. A reload that cannot read it (the
 * database went away after the save) must not be reported as done: 503, and the same save again
 * answers `saved: false` once this process has loaded it (the poll loads it meanwhile).
 */
async function inForceHere(deps: RulesDeps, version: number): Promise<void> {
	if (deps.live.current().version < version) await deps.live.refresh();
	if (deps.live.current().version >= version) return;
	throw new HttpError(
		503,
		ERR.rules_not_in_force,
		`Version ${version} is saved, but this processor could not load it yet; it takes effect within seconds. Send the same save again to know when it is in force (it saves nothing twice)`,
		{ saved_version: version, in_force: deps.live.current().version },
		{ 'Retry-After': '1' },
	);
}

/**
 * Rolls back: version `version`'s document saved again as the next version. It must still pass
 * today's checks (a stored document is kept as it was saved); 422 naming the problems otherwise.
 */
export async function restoreRules(
	deps: RulesDeps,
	version: number,
	change: RulesChange,
): Promise<SavedRules> {
	const row = await findRulesVersion(deps.sql, version);
	if (!row) throw new HttpError(404, ERR.rules_version_not_found, `No rules version ${version}`);
	const checked = ProposedDocumentSchema.safeParse(row.document);
	if (!checked.success) {
		throw new HttpError(
			422,
			ERR.rules_version_not_restorable,
			`Version ${version} does not pass today's checks; fetch it, correct it and save it instead`,
			{
				issues: checked.error.issues.slice(0, 50).map((issue) => ({
					path: ['document', ...issue.path].join('.'),
					message: issue.message,
				})),
			},
		);
	}
	return saveRules(deps, checked.data, {
		...change,
		note: change.note ?? `restores version ${version}`,
		restores: version,
	});
}

/** What the proposal would change against the newest `limit` leads, compared with the version in force. */
export async function dryRunRules(
	deps: RulesDeps,
	document: RulesDocument,
	limit: number,
): Promise<DryRunReport> {
	// the version in force here: the newest stored one, unless that one does not validate
	const current = await findRulesVersion(deps.sql, deps.live.current().version);
	if (!current) throw new Error('the rules version in force is not stored');
	return dryRun(deps.sql, {
		current: {
			version: current.version,
			rules: compileRules(RulesDocumentSchema.parse(current.document).rules),
		},
		proposed: compileRules(document.rules),
		limit,
	});
}

/**
 * The version in force in this processor (`version` null: the newest stored one that validates),
 * or the one asked for: 404 if there is no such version.
 */
export async function rulesVersion(
	deps: RulesDeps,
	version: number | null,
): Promise<RulesVersionRow> {
	const row = await findRulesVersion(deps.sql, version ?? deps.live.current().version);
	if (!row) {
		throw new HttpError(
			404,
			ERR.rules_version_not_found,
			`No rules version ${version ?? ''}`.trim(),
		);
	}
	return row;
}
