import type postgres from 'postgres';
import type { IdentityMatch, PersonIdentity } from '../vocabulary.js';
import type { Sql } from './connection.js';
import { insertEventRows } from './audit-events.js';
import { withDeadline } from './deadline.js';
import { newRunsStatement, type NewRun } from './runs.js';

type Fragment = postgres.PendingQuery<postgres.Row[]>;

/*
 * person_identities: the salted identity hashes of the first run of each person
 * (docs/adr/0010-same-person-identity.md). One module for the table, as for every table.
 */

export interface SamePerson {
	/** The first run of this person within the window. */
	duplicateOf: string;
	/** Its idempotency key: an update is sent to the CRM under it (policy update). */
	firstIdempotencyKey: string;
	match: IdentityMatch;
}

export interface PersonClaim {
	runId: string;
	correlationId: string | null;
	identities: readonly PersonIdentity[];
	windowHours: number;
	policy: 'drop' | 'update';
	/** Answered on store: a run that is to be delivered is handed to the deliverers (`queued`). */
	queue: boolean;
}

/** The hashes to lock (distinct, in order: one lock order for every statement) and the rows to record. */
function identityRowsOf(identities: readonly PersonIdentity[]) {
	return {
		hashes: [...new Set(identities.map((identity) => identity.hash))].sort(),
		rows: identities.map((identity) => ({ identity_hash: identity.hash, match: identity.match })),
	};
}

/** The CTE body recording the run's identities when `when` holds (it is the first of its person). */
function recordIdentities(
	sql: Sql,
	runId: string,
	rows: ReturnType<typeof identityRowsOf>['rows'],
	when: Fragment,
) {
	return sql`
		INSERT INTO person_identities (identity_hash, run_id, match)
		SELECT i.identity_hash, ${runId}, i.match
		FROM jsonb_to_recordset(${sql.json(rows)}) AS i(identity_hash text, match text)
		WHERE ${when}
		ON CONFLICT DO NOTHING`;
}

/**
 * The CTE body of the run's `lead_same_person` event, when `when` holds: duplicate_of and match
 * are the run the CTE `first` found (merged by the statement).
 */
function samePersonEvent(
	sql: Sql,
	run: { runId: string; correlationId: string | null },
	policy: PersonClaim['policy'],
	when: Fragment,
) {
	return insertEventRows(
		sql,
		[
			{
				run_id: run.runId,
				correlation_id: run.correlationId,
				type: 'lead_same_person',
				actor: 'processor',
				payload: { duplicate_of: '', match: 'email', policy },
			},
		],
		{
			merge: sql`(SELECT jsonb_build_object('duplicate_of', run_id, 'match', match) AS payload FROM first)`,
			where: when,
		},
	);
}

/**
 * Decides whether an accepted run's person was already received within the window, race-free
 * across processes, in ONE statement (no multi-statement transaction: see migration 0012):
 * same_person_first locks the identity hashes (transaction-scoped advisory locks, in hash order)
 * and looks them up with a fresh snapshot. The first of a person records its identities; a later
 * one is marked (policy drop: run `duplicate`, sealed lead purged; policy update: the run names
 * the first) with a `lead_same_person` event. A run answered on store is queued by the same
 * statement. Not part of the grouped intake write: runs with no identity (or a window of 0) never
 * come here, and the locks serialise only leads of one person.
 */
export async function claimPerson(
	sql: Sql,
	claim: PersonClaim,
	deadlineMs: number,
): Promise<SamePerson | null> {
	const { hashes, rows } = identityRowsOf(claim.identities);
	if (hashes.length === 0) return null;
	const drop = claim.policy === 'drop';
	const [first] = await withDeadline(
		sql<{ run_id: string; match: IdentityMatch; idempotency_key: string }[]>`
			WITH first AS MATERIALIZED (
				SELECT * FROM same_person_first(${hashes}::text[], ${claim.windowHours}::int, ${claim.runId}::uuid)
			), alive AS MATERIALIZED (
				-- locked, so an erasure of the run that is under way is waited for and seen: an erased
				-- run keeps no identity (later leads of the person would be matched to it)
				SELECT run_id FROM runs WHERE run_id = ${claim.runId} AND status = 'accepted' FOR UPDATE
			), recorded AS (${recordIdentities(
				sql,
				claim.runId,
				rows,
				sql`NOT EXISTS (SELECT 1 FROM first) AND EXISTS (SELECT 1 FROM alive)`,
			)}
			), marked AS (
				UPDATE runs r SET
					status = CASE
						WHEN f.run_id IS NOT NULL AND ${drop} THEN 'duplicate'
						WHEN ${claim.queue} THEN 'queued'
						ELSE r.status END,
					duplicate_of = f.run_id,
					duplicate_match = f.match,
					sealed_lead = CASE WHEN f.run_id IS NOT NULL AND ${drop} THEN NULL ELSE r.sealed_lead END,
					updated_at = now()
				FROM (SELECT 1) AS one LEFT JOIN first f ON true
				WHERE r.run_id = ${claim.runId} AND r.status = 'accepted' AND r.duplicate_of IS NULL
					AND (f.run_id IS NOT NULL OR ${claim.queue})
				RETURNING r.run_id
			), event AS (${
				// once per run: a second check of the same run (recovery) marks and tells nothing
				samePersonEvent(sql, claim, claim.policy, sql`EXISTS (SELECT 1 FROM marked)`)
			})
			SELECT run_id, match, idempotency_key FROM first`,
		deadlineMs,
	);
	if (!first) return null;
	return {
		duplicateOf: first.run_id,
		firstIdempotencyKey: first.idempotency_key,
		match: first.match,
	};
}

/**
 * Stores a new run whose person is checked, and checks it, in ONE statement: same_person_first
 * locks the person's identity hashes and finds their first run within the window; the run is
 * born knowing the answer (under policy drop a duplicate is born `duplicate` without its sealed
 * lead; else `queued` or `accepted` as `run.queued` says, naming the first run if one was
 * found), the first of a person records its identities, and a later one gets its
 * `lead_same_person` event after its `lead_received`. No crash can leave the run unchecked, and
 * the lead costs one round trip. `opened` is false when the idempotency key (or the legacy
 * signature) was taken: then nothing was written.
 */
export async function openRunOfPerson(
	sql: Sql,
	run: NewRun,
	claim: Pick<PersonClaim, 'identities' | 'windowHours' | 'policy'>,
	deadlineMs: number,
): Promise<{ opened: boolean; samePerson: SamePerson | null }> {
	const { hashes, rows } = identityRowsOf(claim.identities);
	const [row] = await withDeadline(
		sql<
			{
				opened: boolean;
				run_id: string | null;
				match: IdentityMatch | null;
				idempotency_key: string | null;
			}[]
		>`
			WITH first AS MATERIALIZED (
				SELECT * FROM same_person_first(${hashes}::text[], ${claim.windowHours}::int, ${run.runId}::uuid)
			), ${newRunsStatement(sql, [run], { drop: claim.policy === 'drop' })}, recorded AS (${recordIdentities(
				sql,
				run.runId,
				rows,
				sql`EXISTS (SELECT 1 FROM new_runs) AND NOT EXISTS (SELECT 1 FROM first)`,
			)}
			), same_person_event AS (${
				// after the run's lead_received (event_id order is timeline order)
				samePersonEvent(sql, run, claim.policy, sql`EXISTS (SELECT 1 FROM new_run_events)`)
			})
			SELECT EXISTS (SELECT 1 FROM new_runs) AS opened, f.run_id, f.match, f.idempotency_key
			FROM (SELECT 1) AS one LEFT JOIN first f ON true`,
		deadlineMs,
	);
	const samePerson =
		row?.run_id && row.match && row.idempotency_key
			? { duplicateOf: row.run_id, firstIdempotencyKey: row.idempotency_key, match: row.match }
			: null;
	return { opened: row?.opened ?? false, samePerson };
}

/** Each run recorded under one of these identity hashes, with the hash and the run's rules version. */
export async function identityRunsOf(
	sql: Sql,
	hashes: readonly string[],
): Promise<{ run_id: string; identity_hash: string; rules_version: number | null }[]> {
	if (hashes.length === 0) return [];
	return sql<{ run_id: string; identity_hash: string; rules_version: number | null }[]>`
		SELECT p.run_id, p.identity_hash, r.rules_version FROM person_identities p
		JOIN runs r ON r.run_id = p.run_id
		WHERE p.identity_hash = ANY(${[...hashes]}::text[]) ORDER BY p.run_id`;
}

/**
 * Runs left `accepted` past their lease that no same-person check has marked or recorded: their
 * processor died (or its database failed) between the run's insert and the check, or they had no
 * identity to check. The recovery checks them before it hands them to the DLQ. A page at a time,
 * oldest first, after the last run of the page before (`after`).
 */
export async function uncheckedExpiredRuns(
	sql: Sql,
	expired: { cutoff: Date; now: Date; limit: number; after: UncheckedRun | null },
): Promise<UncheckedRun[]> {
	return sql<UncheckedRun[]>`
		SELECT r.run_id, r.correlation_id, r.sealed_lead, r.received_at::text AS received_at_key FROM runs r
		WHERE r.status = 'accepted' AND r.received_at < ${expired.cutoff}
			AND (r.lease_until IS NULL OR r.lease_until < ${expired.now})
			AND r.sealed_lead IS NOT NULL AND r.duplicate_of IS NULL
			AND NOT EXISTS (SELECT 1 FROM person_identities p WHERE p.run_id = r.run_id)
			${
				expired.after
					? sql`AND (r.received_at, r.run_id) > (${expired.after.received_at_key}::text::timestamptz, ${expired.after.run_id})`
					: sql``
			}
		ORDER BY r.received_at, r.run_id
		LIMIT ${expired.limit}`;
}

export interface UncheckedRun {
	run_id: string;
	correlation_id: string | null;
	sealed_lead: Buffer;
	/**
	 * As text: to the microsecond, as the next page's cursor needs it (a Date holds milliseconds;
	 * sent back as text, since postgres.js would make a timestamptz parameter a Date again).
	 */
	received_at_key: string;
}
