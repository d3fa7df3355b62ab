import type { Sql } from '../db/connection.js';
import { withDeadline } from '../db/deadline.js';
import {
	currentRulesVersion,
	findRulesVersion,
	newestRulesVersion,
	RULES_CHANNEL,
	saveRulesVersion,
	type RulesVersionRow,
} from '../db/rules-versions.js';
import type { Logger } from '../logger.js';
import type { RulesHolder } from '../intake/ruleset.js';
import {
	activate,
	changedSections,
	RulesDocumentSchema,
	StoredDocumentSchema,
	sameJson,
	type RulesDocument,
} from './document.js';

export interface LiveRules extends RulesHolder {
	/**
	 * Takes the newest stored version now, if it is newer than the one in force (a save in this
	 * process calls it, so its own answer is already true here). Never rejects: a failure is logged
	 * and the next poll tries again.
	 */
	refresh(): Promise<void>;
	close(): Promise<void>;
}

export interface LiveRulesOptions {
	/** The fallback: how often the newest version number is read anyway. */
	pollSeconds: number;
	/** No query of the reload waits longer. */
	deadlineMs: number;
	logger: Logger;
	/** The first version's document (RULES_FILE, CRM_MAPPING_FILE): read only when needed. */
	seed: (options: { vet: boolean }) => Promise<RulesDocument>;
}

type Trigger = 'notification' | 'poll' | 'save';

/**
 * Keeps this process on the newest rules version. A new version is announced on RULES_CHANNEL
 * (a trigger, when its transaction commits): the process LISTENs and loads it at once. A
 * notification can be lost (sent while the listening connection was away; postgres.js listens
 * again when it reconnects, but gives up if the database stays away past that attempt), so every
 * `pollSeconds` the newest version number is read anyway: a process is never more than one poll
 * behind. A version found by the poll means a notification was missed, so the listen is set up
 * anew.
 *
 * Swapping is one assignment of a compiled, immutable Ruleset: a lead in flight keeps the
 * version it started with, the next lead gets the new one. Versions only go forward.
 */
export async function startLiveRules(sql: Sql, options: LiveRulesOptions): Promise<LiveRules> {
	const { logger } = options;
	await seedIfEmpty(sql, options);
	const newestStored = await currentRulesVersion(sql);
	if (!newestStored) throw new Error('no rules version after seeding');
	/** A stored version this code cannot read: logged once, then skipped until a newer one. */
	let unreadable: number | null = null;
	// a start never fails on an unreadable version: it takes the newest one before it that validates
	const first = await newestValidVersion(
		(version) => findRulesVersion(sql, version),
		newestStored,
		0,
		(row, issues) => {
			unreadable ??= row.version;
			logger.error(
				{ rules_version: row.version, issues },
				'a stored rules version does not validate; the version before it is tried',
			);
		},
	);
	if (!first) {
		throw new Error('no stored rules version validates: save a valid one (PUT /internal/rules)');
	}
	let active = activate(first.row.version, first.document);
	logger.info({ rules_version: active.version }, 'rules in force');

	const takeNewest = async (trigger: Trigger) => {
		const find = (version: number) =>
			withDeadline(findRulesVersion(sql, version), options.deadlineMs);
		const newest = await withDeadline(newestRulesVersion(sql), options.deadlineMs);
		if (newest === null || newest <= active.version || newest === unreadable) return;
		let newestUnreadable = false;
		const taken = await newestValidVersion(
			find,
			await find(newest),
			active.version,
			(row, issues) => {
				if (row.version !== newest) return;
				newestUnreadable = true;
				logger.error(
					{ rules_version: newest, in_force: active.version, issues },
					'a stored rules version does not validate; the newest one before it that does is in force',
				);
			},
		);
		// skipped from now on only once the walk back below it is done: one that failed halfway
		// (a lost connection) is walked again, or the versions under it would never be taken
		if (newestUnreadable) unreadable = newest;
		if (!taken) return;
		const version = taken.row.version;
		const previous = active.version;
		active = activate(version, taken.document);
		logger.info({ rules_version: version, previous, trigger }, 'rules in force');
		if (trigger === 'poll') {
			logger.warn(
				{ rules_version: version },
				'a rules version was found by the poll, not announced: listening anew',
			);
			void listen();
		}
	};

	let closed = false;
	// one load at a time; requests meanwhile share the one queued after it
	let running: Promise<void> | null = null;
	let queued: Promise<void> | null = null;
	const refresh = (trigger: Trigger): Promise<void> => {
		if (closed) return Promise.resolve();
		if (queued) return queued;
		if (running) {
			queued = running.then(() => {
				queued = null;
				return refresh(trigger);
			});
			return queued;
		}
		running = takeNewest(trigger)
			.catch((error: unknown) =>
				logger.warn({ err: error, trigger }, 'could not load the newest rules version; will retry'),
			)
			.finally(() => {
				running = null;
			});
		return running;
	};

	let listener: { unlisten(): Promise<void> } | null = null;
	const listen = async () => {
		const previous = listener;
		listener = null;
		await previous?.unlisten().catch(() => undefined);
		if (closed) return;
		try {
			// what was announced while the listening connection was away is left to the poll: a query
			// the moment the database is back may open a fresh pool connection while it is still
			// unsteady, and postgres.js leaves a failure of that connection's first query unhandled
			// (it fetches the array types without a catch), which ends the process
			listener = await sql.listen(
				RULES_CHANNEL,
				(payload) => {
					if (Number(payload) > active.version) void refresh('notification');
				},
				() => logger.info('listening for rules changes'),
			);
		} catch (error) {
			logger.warn({ err: error }, 'cannot listen for rules changes; the poll still finds them');
		}
	};
	await listen();

	let timer: NodeJS.Timeout | undefined;
	const poll = () => {
		timer = setTimeout(() => {
			void refresh('poll').finally(() => {
				if (!closed) poll();
			});
		}, options.pollSeconds * 1000);
		timer.unref();
	};
	poll();

	return {
		current: () => active,
		refresh: () => refresh('save'),
		async close() {
			closed = true;
			clearTimeout(timer);
			await running;
			await listener?.unlisten().catch(() => undefined);
		},
	};
}

/**
 * The version in force: the newest stored one above `floor` whose document validates, walking
 * back from `from`. A version written around the API (by hand, or by newer code before a
 * roll-back) is skipped, and `skipped` hears of it; null when none above `floor` validates. The
 * running processes (above) and a save (rules-service.ts) decide by it alike.
 */
export async function newestValidVersion(
	find: (version: number) => Promise<RulesVersionRow | null>,
	from: RulesVersionRow | null,
	floor: number,
	skipped: (row: RulesVersionRow, issues: number) => void = () => undefined,
): Promise<{ row: RulesVersionRow; document: RulesDocument } | null> {
	let row = from;
	for (let version = from?.version ?? 0; version > floor; ) {
		if (row) {
			const parsed = StoredDocumentSchema.safeParse(row.document);
			if (parsed.success) return { row, document: parsed.data };
			skipped(row, parsed.error.issues.length);
		}
		version -= 1;
		row = version > floor ? await find(version) : null;
	}
	return null;
}

/**
 * An empty table gets the first version from the files, race-free: of several processors
 * starting together one saves version 1, the others find it. When versions exist the files are
 * not read for the rules, only compared with version 1, so that an edit that no longer takes
 * effect is pointed out instead of silently ignored.
 */
async function seedIfEmpty(sql: Sql, options: LiveRulesOptions): Promise<void> {
	const newest = await newestRulesVersion(sql);
	if (newest === null) {
		const document = await options.seed({ vet: true });
		const saved = await saveRulesVersion(sql, {
			previousVersion: null,
			document,
			changedBy: 'system',
			note: 'the first version, from RULES_FILE and CRM_MAPPING_FILE',
			changed: changedSections(null, document),
			restores: null,
			actor: 'system',
			correlationId: null,
		});
		if (saved) options.logger.info('rules version 1 seeded from the rules and mapping files');
		return;
	}
	const first = await findRulesVersion(sql, 1);
	const files = await options.seed({ vet: false }).catch(() => null);
	const seeded = first ? RulesDocumentSchema.safeParse(first.document) : null;
	if (
		!files ||
		!seeded?.success ||
		!sameJson(
			{ rules: files.rules, mapping: files.mapping },
			{ rules: seeded.data.rules, mapping: seeded.data.mapping },
		)
	) {
		options.logger.warn(
			{ rules_version: newest },
			'RULES_FILE or CRM_MAPPING_FILE differs from the version it seeded; the files are not read any more: change the rules through the operator API (PUT /internal/rules)',
		);
	}
}
